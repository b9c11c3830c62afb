//! Row-level operations shared by the history writer (`history.rs`) and the
//! mailbox view (`mail.rs`): users, conversations, mailboxes, UIDs, MODSEQs and
//! per-user entries. They run inside a transaction the caller opened and record
//! every mailbox they change, so the caller can announce the changes after the
//! commit (never before: a change feed must not run ahead of durability).

use std::collections::HashMap;

use crate::mailstore::MailChange;
use crate::store::layout::{self, INBOX, ROOT};
use crate::store::sql::{find_or_make, Conn, DbError, FindOrMake, Row, Val};
use cpmd_core::UserUri;

/// Flag bits of `entries.flags`.
pub mod bits {
    /// `\Seen` (⇔ displayed).
    pub const SEEN: i64 = 1;
    /// `\Deleted`.
    pub const DELETED: i64 = 2;
    /// `\Flagged`.
    pub const FLAGGED: i64 = 4;
    /// `\Answered`.
    pub const ANSWERED: i64 = 8;
    /// `\Draft`.
    pub const DRAFT: i64 = 16;
}

/// Most row ids the history writer's [`Cache`] holds (LIM-15): every new user,
/// conversation and mailbox adds one, so without a bound it grows with the store.
pub const MAX_CACHE_ENTRIES: usize = 100_000;

/// Row ids already looked up on this connection. Rows are never deleted, so ids
/// stay valid, except when a transaction that created them rolls back: callers
/// clear the cache on every rollback.
#[derive(Debug, Default)]
pub struct Cache {
    users: HashMap<String, i64>,
    conversations: HashMap<String, i64>,
    mailboxes: HashMap<(i64, String), i64>,
    /// Sessions this writer found or made open, by (conversation row,
    /// Contribution-ID). Only the history writer changes a session's state, and it
    /// forgets a session when it seals it.
    pub open_sessions: HashMap<(i64, String), i64>,
    /// The sequence-number base of open sessions, by row id (`None`: first run;
    /// a restarted group's: `restart::base`, GRP-23). Forgotten with the session.
    pub session_bases: crate::store::row_id_hash::RowIdMap<Option<i64>>,
    /// Not a cached row id but the writer's setting the filing code reads: each
    /// user's quota on stored message bytes (`quota.rs`, LIM-14); `None`: none.
    /// [`Cache::clear`] keeps it.
    pub user_quota_bytes: Option<u64>,
    /// The counters of a group commit written without savepoints (`reserve.rs`);
    /// `None`: every UID and MODSEQ is taken with its own statement.
    pub reserved: Option<crate::store::reserve::Reserved>,
    /// The chat message rows of such a group commit, written together
    /// (`row_batch.rs`); `None`: each row is inserted as it is made.
    pub rows: Option<crate::store::row_batch::RowBatch>,
    /// Row ids of the users and mailboxes objects were filed for in a group
    /// commit (`reserve.rs`), by mailbox name and then user URI: (user row,
    /// mailbox row) ([`Ops::filing_ids`]). One lookup
    /// where filing a chat message's object looked up the user and two
    /// mailboxes by name, each key a new `String` (~800 instructions per copy).
    filed: HashMap<String, Vec<(String, i64, i64)>>,
    /// The session folder's name by session row ([`Cache::session_folder`]):
    /// printed once per session, not per chat message (~2,200 instructions).
    session_folders: crate::store::row_id_hash::RowIdMap<String>,
    /// The RFC 5322 and ISO 8601 forms of the last second a message was filed at
    /// ([`Cache::dates`]): a batch's messages share their second, and printing
    /// both cost the store thread some 5,000 instructions per chat message.
    dates: Option<(i64, String, String)>,
}

impl Cache {
    /// Whether the user's row id is cached (then [`Ops::user`] does not write).
    pub fn knows_user(&self, uri: &str) -> bool {
        self.users.contains_key(uri)
    }

