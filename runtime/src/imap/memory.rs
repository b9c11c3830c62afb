//! An in-memory [`MailStore`] for the IMAP server's tests and benchmark: per-user
//! mailboxes, UIDs in insertion order, per-object flags and MODSEQ, a watch feed.
//!
//! Not a backend: nothing is durable, and objects arrive through [`MemoryStore::add`]
//! rather than the history writer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use cpmd_core::UserUri;
use tokio::sync::broadcast;

use crate::mailstore::{
    FlagChange, FlagOutcome, ListPage, ListQuery, MailChange, MailError, MailFlag, MailObject,
    MailResult, MailStore, MailSummary, MailboxListing, MailboxStatus,
};

#[derive(Debug, Clone)]
struct Folder {
    uid_validity: u32,
    uid_next: u32,
    objects: BTreeMap<u32, MailObject>,
}

#[derive(Debug, Default)]
struct UserBoxes {
    folders: BTreeMap<String, Folder>,
    modseq: u64,
}

/// The store.
pub struct MemoryStore {
    users: Mutex<BTreeMap<UserUri, UserBoxes>>,
    changes: broadcast::Sender<MailChange>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            users: Mutex::new(BTreeMap::new()),
            changes: broadcast::channel(256).0,
        }
    }
}

fn new_folder(n: usize) -> Folder {
    Folder {
        uid_validity: 1000 + u32::try_from(n).unwrap_or(0),
        uid_next: 1,
        objects: BTreeMap::new(),
    }
}

impl MemoryStore {
    /// Appends `raw` to `user`'s `mailbox` (creating it and its parents, and the
    /// user's `INBOX`); returns its UID and announces the change.
    pub fn add(&self, user: &UserUri, mailbox: &str, raw: &[u8], internal_date: i64) -> u32 {
        let mut users = self.users.lock().unwrap();
        let boxes = users.entry(user.clone()).or_default();
        let mut names = vec!["INBOX".to_owned()];
        let mut prefix = String::new();
        for part in mailbox.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            names.push(prefix.clone());
        }
        for name in names {
            let n = boxes.folders.len();
            boxes.folders.entry(name).or_insert_with(|| new_folder(n));
        }
        boxes.modseq += 1;
        let modseq = boxes.modseq;
        let folder = boxes.folders.get_mut(mailbox).unwrap();
        let uid = folder.uid_next;
        folder.uid_next += 1;
        folder.objects.insert(
            uid,
            MailObject {
                summary: MailSummary {
                    uid,
                    modseq,
                    flags: BTreeSet::new(),
                    internal_date,
                    size: u32::try_from(raw.len()).unwrap(),
                },
                raw: raw.to_vec(),
            },
        );
        drop(users);
        let _ = self.changes.send(MailChange {
            user: user.clone(),
            mailbox: mailbox.to_owned(),
        });
        uid
    }

    fn with_folder<T>(
        &self,
        user: &UserUri,
        mailbox: &str,
        f: impl FnOnce(&mut Folder, &mut u64) -> T,
    ) -> MailResult<T> {
        let mut users = self.users.lock().unwrap();
        let boxes = users
            .get_mut(user)
            .ok_or_else(|| MailError::NoMailbox(mailbox.to_owned()))?;
        let UserBoxes { folders, modseq } = boxes;
        let folder = folders
            .get_mut(mailbox)
            .ok_or_else(|| MailError::NoMailbox(mailbox.to_owned()))?;
        Ok(f(folder, modseq))
    }

    fn announce(&self, user: &UserUri, mailbox: &str) {
        let _ = self.changes.send(MailChange {
            user: user.clone(),
            mailbox: mailbox.to_owned(),
        });
    }
}

fn status_of(name: &str, f: &Folder, all: &BTreeMap<String, Folder>) -> MailboxStatus {
    MailboxStatus {
        name: name.to_owned(),
        uid_validity: f.uid_validity,
        uid_next: f.uid_next,
        messages: u32::try_from(f.objects.len()).unwrap(),
        unseen: u32::try_from(
            f.objects
                .values()
                .filter(|o| !o.summary.flags.contains(&MailFlag::Seen))
                .count(),
        )
        .unwrap(),
        highest_modseq: f
            .objects
            .values()
            .map(|o| o.summary.modseq)
            .max()
            .unwrap_or(1)
            .max(1),
        has_children: has_children(name, all),
    }
}

