//! The mailbox view of the message store: what the IMAP server reads and flags.
//!
//! The CPM Message Storage layout (specs/protocol.md §5) seen per user: mailboxes named
//! `Default`, `Default/<Conversation-ID>` and
//! `Default/<Conversation-ID>/<Contribution-ID>` (delimiter `/`), plus an empty
//! `INBOX` (IMAP requires one), each holding RFC 5322 objects (session info object,
//! group state object, message objects, standalone messages) with UIDs in the
//! server's delivery order.
//!
//! This is the contract between the store backends (SQLite, PostgreSQL), which
//! implement it, and the IMAP server, which only calls it. It is not the write path:
//! records arrive through [`crate::store::HistoryStore`].
//!
//! Calls block (database I/O): async callers use `spawn_blocking`. Each user sees
//! only their own copy of a session; flags, `\Deleted` and expunge act on that copy.

use std::collections::BTreeSet;

use cpmd_core::UserUri;

/// What a store call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The user has no mailbox of that name.
    #[error("no such mailbox: {0}")]
    NoMailbox(String),
    /// The backend failed (I/O, database).
    #[error("store failed: {0}")]
    Backend(String),
}

/// Result of a [`MailStore`] call.
pub type MailResult<T> = Result<T, MailError>;

/// An IMAP system flag the store keeps per user and message. `\Seen` is the
/// user's *displayed* state (specs/protocol.md §5); `\Recent` is session state the IMAP
/// server does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MailFlag {
    /// `\Seen` (⇔ displayed).
    Seen,
    /// `\Deleted`.
    Deleted,
    /// `\Flagged`.
    Flagged,
    /// `\Answered`.
    Answered,
    /// `\Draft`.
    Draft,
}

/// A mailbox and its counters (for LIST, SELECT, STATUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    /// Full name, e.g. `Default/<Conversation-ID>/<Contribution-ID>`.
    pub name: String,
    /// Stable across restarts (RFC 3501 §2.3.1.1): a changed value tells clients
    /// to resynchronise.
    pub uid_validity: u32,
    /// The UID the next object in this mailbox will get.
    pub uid_next: u32,
    /// Objects in the mailbox (expunged ones not counted).
    pub messages: u32,
    /// Objects without `\Seen`.
    pub unseen: u32,
    /// The highest MODSEQ of any object in the mailbox (RFC 7162); at least 1.
    pub highest_modseq: u64,
    /// Whether the mailbox has child mailboxes (LIST `\HasChildren`).
    pub has_children: bool,
}

/// One object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSummary {
    /// UID, increasing in delivery order.
    pub uid: u32,
    /// MODSEQ of the last change to this object (its creation or a flag change).
    pub modseq: u64,
    /// The user's flags.
    pub flags: BTreeSet<MailFlag>,
    /// INTERNALDATE: when the store committed the object, Unix seconds UTC.
    pub internal_date: i64,
    /// RFC822.SIZE: length of [`MailObject::raw`].
    pub size: u32,
}

/// One object in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailObject {
    /// Its metadata.
    pub summary: MailSummary,
    /// The RFC 5322 message (CRLF line ends): headers, blank line, body.
    pub raw: Vec<u8>,
}

/// How [`MailStore::store_flags`] changes flags (IMAP `FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    /// Replace the flag set.
    Replace,
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
}

/// What [`MailStore::store_flags`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagOutcome {
    /// Objects whose flags were changed (or checked), with their new flags/modseq.
    pub updated: Vec<MailSummary>,
    /// UIDs not changed because their MODSEQ was above `unchanged_since`
    /// (RFC 7162 `MODIFIED` response code).
    pub modified: Vec<u32>,
}

/// A change a user's IDLE may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailChange {
    /// Whose store changed.
    pub user: UserUri,
    /// Which mailbox.
    pub mailbox: String,
}

/// A mailbox as LIST shows it: its name and whether it has children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxListing {
    /// Full name.
    pub name: String,
    /// Whether the mailbox has child mailboxes (LIST `\HasChildren`).
    pub has_children: bool,
}