    /// The user's row id, if cached.
    pub fn user_id(&self, uri: &str) -> Option<i64> {
        self.users.get(uri).copied()
    }

    /// The mailbox's row id, if cached.
    pub(crate) fn mailbox_id(&self, user_id: i64, name: &str) -> Option<i64> {
        // The key owns its name: a lookup builds one (as `Ops::mailbox` does).
        self.mailboxes.get(&(user_id, name.to_owned())).copied()
    }

    /// Caches a mailbox's row id (`ops_many.rs`).
    pub(crate) fn remember_mailbox(&mut self, user_id: i64, name: String, id: i64) {
        self.mailboxes.insert((user_id, name), id);
    }

    /// The name of session row `session`'s folder (`layout::session_mailbox` of
    /// its Conversation-ID and Contribution-ID), printed on first use.
    pub fn session_folder(
        &mut self,
        session: i64,
        conversation_id: &str,
        contribution_id: &str,
    ) -> String {
        self.session_folders
            .entry(session)
            .or_insert_with(|| layout::session_mailbox(conversation_id, contribution_id))
            .clone()
    }

    /// Forgets what is cached of a session row (sealed: no more is filed in it).
    pub fn forget_session(&mut self, session: i64) {
        self.session_bases.remove(&session);
        self.session_folders.remove(&session);
    }

    /// `layout::rfc5322_date(now)` and `layout::iso8601(now)`, printed once per
    /// second. Not a row id: [`Cache::clear`] keeps it (a pure function of `now`).
    pub fn dates(&mut self, now: i64) -> (String, String) {
        match &self.dates {
            Some((at, date, date_time)) if *at == now => (date.clone(), date_time.clone()),
            Some(_) | None => {
                let date = crate::store::layout::rfc5322_date(now);
                let date_time = crate::store::layout::iso8601(now);
                self.dates = Some((now, date.clone(), date_time.clone()));
                (date, date_time)
            }
        }
    }

    /// Row ids the cache holds.
    pub fn len(&self) -> usize {
        self.users.len()
            + self.conversations.len()
            + self.mailboxes.len()
            + self.open_sessions.len()
            + self.session_bases.len()
            + self.filed.values().map(Vec::len).sum::<usize>()
            + self.session_folders.len()
    }

    /// Whether the cache holds no row id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the cache within [`MAX_CACHE_ENTRIES`] (LIM-15): past it, everything is
    /// forgotten and looked up again as needed (ids stay valid in the database).
    /// Called between batches.
    pub fn bound(&mut self) {
        if self.len() > MAX_CACHE_ENTRIES {
            self.clear();
        }
    }

    /// Forgets everything (after a rollback).
    pub fn clear(&mut self) {
        // Counted in a transaction that is gone.
        if self.reserved.is_some() {
            self.reserved = Some(Default::default());
        }
        // Kept for a transaction that is gone.
        if self.rows.is_some() {
            self.rows = Some(Default::default());
        }
        self.users.clear();
        self.conversations.clear();
        self.mailboxes.clear();
        self.open_sessions.clear();
        self.session_bases.clear();
        self.filed.clear();
        self.session_folders.clear();
    }
}

/// A user by URI (`$1`), made with MODSEQ 1.
pub(crate) const USER: FindOrMake = FindOrMake {
    upsert: "INSERT INTO users (uri, modseq) VALUES ($1, 1) \
             ON CONFLICT (uri) DO UPDATE SET uri = excluded.uri RETURNING id",
    insert: "INSERT INTO users (uri, modseq) VALUES ($1, 1) ON CONFLICT (uri) DO NOTHING",
    find: "SELECT id FROM users WHERE uri = $1",
    key: 1,
};

/// A conversation by Conversation-ID (`$1`).
pub(crate) const CONVERSATION: FindOrMake = FindOrMake {
    upsert: "INSERT INTO conversations (conversation_id) VALUES ($1) \
             ON CONFLICT (conversation_id) DO UPDATE SET conversation_id = excluded.conversation_id \
             RETURNING id",
    insert: "INSERT INTO conversations (conversation_id) VALUES ($1) \
             ON CONFLICT (conversation_id) DO NOTHING",
    find: "SELECT id FROM conversations WHERE conversation_id = $1",
    key: 1,
};

