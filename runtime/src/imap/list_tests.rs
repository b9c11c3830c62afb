//! LIM-17 at the IMAP server: LIST, LSUB, SELECT and STATUS of a user with
//! thousands of mailboxes, over real TCP, against a store that counts what it is
//! asked for. LIST reads the mailboxes a page ([`LIST_PAGE`] rows) at a time and
//! never all of them at once; SELECT and STATUS look one mailbox up by name and
//! never list. Counted, not timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cpmd_core::UserUri;
use tokio::sync::broadcast;

use super::memory::MemoryStore;
use super::tests::{alice, start, Client};
use super::Settings;
use crate::mailstore::{
    FlagChange, FlagOutcome, ListPage, ListQuery, MailChange, MailFlag, MailObject, MailResult,
    MailStore, MailSummary, MailboxStatus, LIST_PAGE,
};

/// Folders alice gets: several pages' worth.
const FOLDERS: usize = 3 * LIST_PAGE + 17;

/// A [`MemoryStore`] that counts the listing calls it answers.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    pages: AtomicUsize,
    most_read: AtomicUsize,
    rows_read: AtomicUsize,
    loaded_all: AtomicUsize,
}

impl Counting {
    fn reset(&self) {
        for c in [
            &self.pages,
            &self.most_read,
            &self.rows_read,
            &self.loaded_all,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

impl MailStore for Counting {
    fn list_page(&self, user: &UserUri, query: &ListQuery<'_>) -> MailResult<ListPage> {
        let page = self.inner.list_page(user, query)?;
        self.pages.fetch_add(1, Ordering::SeqCst);
        self.most_read.fetch_max(page.read, Ordering::SeqCst);
        self.rows_read.fetch_add(page.read, Ordering::SeqCst);
        Ok(page)
    }

    fn mailboxes(&self, user: &UserUri) -> MailResult<Vec<MailboxStatus>> {
        self.loaded_all.fetch_add(1, Ordering::SeqCst);
        self.inner.mailboxes(user)
    }

    fn status(&self, user: &UserUri, mailbox: &str) -> MailResult<MailboxStatus> {
        self.inner.status(user, mailbox)
    }

    fn summaries(
        &self,
        user: &UserUri,
        mailbox: &str,
        changed_since: Option<u64>,
    ) -> MailResult<Vec<MailSummary>> {
        self.inner.summaries(user, mailbox, changed_since)
    }

    fn fetch(&self, user: &UserUri, mailbox: &str, uids: &[u32]) -> MailResult<Vec<MailObject>> {
        self.inner.fetch(user, mailbox, uids)
    }

    fn store_flags(
        &self,
        user: &UserUri,
        mailbox: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &std::collections::BTreeSet<MailFlag>,
        unchanged_since: Option<u64>,
    ) -> MailResult<FlagOutcome> {
        self.inner
            .store_flags(user, mailbox, uids, change, flags, unchanged_since)
    }

    fn expunge(&self, user: &UserUri, mailbox: &str, uids: Option<&[u32]>) -> MailResult<Vec<u32>> {
        self.inner.expunge(user, mailbox, uids)
    }

    fn watch(&self) -> broadcast::Receiver<MailChange> {
        self.inner.watch()
    }
}

/// Alice with `Default/c0000/s` … (one conversation folder and one session
/// folder each, as every chat makes them).
fn many_folders() -> Arc<Counting> {
    let store = Arc::new(Counting::default());
    for i in 0..FOLDERS {
        let raw = format!("Subject: {i}\r\n\r\nhello\r\n");
        store
            .inner
            .add(&alice(), &format!("Default/c{i:04}/s"), raw.as_bytes(), 1);
    }
    store
}

/// LIM-17: LIST "" "*" answers every mailbox, read in pages of at most
/// `LIST_PAGE` rows and never by loading the whole list; a prefix pattern reads
/// only its range.
#[tokio::test]
async fn lim_17_list_reads_pages_and_never_the_whole_list() {
    let store = many_folders();
    let addr = start(store.clone() as Arc<dyn MailStore>, Settings::default()).await;
    let mut c = Client::login(addr, "alice", "a-pass").await;
    let total = 2 + 2 * FOLDERS; // INBOX, Default, and two per chat
    store.reset();
    let (list, done) = c.cmd("LIST \"\" \"*\"").await;
    assert!(done.contains(" OK "), "{done}");
    assert_eq!(list.len(), total);
    assert!(
        list[0].contains("(\\HasChildren) \"/\" Default\r\n"),
        "{}",
        list[0]
    );
    assert_eq!(store.loaded_all.load(Ordering::SeqCst), 0);
    assert!(store.most_read.load(Ordering::SeqCst) <= LIST_PAGE);
    assert_eq!(store.rows_read.load(Ordering::SeqCst), total);
    assert_eq!(store.pages.load(Ordering::SeqCst), total / LIST_PAGE + 1);

    // `%` one level down matches the conversation folders only: every row under
    // the prefix is read (a page at a time), half of them answered.
    store.reset();
    let (list, done) = c.cmd("LSUB \"Default/\" \"%\"").await;
    assert!(done.contains(" OK "), "{done}");
    assert_eq!(list.len(), FOLDERS);
    assert!(list.iter().all(|l| l.starts_with("* LSUB (\\HasChildren)")));
    assert!(store.most_read.load(Ordering::SeqCst) <= LIST_PAGE);
    assert_eq!(store.rows_read.load(Ordering::SeqCst), 2 * FOLDERS);

    // A literal name reads its own range: itself and its child.
    store.reset();
    let (list, _) = c.cmd("LIST \"\" \"Default/c0042*\"").await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(store.rows_read.load(Ordering::SeqCst), 2);

    // INBOX matches whatever its case.
    let (list, _) = c.cmd("LIST \"\" inbox").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list[0].contains("INBOX"), "{list:?}");

    // SELECT and STATUS look the mailbox up by name: no listing at all.
    store.reset();
    let (_, done) = c.cmd("SELECT Default/c0042/s").await;
    assert!(done.contains(" OK "), "{done}");
    let (st, done) = c.cmd("STATUS Default/c0042 (MESSAGES)").await;
    assert!(done.contains(" OK "), "{done}");
    assert!(st[0].contains("MESSAGES 0"), "{st:?}");
    assert_eq!(store.pages.load(Ordering::SeqCst), 0);
    assert_eq!(store.loaded_all.load(Ordering::SeqCst), 0);

    // Commands pipelined behind a streamed LIST are answered after it, in order.
    c.send("p1 LIST \"\" \"*\"\r\np2 NOOP\r\n").await;
    let (list, done) = c.until("p1").await;
    assert_eq!(list.len(), total);
    assert!(done.contains(" OK "), "{done}");
    let (_, done) = c.until("p2").await;
    assert!(done.contains(" OK "), "{done}");
}