/// Where a page of a listing starts and which names it keeps
/// ([`MailStore::list_page`]).
pub struct ListQuery<'q> {
    /// Only names starting with this (LIST's pattern up to its first wildcard);
    /// the store narrows its read to them.
    pub prefix: &'q str,
    /// Only names after this one (the previous page's [`ListPage::next`]).
    pub after: Option<&'q str>,
    /// Rows read at most (the page size).
    pub limit: usize,
    /// Which names of the page are answered (LIST's pattern), applied to each
    /// row read.
    pub keep: &'q dyn Fn(&str) -> bool,
}

/// One page of a user's mailboxes in byte order of their names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// The mailboxes of the page that [`ListQuery::keep`] accepted.
    pub mailboxes: Vec<MailboxListing>,
    /// The last name read, where the next page starts; `None`: the listing is
    /// complete.
    pub next: Option<String>,
    /// Rows read for this page (at most [`ListQuery::limit`]).
    pub read: usize,
}

/// Rows one page of a listing reads (specs/limits.md, LIM-17): LIST streams a
/// user's mailboxes this many at a time, however many there are.
pub const LIST_PAGE: usize = 512;

/// The mailbox view of the store. Implemented by each backend.
pub trait MailStore: Send + Sync + 'static {
    /// One page of `user`'s mailboxes (including `INBOX` and `Default`) in byte
    /// order of their names: at most `query.limit` rows read, from an index, so a
    /// page costs the same however many mailboxes the user has (LIM-17).
    fn list_page(&self, user: &UserUri, query: &ListQuery<'_>) -> MailResult<ListPage>;

    /// Every mailbox of `user` with its counters, by name. Reads them all: for
    /// tests and tools; the IMAP server pages through [`MailStore::list_page`]
    /// instead (LIM-17).
    fn mailboxes(&self, user: &UserUri) -> MailResult<Vec<MailboxStatus>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list_page(
                user,
                &ListQuery {
                    prefix: "",
                    after: after.as_deref(),
                    limit: LIST_PAGE,
                    keep: &|_| true,
                },
            )?;
            for m in &page.mailboxes {
                out.push(self.status(user, &m.name)?);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One mailbox's counters, looked up by name (an index; never the list of the
    /// user's mailboxes, LIM-17).
    fn status(&self, user: &UserUri, mailbox: &str) -> MailResult<MailboxStatus>;

    /// Metadata of every object in the mailbox in UID order; with `changed_since`,
    /// only those whose MODSEQ is greater (CONDSTORE `CHANGEDSINCE`).
    fn summaries(
        &self,
        user: &UserUri,
        mailbox: &str,
        changed_since: Option<u64>,
    ) -> MailResult<Vec<MailSummary>>;

    /// The objects with these UIDs (those that exist), in UID order.
    fn fetch(&self, user: &UserUri, mailbox: &str, uids: &[u32]) -> MailResult<Vec<MailObject>>;

    /// Changes the user's flags on these UIDs; with `unchanged_since`, objects
    /// modified after it are left alone and reported (RFC 7162). Setting `\Seen` on
    /// a message the user received records it as displayed. Each change bumps the
    /// object's MODSEQ.
    fn store_flags(
        &self,
        user: &UserUri,
        mailbox: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &BTreeSet<MailFlag>,
        unchanged_since: Option<u64>,
    ) -> MailResult<FlagOutcome>;

    /// Removes the user's copies marked `\Deleted` (restricted to `uids` when given,
    /// for UID EXPUNGE); returns the removed UIDs in ascending order. Other users'
    /// copies are untouched.
    fn expunge(&self, user: &UserUri, mailbox: &str, uids: Option<&[u32]>) -> MailResult<Vec<u32>>;

    /// A feed of changes (new objects, flag changes, expunges) for IDLE. Changes
    /// made through this store and through its history writer are announced.
    fn watch(&self) -> tokio::sync::broadcast::Receiver<MailChange>;
}