/// A mailbox by user row (`$1`) and name (`$2`), made with UIDVALIDITY `$3` and
/// `uid_next` 1.
pub(crate) const MAILBOX: FindOrMake = FindOrMake {
    upsert: "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (user_id, name) DO UPDATE SET name = excluded.name RETURNING id",
    insert: "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (user_id, name) DO NOTHING",
    find: "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2",
    key: 2,
};

/// The UIDVALIDITY of the user's (`user_id`) conversation folders that have no
/// row (STORE-15): their `Default`'s, made with the user and never changed, so
/// it is stable and, like a creation time, new when a store is made again.
pub(crate) fn implicit_uid_validity<C: Conn + ?Sized>(
    conn: &mut C,
    user_id: i64,
) -> Result<Option<i64>, DbError> {
    conn.query_opt(
        "SELECT uid_validity FROM mailboxes WHERE user_id = $1 AND name = $2",
        &[user_id.into(), ROOT.into()],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// One entry, from [`NewEntry::row`]'s values.
pub(crate) const ENTRY_INSERT: &str = "INSERT INTO entries (mailbox, uid, modseq, flags, \
     internal_date, kind, ref_id, size, raw, body_elsewhere, expunged) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)";

/// The operations, on one connection inside one transaction.
pub struct Ops<'a, C: Conn + ?Sized> {
    /// The connection.
    pub conn: &'a mut C,
    /// Its id cache.
    pub cache: &'a mut Cache,
    /// Mailboxes changed so far (announced after the commit).
    pub changes: &'a mut Vec<MailChange>,
    /// Wall-clock time of the operation, Unix seconds.
    pub now: i64,
}

impl<C: Conn + ?Sized> Ops<'_, C> {
    /// The user's row id, creating the user (with `INBOX` and `Default`) when new
    /// ([`USER`]: one upsert on PostgreSQL, an insert and, for an existing user, a
    /// read on SQLite).
    pub fn user(&mut self, uri: &str) -> Result<i64, DbError> {
        if let Some(id) = self.cache.users.get(uri) {
            return Ok(*id);
        }
        let id = find_or_make(self.conn, &USER, &[uri.into()])?;
        self.mailbox(id, INBOX)?;
        self.mailbox(id, ROOT)?;
        self.cache.users.insert(uri.to_owned(), id);
        Ok(id)
    }

    /// The conversation's row id, created when new (as [`Ops::user`]).
    pub fn conversation(&mut self, conversation_id: &str) -> Result<i64, DbError> {
        if let Some(id) = self.cache.conversations.get(conversation_id) {
            return Ok(*id);
        }
        let id = find_or_make(self.conn, &CONVERSATION, &[conversation_id.into()])?;
        self.cache
            .conversations
            .insert(conversation_id.to_owned(), id);
        Ok(id)
    }

    /// The mailbox's row id, created when new with a UIDVALIDITY of the creation
    /// time (stable from then on: it is stored, never recomputed), a
    /// conversation folder's that of the user's `Default` ([`Ops::uid_validity`]);
    /// as [`Ops::user`].
    pub fn mailbox(&mut self, user_id: i64, name: &str) -> Result<i64, DbError> {
        let key = (user_id, name.to_owned());
        if let Some(id) = self.cache.mailboxes.get(&key) {
            return Ok(*id);
        }
        let uid_validity = self.uid_validity(user_id, name)?;
        let id = find_or_make(
            self.conn,
            &MAILBOX,
            &[user_id.into(), name.into(), uid_validity.into()],
        )?;
        self.cache.mailboxes.insert(key, id);
        Ok(id)
    }

    /// The mailbox's row id and the next UID in it, taken (the mailbox created when
    /// new, as by [`Ops::mailbox`]): one statement, cached or not, where looking
    /// the mailbox up and then taking its UID were two for a new mailbox. A new
    /// mailbox starts at `uid_next = 2` having given UID 1, as creating it at 1 and
    /// taking one would.
    fn take_uid(&mut self, user_id: i64, name: &str) -> Result<(i64, i64), DbError> {
        // Within a batch that counts UIDs in memory (`reserve.rs`) the counter row is
        // written once at its end: taking a UID in SQL here too would be overwritten.
        if self.cache.reserved.is_some() {
            let id = self.mailbox(user_id, name)?;
            if let Some(r) = self.cache.reserved.as_mut() {
                return Ok((id, r.uid(self.conn, id)?));
            }
        }
        let key = (user_id, name.to_owned());
        let row = match self.cache.mailboxes.get(&key) {
            Some(id) => self.conn.query_one(
                "UPDATE mailboxes SET uid_next = uid_next + 1 WHERE id = $1 RETURNING id, uid_next",
                &[(*id).into()],
            )?,
            None => {
                let uid_validity = self.uid_validity(user_id, name)?;
                self.conn.query_one(
                    "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) VALUES ($1, $2, $3, 2) \
                     ON CONFLICT (user_id, name) DO UPDATE SET uid_next = mailboxes.uid_next + 1 \
                     RETURNING id, uid_next",
                    &[user_id.into(), name.into(), uid_validity.into()],
                )?
            }
        };
        let id = row.int(0)?;
        self.cache.mailboxes.insert(key, id);
        Ok((id, row.int(1)? - 1))
    }

    /// The UIDVALIDITY a new mailbox `name` of the user is made with: the time,
    /// but for a conversation folder, which IMAP may have listed and selected
    /// before it had a row (the implicit parent of its session folders,
    /// STORE-15): that of the user's `Default`, which the implicit folder
    /// showed ([`implicit_uid_validity`]), so making the row changes nothing a
    /// client saw.
    pub(crate) fn uid_validity(&mut self, user_id: i64, name: &str) -> Result<i64, DbError> {
        let now = self.now.clamp(1, i64::from(u32::MAX));
        if !layout::is_conversation_mailbox(name) {
            return Ok(now);
        }
        Ok(implicit_uid_validity(&mut *self.conn, user_id)?.unwrap_or(now))
    }

    /// The mailbox's row id if it exists.
    pub fn existing_mailbox(&mut self, user_id: i64, name: &str) -> Result<Option<i64>, DbError> {
        if let Some(id) = self.cache.mailboxes.get(&(user_id, name.to_owned())) {
            return Ok(Some(*id));
        }
        let row = self.conn.query_opt(
            "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2",
            &[user_id.into(), name.into()],
        )?;
        row.map(|r| r.int(0)).transpose()
    }

    /// The user's next MODSEQ.
    pub fn next_modseq(&mut self, user_id: i64) -> Result<i64, DbError> {
        if let Some(r) = self.cache.reserved.as_mut() {
            return r.modseq(self.conn, user_id);
        }
        self.conn
            .query_one(
                "UPDATE users SET modseq = modseq + 1 WHERE id = $1 RETURNING modseq",
                &[user_id.into()],
            )?
            .int(0)
    }

    /// Notes a change of `user`'s `mailbox` for the feed. Only the last
    /// [`RECENT_CHANGES`] changes are compared (before anything is allocated: a
    /// batch of chat messages notes the same few folders again and again); a
    /// repeat of an older one is noted again and dropped by [`unique_changes`]
    /// before the feed hears of it. Comparing with every change noted so far
    /// cost a batch of 256 seals (512 folders) ~13,000 instructions per seal.
    pub fn changed(&mut self, user: &str, mailbox: &str) {
        let recent = self.changes.len().saturating_sub(RECENT_CHANGES);
        let noted = self
            .changes
            .get(recent..)
            .unwrap_or_default()
            .iter()
            .any(|c| c.mailbox == mailbox && c.user.as_str() == user);
        if !noted {
            self.changes.push(MailChange {
                user: UserUri::new_canonical(user),
                mailbox: mailbox.to_owned(),
            });
        }
    }

    /// `user`'s row id and its `mailbox`'s, both made when missing (as
    /// [`Ops::add_entry`] makes them: the user, then the mailbox; not its parent,
    /// STORE-15); cached by mailbox name and user (`Cache::filed`).
    fn filing_ids(&mut self, user: &str, mailbox: &str) -> Result<(i64, i64), DbError> {
        let known = self
            .cache
            .filed
            .get(mailbox)
            .and_then(|users| users.iter().find(|(uri, _, _)| uri == user));
        if let Some(&(_, user_id, mailbox_id)) = known {
            return Ok((user_id, mailbox_id));
        }
        let user_id = self.user(user)?;
        let mailbox_id = self.mailbox(user_id, mailbox)?;
        let users = match self.cache.filed.get_mut(mailbox) {
            Some(users) => users,
            None => self.cache.filed.entry(mailbox.to_owned()).or_default(),
        };
        users.push((user.to_owned(), user_id, mailbox_id));
        Ok((user_id, mailbox_id))
    }

    /// Files a new object in `user`'s `mailbox` (created with its parents when
    /// missing) under the next UID and the user's next MODSEQ. Returns the user's
    /// row id (found on the way: a caller that charges the user needs no lookup
    /// of its own, a SipHash of the URI each).
    pub fn add_entry(
        &mut self,
        user: &str,
        mailbox: &str,
        entry: NewEntry<'_>,
    ) -> Result<i64, DbError> {
        let (user_id, mailbox_id, uid) = if self.cache.reserved.is_some() {
            // A group commit counting UIDs in memory: the ids as below, cached.
            let (user_id, mailbox_id) = self.filing_ids(user, mailbox)?;
            let uid = match self.cache.reserved.as_mut() {
                Some(r) => r.uid(self.conn, mailbox_id)?,
                None => return Err(DbError("the batch's counters are gone".into())),
            };
            (user_id, mailbox_id, uid)
        } else {
            let user_id = self.user(user)?;
            // A session folder's parent (the conversation folder) is not made:
            // the IMAP view lists it from its children (STORE-15).
            let (mailbox_id, uid) = self.take_uid(user_id, mailbox)?;
            (user_id, mailbox_id, uid)
        };
        let modseq = self.next_modseq(user_id)?;
        // A chat message's entries wait for the batch's multi-row insert
        // (`row_batch.rs`), as its `messages` row does; every other entry is
        // inserted now (what files it may read it back).
        let kept = crate::store::row_batch::MESSAGE_KIND;
        match self.cache.rows.as_mut().filter(|_| entry.kind == kept) {
            Some(rows) => {
                rows.push_entry(entry.kind, entry.values(mailbox_id, uid, modseq, self.now)?)?
            }
            None => {
                let row = entry.row(mailbox_id, uid, modseq, self.now)?;
                self.conn.exec(ENTRY_INSERT, &row)?;
            }
        }
        self.changed(user, mailbox);
        Ok(user_id)
    }

    /// Live (not expunged) entries of `kind`/`ref_id`, with their owner:
    /// `(mailbox id, UID, owner uri, owner id, mailbox name, flags, raw)`, in
    /// the order they were filed (UIDs ascend within a mailbox).
    pub fn entries_of(&mut self, kind: &str, ref_id: i64) -> Result<Vec<EntryRef>, DbError> {
        let rows = self.conn.query(
            "SELECT e.mailbox, e.uid, u.uri, u.id, mb.name, e.flags, e.raw FROM entries e \
             JOIN mailboxes mb ON e.mailbox = mb.id JOIN users u ON mb.user_id = u.id \
             WHERE e.kind = $1 AND e.ref_id = $2 AND e.expunged = 0 ORDER BY e.mailbox, e.uid",
            &[kind.into(), ref_id.into()],
        )?;
        rows.iter().map(EntryRef::from_row).collect()
    }

    /// Sets an entry's flags under the owner's next MODSEQ; returns that MODSEQ.
    pub fn set_flags(&mut self, e: &EntryRef, flags: i64) -> Result<i64, DbError> {
        let modseq = self.next_modseq(e.user_id)?;
        self.conn.exec(
            "UPDATE entries SET flags = $1, modseq = $2 WHERE mailbox = $3 AND uid = $4",
            &[
                flags.into(),
                modseq.into(),
                e.mailbox_id.into(),
                e.uid.into(),
            ],
        )?;
        self.changed(&e.user, &e.mailbox);
        Ok(modseq)
    }

    /// Removes an entry from its owner's view (the row stays, marked expunged and
    /// emptied, so MODSEQ history stays monotonic).
    pub fn expunge(&mut self, e: &EntryRef) -> Result<(), DbError> {
        let modseq = self.next_modseq(e.user_id)?;
        self.conn.exec(
            "UPDATE entries SET expunged = 1, modseq = $1, raw = $2 WHERE mailbox = $3 AND uid = $4",
            &[
                modseq.into(),
                Val::Bytes(Vec::new()),
                e.mailbox_id.into(),
                e.uid.into(),
            ],
        )?;
        self.changed(&e.user, &e.mailbox);
        Ok(())
    }

    /// Files `raw` as each of `users`' one live object of `kind`/`ref_id` in
    /// `mailbox`: nothing happens for a user who has an identical one there; a
    /// different one is expunged and the new one added (an object never changes
    /// under its UID). The live entries are read once for all users: each user's
    /// changes touch only that user's entries.
    pub fn replace_entries<S: AsRef<str>>(
        &mut self,
        users: &[S],
        mailbox: &str,
        entry: NewEntry<'_>,
    ) -> Result<(), DbError> {
        let live = self.entries_of(entry.kind, entry.ref_id)?;
        let mut new = Vec::with_capacity(users.len());
        for user in users {
            let user = user.as_ref();
            let mut same = false;
            for e in &live {
                if e.user != user || e.mailbox != mailbox {
                    continue;
                }
                if e.raw == entry.raw && !same {
                    same = true;
                } else {
                    self.expunge(e)?;
                }
            }
            if !same {
                new.push(user);
            }
        }
        self.add_entries(&new, mailbox, entry)
    }
}