/// Whether a folder is named `name/…`: the first name from `name/` on tells.
fn has_children(name: &str, all: &BTreeMap<String, Folder>) -> bool {
    let child = format!("{name}/");
    all.range(child.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&child))
}

impl MailStore for MemoryStore {
    fn list_page(&self, user: &UserUri, query: &ListQuery<'_>) -> MailResult<ListPage> {
        let users = self.users.lock().unwrap();
        let Some(boxes) = users.get(user) else {
            return Ok(ListPage::default());
        };
        let from = match query.after {
            Some(a) if a >= query.prefix => std::ops::Bound::Excluded(a.to_owned()),
            Some(_) | None => std::ops::Bound::Included(query.prefix.to_owned()),
        };
        let rows: Vec<&String> = boxes
            .folders
            .range((from, std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(query.prefix))
            .take(query.limit.max(1))
            .collect();
        Ok(ListPage {
            mailboxes: rows
                .iter()
                .filter(|k| (query.keep)(k))
                .map(|k| MailboxListing {
                    name: (*k).clone(),
                    has_children: has_children(k, &boxes.folders),
                })
                .collect(),
            next: (rows.len() >= query.limit.max(1))
                .then(|| rows.last().map(|k| (*k).clone()))
                .flatten(),
            read: rows.len(),
        })
    }

    fn status(&self, user: &UserUri, mailbox: &str) -> MailResult<MailboxStatus> {
        let users = self.users.lock().unwrap();
        let boxes = users
            .get(user)
            .ok_or_else(|| MailError::NoMailbox(mailbox.to_owned()))?;
        let f = boxes
            .folders
            .get(mailbox)
            .ok_or_else(|| MailError::NoMailbox(mailbox.to_owned()))?;
        Ok(status_of(mailbox, f, &boxes.folders))
    }

    fn summaries(
        &self,
        user: &UserUri,
        mailbox: &str,
        changed_since: Option<u64>,
    ) -> MailResult<Vec<MailSummary>> {
        self.with_folder(user, mailbox, |f, _| {
            f.objects
                .values()
                .filter(|o| changed_since.is_none_or(|c| o.summary.modseq > c))
                .map(|o| o.summary.clone())
                .collect()
        })
    }

    fn fetch(&self, user: &UserUri, mailbox: &str, uids: &[u32]) -> MailResult<Vec<MailObject>> {
        self.with_folder(user, mailbox, |f, _| {
            let wanted: BTreeSet<u32> = uids.iter().copied().collect();
            wanted
                .iter()
                .filter_map(|u| f.objects.get(u).cloned())
                .collect()
        })
    }

    fn store_flags(
        &self,
        user: &UserUri,
        mailbox: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &BTreeSet<MailFlag>,
        unchanged_since: Option<u64>,
    ) -> MailResult<FlagOutcome> {
        let out = self.with_folder(user, mailbox, |f, modseq| {
            let mut out = FlagOutcome::default();
            let wanted: BTreeSet<u32> = uids.iter().copied().collect();
            for uid in wanted {
                let Some(o) = f.objects.get_mut(&uid) else {
                    continue;
                };
                if unchanged_since.is_some_and(|u| o.summary.modseq > u) {
                    out.modified.push(uid);
                    continue;
                }
                let new: BTreeSet<MailFlag> = match change {
                    FlagChange::Replace => flags.clone(),
                    FlagChange::Add => o.summary.flags.union(flags).copied().collect(),
                    FlagChange::Remove => o.summary.flags.difference(flags).copied().collect(),
                };
                if new != o.summary.flags {
                    *modseq += 1;
                    o.summary.flags = new;
                    o.summary.modseq = *modseq;
                }
                out.updated.push(o.summary.clone());
            }
            out
        })?;
        self.announce(user, mailbox);
        Ok(out)
    }

    fn expunge(&self, user: &UserUri, mailbox: &str, uids: Option<&[u32]>) -> MailResult<Vec<u32>> {
        let gone = self.with_folder(user, mailbox, |f, _| {
            let gone: Vec<u32> = f
                .objects
                .values()
                .filter(|o| o.summary.flags.contains(&MailFlag::Deleted))
                .map(|o| o.summary.uid)
                .filter(|u| uids.is_none_or(|l| l.contains(u)))
                .collect();
            for u in &gone {
                f.objects.remove(u);
            }
            gone
        })?;
        if !gone.is_empty() {
            self.announce(user, mailbox);
        }
        Ok(gone)
    }

    fn watch(&self) -> broadcast::Receiver<MailChange> {
        self.changes.subscribe()
    }
}