/// How many of the latest changes [`Ops::changed`] compares a new one with.
pub const RECENT_CHANGES: usize = 32;

/// `changes` (as [`Ops::changed`] noted them) without repeats, each where it
/// was first noted: what the change feed announces.
pub fn unique_changes(changes: Vec<MailChange>) -> Vec<MailChange> {
    if changes.len() <= RECENT_CHANGES {
        // Each was compared with every one before it.
        return changes;
    }
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(changes.len());
        changes
            .iter()
            .map(|c| seen.insert((c.user.as_str(), c.mailbox.as_str())))
            .collect()
    };
    changes
        .into_iter()
        .zip(keep)
        .filter_map(|(c, keep)| keep.then_some(c))
        .collect()
}

/// A new object for [`Ops::add_entry`].
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// `info`, `group_state`, `message` or `standalone`.
    pub kind: &'a str,
    /// The row it renders.
    pub ref_id: i64,
    /// Initial flag bits.
    pub flags: i64,
    /// The RFC 5322 object, without the [`NewEntry::body_elsewhere`] bytes that
    /// end it (what the entry stores, unless [`NewEntry::from_session_row`]).
    pub raw: &'a [u8],
    /// How many bytes follow `raw` in the object: the body of the row it renders
    /// (a message's or standalone message's, kind `message` or `standalone`),
    /// stored there and not again here: the IMAP view appends them (`mail.rs`,
    /// `body_elsewhere`, migration 8). 0: `raw` is the whole object. Kept apart
    /// so a chat message's object is never printed with its body only for the
    /// body to be cut off (`layout::message_heads`).
    pub body_elsewhere: usize,
    /// The object is a sealed 1-to-1's info object, printed from its `sessions`
    /// row (`layout::info_object_of_row`) when read: none of it is stored here
    /// (`body_elsewhere` [`FROM_SESSION_ROW`]). Such a row never changes once
    /// sealed (HIST-2; GRP-23 reopens groups only), so the object read is the one
    /// filed.
    pub from_session_row: bool,
}

/// `entries.body_elsewhere` of an object printed from its session's row when read
/// (a sealed 1-to-1's info object: [`NewEntry::from_session_row`]); 1 is a
/// message body kept in its message row, 0 the whole object stored.
pub const FROM_SESSION_ROW: i64 = 2;

impl NewEntry<'_> {
    /// The whole object's size in bytes (`RFC822.SIZE`).
    pub fn size(&self) -> Result<i64, DbError> {
        self.raw
            .len()
            .checked_add(self.body_elsewhere)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| DbError("an entry's object is too long".into()))
    }

    /// Its row in `entries` column order (mailbox, uid, modseq, flags,
    /// internal_date, kind, ref_id, size, raw, body_elsewhere): `raw` (without the
    /// body stored elsewhere), `size` the whole object's.
    pub fn row(
        &self,
        mailbox_id: i64,
        uid: i64,
        modseq: i64,
        now: i64,
    ) -> Result<[Val; 10], DbError> {
        let [mailbox, uid, modseq, flags, date, ref_id, size, raw, elsewhere] =
            self.values(mailbox_id, uid, modseq, now)?;
        Ok([
            mailbox,
            uid,
            modseq,
            flags,
            date,
            self.kind.into(),
            ref_id,
            size,
            raw,
            elsewhere,
        ])
    }

    /// [`NewEntry::row`] without its kind (the row batch's statement writes a
    /// chat message's kind itself, `row_batch.rs`: no text made per entry).
    pub fn values(
        &self,
        mailbox_id: i64,
        uid: i64,
        modseq: i64,
        now: i64,
    ) -> Result<[Val; 9], DbError> {
        let size = self.size()?;
        let stored = if self.from_session_row {
            0
        } else {
            self.raw.len()
        };
        let elsewhere = if self.from_session_row {
            FROM_SESSION_ROW
        } else {
            i64::from(self.body_elsewhere > 0)
        };
        Ok([
            mailbox_id.into(),
            uid.into(),
            modseq.into(),
            self.flags.into(),
            now.into(),
            self.ref_id.into(),
            size.into(),
            Val::Bytes(self.raw[..stored].to_vec()),
            elsewhere.into(),
        ])
    }
}

/// An existing entry and its owner.
#[derive(Debug, Clone)]
pub struct EntryRef {
    /// Its mailbox's row id and its UID there: the entry's key (entries have
    /// no row id of their own on PostgreSQL, migration 14).
    pub mailbox_id: i64,
    pub uid: i64,
    /// Owner URI.
    pub user: String,
    /// Owner row id.
    pub user_id: i64,
    /// Mailbox name.
    pub mailbox: String,
    /// Flag bits.
    pub flags: i64,
    /// The object.
    pub raw: Vec<u8>,
}

impl EntryRef {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            mailbox_id: r.int(0)?,
            uid: r.int(1)?,
            user: r.text(2)?,
            user_id: r.int(3)?,
            mailbox: r.text(4)?,
            flags: r.int(5)?,
            raw: r.bytes(6)?,
        })
    }
}

/// Joins a list for a newline-separated text column.
pub fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    // One buffer (a `String` per item, a `Vec` of them and the join cost the
    // writer ~500 instructions per chat message for its one recipient).
    let len = items.iter().map(|s| s.as_ref().len() + 1).sum::<usize>();
    let mut out = String::with_capacity(len);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut rest = item.as_ref();
        while let Some(at) = rest.find('\n') {
            out.push_str(rest.get(..at).unwrap_or_default());
            out.push(' ');
            rest = rest.get(at + 1..).unwrap_or_default();
        }
        out.push_str(rest);
    }
    out
}

/// Splits a newline-separated text column.
pub fn split_list(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Wall-clock now, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod cache_tests {
    use super::{Cache, MAX_CACHE_ENTRIES};

    /// LIM-15: the writer's id cache never holds more than its bound between
    /// batches; the quota setting survives the reset.
    #[test]
    fn lim_15_the_cache_is_bounded() {
        let mut cache = Cache {
            user_quota_bytes: Some(7),
            ..Cache::default()
        };
        for i in 0..MAX_CACHE_ENTRIES {
            cache
                .users
                .insert(format!("sip:u{i}@example.com"), i as i64);
        }
        cache.bound();
        assert_eq!(cache.len(), MAX_CACHE_ENTRIES, "at the bound: kept");
        cache.conversations.insert("one more".into(), 1);
        cache.bound();
        assert!(cache.is_empty(), "past the bound: forgotten");
        assert_eq!(cache.user_quota_bytes, Some(7));
    }

    /// The cached dates are those of the second asked for, whether it is the one
    /// cached or another (earlier or later).
    #[test]
    fn dates_are_those_of_the_second_asked() {
        let mut cache = Cache::default();
        for now in [1_796_040_000, 1_796_040_000, 1_796_040_001, 1_700_000_000] {
            let expected = (
                crate::store::layout::rfc5322_date(now),
                crate::store::layout::iso8601(now),
            );
            assert_eq!(cache.dates(now), expected);
        }
    }
}

#[cfg(test)]
mod list_tests {
    use super::{join_list, split_list};

    /// What `join_list` made with a `String` per item and a join.
    fn with_copies(items: &[&str]) -> String {
        items
            .iter()
            .map(|s| s.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The list is joined as before, LFs inside items made spaces, and split
    /// back where no item was empty or held an LF.
    #[test]
    fn join_list_in_one_buffer_is_the_join_of_copies() {
        let lists: [&[&str]; 7] = [
            &[],
            &[""],
            &["sip:b@example.com"],
            &["sip:b@example.com", "sip:c@example.com"],
            &["a\nb", "\n", "c\n\nd\n"],
            &["", "x", ""],
            &["caf\u{e9}\n\u{1f600}", "\u{e9}"],
        ];
        for items in lists {
            assert_eq!(join_list(items), with_copies(items), "{items:?}");
        }
        let plain = ["sip:b@example.com", "sip:c@example.com"];
        assert_eq!(split_list(&join_list(&plain)), plain);
    }
}

#[cfg(test)]
mod change_tests {
    use super::{unique_changes, Cache, Ops, RECENT_CHANGES};
    use crate::store::sqlite::SqliteConn;

    /// The feed hears of each changed mailbox once, where it was first changed,
    /// however many other changes lie between its repeats.
    #[test]
    fn each_change_is_announced_once_in_first_noted_order() {
        let (_dir, mut conn) = SqliteConn::scratch("");
        let (mut cache, mut changes) = (Cache::default(), Vec::new());
        let mut ops = Ops {
            conn: &mut conn,
            cache: &mut cache,
            changes: &mut changes,
            now: 0,
        };
        let n = RECENT_CHANGES * 3;
        for _ in 0..3 {
            for i in 0..n {
                ops.changed("sip:a@example.com", &format!("m{i}"));
            }
        }
        ops.changed("sip:b@example.com", "m0");
        let got: Vec<(String, String)> = unique_changes(changes)
            .into_iter()
            .map(|c| (c.user.as_str().to_owned(), c.mailbox))
            .collect();
        let want: Vec<(String, String)> = (0..n)
            .map(|i| ("sip:a@example.com".to_owned(), format!("m{i}")))
            .chain([("sip:b@example.com".to_owned(), "m0".to_owned())])
            .collect();
        assert_eq!(got, want);
    }
}
