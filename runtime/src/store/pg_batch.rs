//! The PostgreSQL store's group commit in three round trips (two of a handful of
//! statements each, then `COMMIT`; two once batches overlap, below):
//! [`PgBatchWriter`] writes a batch of chat messages and seals as
//! one transaction whose statements are pipelined (`PgConn::pipeline`), and each
//! kind of row the batch writes goes in one multi-row statement (`unnest` of
//! arrays), instead of one round trip per statement (about 10 per message and 30
//! per seal through the shared write path).
//!
//! 1. `BEGIN` and the facts the batch depends on, in one round trip: the state and
//!    row id of each session it touches (open, sealed, whose, with filed info
//!    objects), the stored messages of each session it seals, the stored bytes of
//!    each user it files for (LIM-14), which of its conversations exist (the
//!    others are made by plain inserts; a conversation folder has no row,
//!    STORE-15), and row ids taken
//!    from the `messages` and `sessions` sequences for the rows it may create
//!    (ids from a sequence are unique across the nodes sharing the database; one
//!    not used is a gap). Only the facts a batch can use are asked for (none of
//!    the sessions' for messages of sessions known open, no message ids or
//!    usage for seals): every statement costs the server a plan and a run.
//! 2. Every row of every record, in one round trip: one statement
//!    per kind, in this order: users, existing users' new mailboxes,
//!    conversations, sessions it creates; one update of the mailboxes and one of
//!    the users reserving the UIDs and MODSEQs the batch files; messages; the
//!    folders it makes with the entries filed into them (one statement: each
//!    entry finds its folder among the rows the insert returns, not by a join on
//!    the `mailboxes` table); the other mailbox entries; quota skips; seals,
//!    their messages marked and their participants; one `user_usage` update for
//!    every user charged. So a batch costs about a dozen statements whatever its
//!    size. A row is written once where it can be: a session the batch creates
//!    and seals is made sealed, and the folders of the sessions it creates are made
//!    with their UIDs reserved (neither can exist before its session does; a row
//!    per session and per folder proves it). Each statement's count of rows
//!    written is checked, and only then is `COMMIT` sent (3.), so a batch that
//!    wrote less than it must is rolled back whole (STORE-14: the tables it
//!    writes have no foreign keys on PostgreSQL, migration 10; these counts keep
//!    every row's parent real). No statement needs an earlier one's answer: users and mailboxes are
//!    named by their natural keys (user URI, mailbox name), messages and sessions
//!    by the ids taken in step 1, and each entry's UID and MODSEQ is its place
//!    below the reserved top, so they are the same as the shared path's one
//!    increment per entry.
//!
//! Batches overlap (`write_batch_ahead`): when batch N's rows go out (2.), the
//! writer takes the jobs queued by then as batch N+1 and sends N+1's facts in
//! front of N's rows, in N's transaction; while the server writes N's rows, the
//! writer plans N+1 on those facts and on what N makes (its users, folders,
//! conversations and open sessions taken as known, its quota charges added:
//! `Plan::prior`). Once N committed, N+1's rows go out with `BEGIN` and N+2's
//! facts, so a batch costs two round trips (rows, `COMMIT`) rather than three, and
//! the client's planning no longer waits on the server's writing. N+1 is planned
//! ahead only where round 1 read after N's rows would say nothing else
//! (`PgBatchWriter::may_plan_after`: no record for a session N seals, no seal of
//! a session N has a record for); otherwise, and whenever N fails, N+1 gets its
//! own round 1 after N. Its UIDs and MODSEQs are still reserved by its own
//! statements after N's commit, so they follow the commit order per mailbox and
//! user; its answers wait for its own commit and flush. The writer's connection
//! runs its I/O on a thread of its own (`PgConn::connect_driven`), so N's rows go
//! out while the writer plans.
//!
//! What it writes is exactly what the shared path (`history.rs`) writes for the
//! same records (the store tests run both, on every backend: specs/store.md). It
//! does not handle the rarer cases: a batch with a session info, standalone or
//! disposition record, a seal that must expunge (HIST-3) or replace filed objects,
//! a record for a session that is sealed or another instance's (HIST-2, SEC-7), or
//! any error (a deadlock with another node's batch among them). Such a batch is
//! rolled back (nothing of it was committed) and written again through the shared
//! path, which answers each record on its own. A record is acknowledged only after
//! the commit that holds it (MSG-1), on both paths, and after a WAL flush that
//! covers that commit (the `COMMIT` itself does not wait for it: `pg_flush.rs`,
//! STORE-12).

use std::collections::{btree_map, BTreeMap, HashMap, HashSet};

use cpmd_core::server::{
    HistoryObject, Record, SessionKey, SessionType, StoreError, StoredMessage,
};
use cpmd_core::UserUri;
use tokio::sync::broadcast;

use crate::mailstore::MailChange;
use crate::store::history::{sealed_info_object, HistoryWriter};
use crate::store::layout::{self, Direction, MessageParts, INBOX, ROOT};
use crate::store::ops::{
    bits, join_list, split_list, unix_now, FROM_SESSION_ROW, MAX_CACHE_ENTRIES,
};
use crate::store::pg_batch_sql::*;
use crate::store::postgres::{PgArg, Piped};
use crate::store::sql::{DbError, Row};
use crate::store::{write_each, HistoryStore, StoreJob};

/// The sessions a batch touches: `(Conversation-ID, Contribution-ID)`.
type Key = (String, String);

fn key_of(k: &SessionKey) -> Key {
    (
        k.conversation_id.as_str().to_owned(),
        k.contribution_id.as_str().to_owned(),
    )
}

/// Rows known to exist in the database (committed): created by an earlier batch of
/// this writer or found by one. Rows are never deleted, so they stay known; the
/// sessions in `open` (with their row ids) are this instance's and open until this
/// writer seals them.
#[derive(Debug, Default)]
struct Known {
    /// Users with their `INBOX` and `Default` mailboxes.
    users: HashSet<String>,
    /// `(user URI, mailbox name)`.
    mailboxes: HashSet<(String, String)>,
    conversations: HashSet<String>,
    open: HashMap<Key, i64>,
}

impl Known {
    /// Empty, with room for what a batch of `n` records makes: the sets of a
    /// plan grown from nothing were rehashed ~50 times a batch (~10k of the
    /// writer's ~93k instructions per seal, callgrind: bench/README.md).
    fn with_capacity(n: usize) -> Self {
        Self {
            users: HashSet::with_capacity(n),
            mailboxes: HashSet::with_capacity(2 * n),
            conversations: HashSet::with_capacity(n),
            open: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.users.len() + self.mailboxes.len() + self.conversations.len() + self.open.len()
    }
}

/// What a session was when the batch began.
#[derive(Debug, Clone)]
struct SessionFacts {
    state: String,
    instance: i64,
    /// Live info or group state objects are filed (a seal would replace them).
    has_objects: bool,
    id: i64,
}

/// A stored message of a session being sealed: `(seq, sender, recipients)`.
type StoredRef = (u64, String, Vec<String>);

/// One mailbox entry to file: its owner and folder, its place among the batch's
/// entries of that folder (UID) and of that user (MODSEQ), and its object.
struct EntryRow {
    uri: String,
    mailbox: String,
    place_uid: i64,
    place_modseq: i64,
    flags: i64,
    kind: &'static str,
    ref_id: i64,
    raw: Vec<u8>,
    /// How many of `raw`'s last bytes are the body its `messages` row holds
    /// (STORE-13: not stored again; 0: the whole object is kept).
    elsewhere: usize,
    /// A sealed 1-to-1's info object of this size, printed from its session's
    /// row when read (`raw` empty: `ops::FROM_SESSION_ROW`).
    from_row: Option<usize>,
    /// Its folder is one the batch makes (`Plan::fresh_folders`): the entry goes
    /// with that folder's insert. Kept here so that `Plan::finish` sorts the
    /// entries without a look-up (and two key copies) each.
    fresh: bool,
}

/// The columns of the batch's new `messages` rows.
#[derive(Default)]
struct MessageRows {
    id: Vec<i64>,
    session: Vec<i64>,
    seq: Vec<i64>,
    message_id: Vec<String>,
    sender: Vec<String>,
    recipients: Vec<String>,
    content_type: Vec<String>,
    body: Vec<Vec<u8>>,
}

/// A seal: the session's row id and its new info.
struct SealRow {
    id: i64,
    session_type: String,
    from: String,
    to: String,
    date: String,
    subject: Option<String>,
    in_reply_to: Option<String>,
    sdp: String,
    media: String,
    invited: String,
    watermark: Option<i64>,
}

/// The info columns of `rows` (type to watermark), in the order [`SEALS`] and
/// [`NEW_SEALED_SESSIONS`] take them.
fn info_columns(rows: Vec<SealRow>) -> Vec<PgArg> {
    let n = rows.len();
    let mut c = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in rows {
        c.0.push(r.session_type);
        c.1.push(r.from);
        c.2.push(r.to);
        c.3.push(r.date);
        c.4.push(r.subject);
        c.5.push(r.in_reply_to);
        c.6.push(r.sdp);
        c.7.push(r.media);
        c.8.push(r.invited);
        c.9.push(r.watermark);
    }
    vec![
        PgArg::Texts(c.0),
        PgArg::Texts(c.1),
        PgArg::Texts(c.2),
        PgArg::Texts(c.3),
        PgArg::OptTexts(c.4),
        PgArg::OptTexts(c.5),
        PgArg::Texts(c.6),
        PgArg::Texts(c.7),
        PgArg::Texts(c.8),
        PgArg::OptInts(c.9),
    ]
}

/// The rows of one batch, gathered record by record, then written kind by kind.
struct Plan<'a> {
    known: &'a Known,
    /// What the batch before this one makes, when this one is planned before that
    /// one commits (its `created`, its sessions in `open`): as good as known, since
    /// this batch commits only after it (`PgBatchWriter::pipelined`).
    prior: &'a Known,
    instance: i64,
    quota: Option<u64>,
    now: i64,
    date: String,
    date_time: String,
    facts: HashMap<Key, SessionFacts>,
    messages: HashMap<Key, Vec<StoredRef>>,
    usage: HashMap<String, i64>,
    /// Ids taken from the sequences in round 1, for new messages and sessions.
    message_ids: std::vec::IntoIter<i64>,
    session_ids: std::vec::IntoIter<i64>,
    /// Bytes charged per user in this batch, not yet written.
    charged: BTreeMap<String, i64>,
    new_users: Vec<String>,
    new_mailboxes: Vec<(String, String)>,
    new_conversations: Vec<String>,
    /// `(id, Conversation-ID, Contribution-ID, core session number)`.
    new_sessions: Vec<(i64, String, String, i64)>,
    /// Sessions the batch creates, and the session folders it creates for them:
    /// such a folder cannot exist yet (its session did not), so it is made with
    /// its UIDs already reserved rather than made, then updated.
    fresh: HashSet<Key>,
    fresh_folders: HashSet<(String, String)>,
    /// Conversations that existed when the batch began (round 1): one that did
    /// not is made by a plain insert (no `ON CONFLICT`: its speculative insertion
    /// costs a check and a confirmation per row). Another writer making one
    /// meanwhile is a unique violation, which rolls the batch back to the
    /// record-by-record path (STORE-14). Its folders have no row (STORE-15).
    existing_conversations: HashSet<String>,
    new_messages: MessageRows,
    entries: Vec<EntryRow>,
    /// `(user, message id, size)` of copies skipped over quota.
    skips: Vec<(String, i64, i64)>,
    seals: Vec<SealRow>,
    in_history: Vec<i64>,
    no_participants: Vec<i64>,
    /// `(session id, position, user, state)`.
    participants: Vec<(i64, i64, String, String)>,
    /// Entries filed per mailbox and per user so far: the next entry's place in
    /// its mailbox's UIDs and its user's MODSEQs; with the mailbox, whether it is
    /// one of `fresh_folders` (its UIDs reserved as it is made).
    uids: BTreeMap<(String, String), (i64, bool)>,
    modseqs: BTreeMap<String, i64>,
    answers: Vec<Result<(), StoreError>>,
    created: Known,
    opened: HashMap<Key, i64>,
    sealed: HashSet<Key>,
    /// The folders the batch files into, each once, in the order first filed:
    /// pushed by [`Plan::entry`] when its folder has no place in `uids` yet (a
    /// set of its own cost two key copies and a hash per entry).
    changes: Vec<MailChange>,
}

/// A batch the pipelined path leaves to the shared one.
struct NotHere;

/// A pipelined statement and how many rows it must return (`None`: any).
type Checked = (Piped, Option<usize>);

/// An object to file: its kind, the row it renders, its bytes, and how many of
/// their last bytes are a body its `messages` row holds (STORE-13: not stored
/// again; 0: the whole object is kept).
struct Filed {
    kind: &'static str,
    ref_id: i64,
    raw: Vec<u8>,
    elsewhere: usize,
    from_row: Option<usize>,
}

impl Filed {
    /// A chat message's copy: the body is left out only where the object ends
    /// with it byte for byte (as `history.rs` decides).
    fn message(id: i64, raw: Vec<u8>, body: &[u8]) -> Self {
        let elsewhere = if raw.ends_with(body) { body.len() } else { 0 };
        Filed {
            kind: "message",
            ref_id: id,
            raw,
            elsewhere,
            from_row: None,
        }
    }

    /// A session info or group state object (kept whole).
    fn whole(kind: &'static str, ref_id: i64, raw: Vec<u8>) -> Self {
        Filed {
            kind,
            ref_id,
            raw,
            elsewhere: 0,
            from_row: None,
        }
    }

    /// A sealed 1-to-1's info object of `size` bytes: none of it stored, IMAP
    /// prints it from the session's row (`ops::FROM_SESSION_ROW`).
    fn from_session_row(ref_id: i64, size: usize) -> Self {
        Filed {
            kind: "info",
            ref_id,
            raw: Vec::new(),
            elsewhere: 0,
            from_row: Some(size),
        }
    }
}

impl Plan<'_> {
    /// An entry for `uri`'s `mailbox`: its places among the batch's UIDs of the
    /// mailbox and MODSEQs of the user.
    /// `fresh`: the folder is one the batch makes ([`Plan::folder`]'s answer).
    fn entry(&mut self, uri: &str, mailbox: &str, fresh: bool, flags: i64, object: Filed) {
        let k = match self.uids.entry((uri.to_owned(), mailbox.to_owned())) {
            btree_map::Entry::Occupied(o) => o.into_mut(),
            btree_map::Entry::Vacant(v) => {
                // The first entry the batch files into this folder.
                self.changes.push(MailChange {
                    user: UserUri::new_canonical(uri),
                    mailbox: mailbox.to_owned(),
                });
                v.insert((0, fresh))
            }
        };
        let place_uid = k.0;
        k.0 += 1;
        let j = self.modseqs.entry(uri.to_owned()).or_insert(0);
        let place_modseq = *j;
        *j += 1;
        self.entries.push(EntryRow {
            uri: uri.to_owned(),
            mailbox: mailbox.to_owned(),
            place_uid,
            place_modseq,
            flags,
            kind: object.kind,
            ref_id: object.ref_id,
            raw: object.raw,
            elsewhere: object.elsewhere,
            from_row: object.from_row,
            fresh,
        });
    }

    /// The whole second round trip: one statement per kind of row (none for a kind
    /// without rows); each with the rows it must write (`COMMIT` follows once
    /// they did).
    fn finish(&mut self) -> Vec<Checked> {
        let mut out: Vec<Checked> = Vec::new();
        let texts = |v: Vec<String>| PgArg::Texts(v);
        if !self.new_users.is_empty() {
            let users = std::mem::take(&mut self.new_users);
            out.push(((NEW_USERS, vec![texts(users)]), None));
        }
        let uid_validity = self.now.clamp(1, i64::from(u32::MAX));
        let (filed, plain): (Vec<_>, Vec<_>) = std::mem::take(&mut self.new_mailboxes)
            .into_iter()
            .partition(|k| self.fresh_folders.contains(k));
        if !plain.is_empty() {
            let (uris, names): (Vec<String>, Vec<String>) = plain.into_iter().unzip();
            out.push((
                (
                    NEW_MAILBOXES,
                    vec![texts(uris), texts(names), PgArg::one(uid_validity)],
                ),
                None,
            ));
        }
        if !self.new_conversations.is_empty() {
            let conversations = std::mem::take(&mut self.new_conversations);
            let n = conversations.len();
            out.push(((NEW_CONVERSATIONS, vec![texts(conversations)]), Some(n)));
        }
        // A session made and sealed in this batch is made sealed, with its info.
        let new_ids: HashSet<i64> = self.new_sessions.iter().map(|s| s.0).collect();
        let (born_sealed, seals): (Vec<SealRow>, Vec<SealRow>) = std::mem::take(&mut self.seals)
            .into_iter()
            .partition(|s| new_ids.contains(&s.id));
        let mut sealed_info: HashMap<i64, SealRow> =
            born_sealed.into_iter().map(|s| (s.id, s)).collect();
        let mut open = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut sealed = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, conv, contrib, core) in std::mem::take(&mut self.new_sessions) {
            if let Some(info) = sealed_info.remove(&id) {
                sealed.0.push(id);
                sealed.1.push(conv);
                sealed.2.push(contrib);
                sealed.3.push(core);
                sealed.4.push(info);
            } else {
                open.0.push(id);
                open.1.push(conv);
                open.2.push(contrib);
                open.3.push(core);
            }
        }
        if !open.0.is_empty() {
            let n = open.0.len();
            out.push((
                (
                    NEW_SESSIONS,
                    vec![
                        PgArg::Ints(open.0),
                        texts(open.1),
                        texts(open.2),
                        PgArg::Ints(open.3),
                        PgArg::one(self.instance),
                    ],
                ),
                Some(n),
            ));
        }
        if !sealed.0.is_empty() {
            let n = sealed.0.len();
            let mut params = vec![
                PgArg::Ints(sealed.0),
                texts(sealed.1),
                texts(sealed.2),
                PgArg::Ints(sealed.3),
            ];
            params.extend(info_columns(sealed.4));
            params.extend([PgArg::one(self.instance), PgArg::one(self.now)]);
            out.push(((NEW_SEALED_SESSIONS, params), Some(n)));
        }
        // The reservations: every mailbox and user an entry goes to, in key order.
        if !self.uids.is_empty() {
            let mut cols = (Vec::new(), Vec::new(), Vec::new());
            for ((uri, mailbox), (n, fresh)) in &self.uids {
                if *fresh {
                    continue; // reserved as it was made
                }
                cols.0.push(uri.clone());
                cols.1.push(mailbox.clone());
                cols.2.push(*n);
            }
            let n = cols.0.len();
            if n > 0 {
                out.push((
                    (
                        RESERVE_UIDS,
                        vec![texts(cols.0), texts(cols.1), PgArg::Ints(cols.2)],
                    ),
                    Some(n),
                ));
            }
            let (uris, counts): (Vec<String>, Vec<i64>) =
                self.modseqs.iter().map(|(u, m)| (u.clone(), *m)).unzip();
            let n = uris.len();
            out.push((
                (RESERVE_MODSEQS, vec![texts(uris), PgArg::Ints(counts)]),
                Some(n),
            ));
        }
        if !self.new_messages.id.is_empty() {
            let m = std::mem::take(&mut self.new_messages);
            out.push((
                (
                    NEW_MESSAGES,
                    vec![
                        PgArg::Ints(m.id),
                        PgArg::Ints(m.session),
                        PgArg::Ints(m.seq),
                        texts(m.message_id),
                        texts(m.sender),
                        texts(m.recipients),
                        texts(m.content_type),
                        PgArg::Blobs(m.body),
                        PgArg::one(self.date.as_str()),
                        PgArg::one(self.now),
                    ],
                ),
                None,
            ));
        }
        // The entries of the folders the batch makes go with those folders, in
        // one statement; the others (existing folders, UIDs reserved above) in
        // their own.
        let (fresh, rows): (Vec<EntryRow>, Vec<EntryRow>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.fresh);
        if fresh.is_empty() {
            if !filed.is_empty() {
                out.push(self.filed_folders(filed, uid_validity));
            }
        } else {
            let n = fresh.len();
            let made = i64::try_from(filed.len()).unwrap_or(i64::MAX);
            let mut params = self.entry_columns(fresh);
            let ((_, folders), _) = self.filed_folders(filed, uid_validity);
            params.extend(folders);
            params.push(PgArg::one(made));
            out.push(((NEW_FOLDERS_AND_ENTRIES, params), Some(n)));
        }
        if !rows.is_empty() {
            let n = rows.len();
            let params = self.entry_columns(rows);
            out.push(((NEW_ENTRIES, params), Some(n)));
        }
        if !self.skips.is_empty() {
            let mut cols = (Vec::new(), Vec::new(), Vec::new());
            for (uri, id, size) in std::mem::take(&mut self.skips) {
                cols.0.push(uri);
                cols.1.push(id);
                cols.2.push(size);
            }
            out.push((
                (
                    NEW_SKIPS,
                    vec![
                        texts(cols.0),
                        PgArg::Ints(cols.1),
                        PgArg::Ints(cols.2),
                        PgArg::one(self.now),
                    ],
                ),
                None,
            ));
        }
        if !seals.is_empty() {
            let n = seals.len();
            let mut params = vec![PgArg::Ints(seals.iter().map(|s| s.id).collect())];
            params.extend(info_columns(seals));
            params.extend([PgArg::one(self.now), PgArg::one(self.instance)]);
            out.push(((SEALS, params), Some(n)));
        }
        if !self.in_history.is_empty() {
            let ids = std::mem::take(&mut self.in_history);
            out.push(((IN_HISTORY, vec![PgArg::Ints(ids)]), None));
        }
        if !self.no_participants.is_empty() {
            let ids = std::mem::take(&mut self.no_participants);
            out.push(((NO_PARTICIPANTS, vec![PgArg::Ints(ids)]), None));
        }
        if !self.participants.is_empty() {
            let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (session, position, uri, state) in std::mem::take(&mut self.participants) {
                cols.0.push(session);
                cols.1.push(position);
                cols.2.push(uri);
                cols.3.push(state);
            }
            out.push((
                (
                    NEW_PARTICIPANTS,
                    vec![
                        PgArg::Ints(cols.0),
                        PgArg::Ints(cols.1),
                        texts(cols.2),
                        texts(cols.3),
                    ],
                ),
                None,
            ));
        }
        if !self.charged.is_empty() {
            let (uris, sizes): (Vec<String>, Vec<i64>) =
                std::mem::take(&mut self.charged).into_iter().unzip();
            out.push(((CHARGES, vec![texts(uris), PgArg::Ints(sizes)]), None));
        }
        out
    }

    /// The columns of [`NEW_ENTRIES`] (`$1`..`$11`) for `rows`.
    fn entry_columns(&self, rows: Vec<EntryRow>) -> Vec<PgArg> {
        let n = rows.len();
        let mut uri = Vec::with_capacity(n);
        let mut mailbox = Vec::with_capacity(n);
        let mut uoff = Vec::with_capacity(n);
        let mut moff = Vec::with_capacity(n);
        let mut flags = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut ref_id = Vec::with_capacity(n);
        let mut size = Vec::with_capacity(n);
        let mut raw = Vec::with_capacity(n);
        let mut elsewhere = Vec::with_capacity(n);
        for e in rows {
            // How far below the reserved tops this entry's values are: the
            // mailbox's UID counter ends `count` higher, so the entry at
            // `place` gets the old `uid_next + place`; the user's MODSEQ
            // counter ends `count` higher and the entry at `place` gets
            // `old + place + 1`.
            let (uids, _) = self.uids[&(e.uri.clone(), e.mailbox.clone())];
            let modseqs = self.modseqs[&e.uri];
            uoff.push(uids - e.place_uid);
            moff.push(modseqs - 1 - e.place_modseq);
            // The size is the whole object's; the row keeps it without the
            // body its message row holds (STORE-13, as `history.rs` files it).
            let whole = e.from_row.unwrap_or(e.raw.len());
            size.push(i64::try_from(whole).unwrap_or(i64::MAX));
            elsewhere.push(if e.from_row.is_some() {
                FROM_SESSION_ROW
            } else {
                i64::from(e.elsewhere > 0)
            });
            let mut object = e.raw;
            object.truncate(object.len().saturating_sub(e.elsewhere));
            uri.push(e.uri);
            mailbox.push(e.mailbox);
            flags.push(e.flags);
            kind.push(e.kind.to_owned());
            ref_id.push(e.ref_id);
            raw.push(object);
        }
        vec![
            PgArg::Texts(uri),
            PgArg::Texts(mailbox),
            PgArg::Ints(uoff),
            PgArg::Ints(moff),
            PgArg::Ints(flags),
            PgArg::Texts(kind),
            PgArg::Ints(ref_id),
            PgArg::Ints(size),
            PgArg::Blobs(raw),
            PgArg::Ints(elsewhere),
            PgArg::one(self.now),
        ]
    }

    /// [`NEW_FILED_MAILBOXES`] for the folders `filed`, each made with the UIDs
    /// the batch files into it reserved.
    fn filed_folders(&self, filed: Vec<(String, String)>, uid_validity: i64) -> Checked {
        let n = filed.len();
        let counts: Vec<i64> = filed
            .iter()
            .map(|k| self.uids.get(k).map_or(0, |(n, _)| *n))
            .collect();
        let (uris, names): (Vec<String>, Vec<String>) = filed.into_iter().unzip();
        (
            (
                NEW_FILED_MAILBOXES,
                vec![
                    PgArg::Texts(uris),
                    PgArg::Texts(names),
                    PgArg::Ints(counts),
                    PgArg::one(uid_validity),
                ],
            ),
            Some(n),
        )
    }

    fn user(&mut self, uri: &str) {
        if self.known.users.contains(uri)
            || self.prior.users.contains(uri)
            || self.created.users.contains(uri)
        {
            return;
        }
        self.new_users.push(uri.to_owned());
        for name in [INBOX, ROOT] {
            self.mailbox(uri, name);
        }
        self.created.users.insert(uri.to_owned());
    }

    /// Makes the mailbox unless it is known; `true` when this call made it.
    fn mailbox(&mut self, uri: &str, name: &str) -> bool {
        let key = (uri.to_owned(), name.to_owned());
        if self.known.mailboxes.contains(&key)
            || self.prior.mailboxes.contains(&key)
            || self.created.mailboxes.contains(&key)
        {
            return false;
        }
        self.new_mailboxes.push(key.clone());
        self.created.mailboxes.insert(key);
        true
    }

    /// The user and the folder of session `key` (as `Ops::add_entry`: not its
    /// parent, the conversation folder, which has no row: STORE-15); `true` when
    /// the folder is one the batch makes for a session it creates
    /// (`fresh_folders`), which its entries are inserted with.
    fn folder(&mut self, uri: &str, mailbox: &str, key: &Key) -> bool {
        self.user(uri);
        if self.mailbox(uri, mailbox) {
            let fresh = self.fresh.contains(key);
            if fresh {
                self.fresh_folders
                    .insert((uri.to_owned(), mailbox.to_owned()));
            }
            fresh
        } else {
            // Made before (or earlier in this batch, then perhaps fresh).
            !self.fresh_folders.is_empty()
                && self
                    .fresh_folders
                    .contains(&(uri.to_owned(), mailbox.to_owned()))
        }
    }

    /// Makes sure the session is open and this instance's (creating it when new)
    /// and returns its row id; a sealed or foreign one is the shared path's to
    /// refuse.
    fn session(&mut self, k: &SessionKey) -> Result<i64, NotHere> {
        let key = key_of(k);
        if self.sealed.contains(&key) {
            return Err(NotHere);
        }
        if let Some(id) = self
            .known
            .open
            .get(&key)
            .or(self.prior.open.get(&key))
            .or(self.opened.get(&key))
        {
            return Ok(*id);
        }
        let id = match self.facts.get(&key) {
            Some(f) if f.state == "open" && f.instance == self.instance => f.id,
            Some(_) => return Err(NotHere),
            None => {
                if !self.known.conversations.contains(&key.0)
                    && !self.prior.conversations.contains(&key.0)
                    && !self.created.conversations.contains(&key.0)
                {
                    if !self.existing_conversations.contains(&key.0) {
                        self.new_conversations.push(key.0.clone());
                    }
                    self.created.conversations.insert(key.0.clone());
                }
                let core_session = i64::try_from(k.session.get()).map_err(|_| NotHere)?;
                let id = self.session_ids.next().ok_or(NotHere)?;
                self.new_sessions
                    .push((id, key.0.clone(), key.1.clone(), core_session));
                self.fresh.insert(key.clone());
                id
            }
        };
        self.opened.insert(key, id);
        Ok(id)
    }

    fn over_quota(&self, uri: &str) -> bool {
        self.quota.is_some_and(|q| {
            u64::try_from(self.usage.get(uri).copied().unwrap_or(0)).unwrap_or(0) >= q
        })
    }

    /// Counts `size` against the user now (later records of the batch see it);
    /// written once per user at the end of the batch (`CHARGES`).
    fn charge(&mut self, uri: &str, size: i64) {
        *self.usage.entry(uri.to_owned()).or_insert(0) += size;
        *self.charged.entry(uri.to_owned()).or_insert(0) += size;
    }

    fn message(&mut self, m: &StoredMessage) -> Result<(), NotHere> {
        let session = self.session(&m.key)?;
        // LIM-14: a sender over quota is refused before anything is written.
        if self.over_quota(m.sender.as_str()) {
            self.answers.push(Err(StoreError::OverQuota {
                user: m.sender.as_str().to_owned(),
            }));
            return Ok(());
        }
        let key = key_of(&m.key);
        let recipients: Vec<String> = m.recipients.iter().map(|r| r.as_str().to_owned()).collect();
        let seq = i64::try_from(m.seq).map_err(|_| NotHere)?;
        let id = self.message_ids.next().ok_or(NotHere)?;
        let rows = &mut self.new_messages;
        rows.id.push(id);
        rows.session.push(session);
        rows.seq.push(seq);
        rows.message_id.push(m.message_id.as_str().to_owned());
        rows.sender.push(m.sender.as_str().to_owned());
        rows.recipients.push(join_list(&recipients));
        rows.content_type.push(m.content_type.clone());
        rows.body.push(m.body.clone());
        let date = self.date.clone();
        let date_time = self.date_time.clone();
        let parts = MessageParts {
            conversation_id: &key.0,
            contribution_id: Some(&key.1),
            sender: m.sender.as_str(),
            recipients: &recipients,
            message_id: m.message_id.as_str(),
            content_type: &m.content_type,
            body: &m.body,
            date: &date,
            date_time: &date_time,
        };
        let mailbox = layout::session_mailbox(&key.0, &key.1);
        let sent = layout::message_object(&parts, Direction::Sent);
        let sent = Filed::message(id, sent, &m.body);
        self.file_message(&key, m.sender.as_str(), &mailbox, bits::SEEN, sent);
        let received = layout::message_object(&parts, Direction::Received);
        let mut done = vec![m.sender.as_str()];
        for r in &recipients {
            if done.contains(&r.as_str()) {
                continue;
            }
            done.push(r);
            if self.over_quota(r) {
                // LIM-14: a recipient over quota does not fail the sender.
                tracing::info!(user = %r, size = received.len(), "recipient over quota: copy skipped");
                self.user(r);
                let size = i64::try_from(received.len()).map_err(|_| NotHere)?;
                self.skips.push((r.clone(), id, size));
                continue;
            }
            let copy = Filed::message(id, received.clone(), &m.body);
            self.file_message(&key, r, &mailbox, 0, copy);
        }
        self.messages.entry(key).or_default().push((
            m.seq,
            m.sender.as_str().to_owned(),
            recipients,
        ));
        self.answers.push(Ok(()));
        Ok(())
    }

    fn file_message(&mut self, key: &Key, uri: &str, mailbox: &str, flags: i64, object: Filed) {
        let fresh = self.folder(uri, mailbox, key);
        let size = i64::try_from(object.raw.len()).unwrap_or(i64::MAX);
        self.entry(uri, mailbox, fresh, flags, object);
        self.charge(uri, size);
    }

    fn seal(&mut self, h: &HistoryObject) -> Result<(), NotHere> {
        let key = key_of(&h.info.key);
        if self.facts.get(&key).is_some_and(|f| f.has_objects) {
            return Err(NotHere);
        }
        let id = self.session(&h.info.key)?;
        let stored = self.messages.remove(&key).unwrap_or_default();
        // HIST-3: a stored message outside the final set is expunged at the seal,
        // which is the shared path's work.
        if stored.iter().any(|(seq, _, _)| !h.messages.contains(seq)) {
            return Err(NotHere);
        }
        let info = &h.info;
        let invited: Vec<&str> = info.invited.iter().map(UserUri::as_str).collect();
        let watermark = h
            .messages
            .last()
            .map(|s| i64::try_from(*s))
            .transpose()
            .map_err(|_| NotHere)?;
        self.seals.push(SealRow {
            id,
            session_type: layout::session_type_token(info.session_type).to_owned(),
            from: info.from.as_str().to_owned(),
            to: info.to.clone(),
            date: info.date.clone(),
            subject: info.subject.clone(),
            in_reply_to: info.in_reply_to.as_ref().map(|c| c.as_str().to_owned()),
            sdp: info.sdp.clone(),
            media: join_list(&info.media_attributes),
            invited: join_list(&invited),
            watermark,
        });
        if !stored.is_empty() {
            self.in_history.push(id);
        }
        if self.facts.contains_key(&key) {
            // A session made in this batch has no participant rows yet.
            self.no_participants.push(id);
        }
        for (i, p) in h.participants.iter().enumerate() {
            let position = i64::try_from(i).map_err(|_| NotHere)?;
            self.participants.push((
                id,
                position,
                p.user.as_str().to_owned(),
                p.state.as_str().to_owned(),
            ));
        }
        // The parties, in the shared path's order (`seal_parties`).
        let mut parties: Vec<String> = vec![info.from.as_str().to_owned()];
        let mut add = |p: &str| {
            if !parties.iter().any(|q| q == p) {
                parties.push(p.to_owned());
            }
        };
        info.invited.iter().for_each(|u| add(u.as_str()));
        h.participants.iter().for_each(|p| add(p.user.as_str()));
        let mut stored = stored;
        stored.sort_by_key(|m| m.0);
        for (_, sender, recipients) in &stored {
            add(sender);
            recipients.iter().for_each(|r| add(r));
        }
        let mailbox = layout::session_mailbox(&key.0, &key.1);
        // A sealed 1-to-1's info object is printed from its row when read
        // (STORE-13, as `history.rs` files it): only its size is written here.
        let one_to_one = info.session_type == SessionType::OneToOne;
        let raw = if one_to_one {
            sealed_info_object(info)
        } else {
            layout::session_info_object(info, false)
        };
        for p in &parties {
            let fresh = self.folder(p, &mailbox, &key);
            let object = if one_to_one {
                Filed::from_session_row(id, raw.len())
            } else {
                Filed::whole("info", id, raw.clone())
            };
            self.entry(p, &mailbox, fresh, 0, object);
        }
        if info.session_type == SessionType::AdHoc && !h.participants.is_empty() {
            let raw = layout::group_state_object(
                info,
                &h.participants,
                h.focus.as_deref().unwrap_or(&info.to),
                &self.date,
                &self.date_time,
            );
            for p in &parties {
                let fresh = self.folder(p, &mailbox, &key);
                self.entry(
                    p,
                    &mailbox,
                    fresh,
                    0,
                    Filed::whole("group_state", id, raw.clone()),
                );
            }
        }
        self.opened.remove(&key);
        self.sealed.insert(key);
        self.answers.push(Ok(()));
        Ok(())
    }
}

/// The PostgreSQL write path: the pipelined batch, or the shared path when the
/// batch is not one it handles.
pub struct PgBatchWriter {
    shared: HistoryWriter<crate::store::postgres::PgConn>,
    feed: broadcast::Sender<MailChange>,
    known: Known,
    /// The next batch, planned while the last one was written (its facts read in
    /// the last one's transaction, before its rows): written as planned when it
    /// is the next batch given, dropped otherwise.
    ahead: Option<Prepared>,
    /// Batches written the pipelined way (tests check which path ran).
    pipelined: u64,
    /// Of those, batches planned ahead, while the one before was written.
    planned_ahead: u64,
}

/// A batch planned and not yet written: its second round trip, and what it makes
/// known once committed.
struct Prepared {
    /// Its jobs' tickets: a prepared batch is written only for the same jobs.
    tickets: Vec<u64>,
    statements: Vec<Checked>,
    answers: Vec<Result<(), StoreError>>,
    /// Rows it makes, and in `open` the sessions it opens or finds open.
    created: Known,
    sealed: HashSet<Key>,
    /// Every session it has a record for.
    touched: HashSet<Key>,
    /// Bytes it charges per user (`CHARGES`), for the next batch's quota checks.
    charged: BTreeMap<String, i64>,
    changes: Vec<MailChange>,
}

/// A batch's answers, one per job.
type Answers = Vec<Result<(), StoreError>>;

/// What round 1 asks for a batch, gathered from its records.
struct Gathered {
    keys: Vec<Key>,
    sealed_keys: Vec<Key>,
    users: Vec<String>,
    n_messages: i64,
}

fn tickets(batch: &[StoreJob]) -> Vec<u64> {
    batch
        .iter()
        .map(|job| match job {
            StoreJob::Persist(t, _) | StoreJob::Seal(t, _) => t.get(),
        })
        .collect()
}

/// The statements before round 1's facts (a batch's transaction and its settings).
const OPENING: [&str; 3] = [BEGIN, CUSTOM_PLANS, INDEX_PAGES_CACHED];

impl PgBatchWriter {
    /// How many batches went the pipelined way.
    pub fn pipelined_batches(&self) -> u64 {
        self.pipelined
    }

    /// How many of those were planned while the batch before was written.
    pub fn planned_ahead_batches(&self) -> u64 {
        self.planned_ahead
    }

    /// Wraps the shared writer; `feed` is the change feed it announces on.
    pub fn new(
        shared: HistoryWriter<crate::store::postgres::PgConn>,
        feed: broadcast::Sender<MailChange>,
    ) -> Self {
        Self {
            shared,
            feed,
            known: Known::default(),
            ahead: None,
            pipelined: 0,
            planned_ahead: 0,
        }
    }

    /// What round 1 must ask for `batch`, given the rows known (`known`, and
    /// `prior`: the batch before's, when planned ahead); `NotHere` for a record
    /// the pipelined path does not write.
    fn gather(&self, batch: &[StoreJob], prior: &Known) -> Result<Gathered, NotHere> {
        let mut keys: Vec<Key> = Vec::new();
        let mut sealed_keys: Vec<Key> = Vec::new();
        let mut users: Vec<&str> = Vec::new();
        let mut n_messages: i64 = 0;
        for job in batch {
            match job {
                StoreJob::Persist(_, Record::Message(m)) => {
                    let key = key_of(&m.key);
                    if !self.known.open.contains_key(&key) && !prior.open.contains_key(&key) {
                        keys.push(key);
                    }
                    users.push(m.sender.as_str());
                    users.extend(m.recipients.iter().map(UserUri::as_str));
                    n_messages += 1;
                }
                StoreJob::Seal(_, h) => {
                    keys.push(key_of(&h.info.key));
                    sealed_keys.push(key_of(&h.info.key));
                }
                StoreJob::Persist(
                    _,
                    Record::SessionInfo(_)
                    | Record::Standalone(_)
                    | Record::Disposition(_)
                    | Record::Deferred(_)
                    | Record::DeferredDone(_)
                    | Record::KnownUser(_)
                    | Record::GroupState(_),
                ) => return Err(NotHere),
            }
        }
        keys.sort_unstable();
        keys.dedup();
        sealed_keys.sort_unstable();
        sealed_keys.dedup();
        users.sort_unstable();
        users.dedup();
        Ok(Gathered {
            keys,
            sealed_keys,
            users: users.into_iter().map(str::to_owned).collect(),
            n_messages,
        })
    }

    /// Round 1's fact queries for `g`, appended to `out`, and where each is.
    /// Only the facts the batch can use are asked for: each statement costs the
    /// server a plan (`CUSTOM_PLANS`) and a run even when its answer is empty. A
    /// batch of messages of known open sessions asks for none of the sessions'
    /// facts; a batch of seals for no message ids nor usage.
    fn ask_facts(&self, g: Gathered, out: &mut Vec<Piped>) -> Result<Asked, NotHere> {
        let pairs = |keys: &[Key]| -> Vec<PgArg> {
            let (convs, contribs): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
            vec![PgArg::Texts(convs), PgArg::Texts(contribs)]
        };
        let n_sessions = i64::try_from(g.keys.len()).map_err(|_| NotHere)?;
        let mut asked = Asked::default();
        let mut ask = |asked: &mut Option<usize>, statement: Piped| {
            *asked = Some(out.len());
            out.push(statement);
        };
        if !g.keys.is_empty() {
            ask(&mut asked.sessions, (SESSIONS, pairs(&g.keys)));
            ask(
                &mut asked.session_ids,
                (SESSION_IDS, vec![PgArg::one(n_sessions)]),
            );
            let mut conversations: Vec<String> = g.keys.iter().map(|k| k.0.clone()).collect();
            conversations.dedup();
            ask(
                &mut asked.conversations,
                (CONVERSATIONS, vec![PgArg::Texts(conversations)]),
            );
        }
        if !g.sealed_keys.is_empty() {
            ask(&mut asked.messages, (MESSAGES, pairs(&g.sealed_keys)));
        }
        if g.n_messages > 0 {
            ask(
                &mut asked.message_ids,
                (MESSAGE_IDS, vec![PgArg::one(g.n_messages)]),
            );
        }
        if self.shared.user_quota().is_some() && !g.users.is_empty() {
            ask(&mut asked.usage, (USAGE, vec![PgArg::Texts(g.users)]));
        }
        Ok(asked)
    }

    /// Plans `batch` from round 1's `facts`; `prior`: the batch before it when
    /// that one is not committed yet (its rows as good as known, its charges
    /// added to the users' stored bytes).
    fn plan(
        &self,
        batch: &[StoreJob],
        mut facts: Facts,
        prior: Option<&Prepared>,
    ) -> Result<Prepared, NotHere> {
        let quota = self.shared.user_quota();
        if let (Some(_), Some(p)) = (quota, prior) {
            // Round 1 read the users' bytes before the batch before charged them.
            for (uri, size) in &p.charged {
                *facts.usage.entry(uri.clone()).or_insert(0) += size;
            }
        }
        let nothing = Known::default();
        let now = unix_now();
        // Room for what a batch of seals of new sessions makes (two folders
        // each, filed into once each), so no set is rehashed while it fills.
        let n = batch.len();
        let mut plan = Plan {
            known: &self.known,
            prior: prior.map_or(&nothing, |p| &p.created),
            instance: self.shared.instance(),
            quota,
            now,
            date: layout::rfc5322_date(now),
            date_time: layout::iso8601(now),
            facts: facts.sessions,
            messages: facts.messages,
            usage: facts.usage,
            message_ids: facts.message_ids.into_iter(),
            session_ids: facts.session_ids.into_iter(),
            charged: BTreeMap::new(),
            new_users: Vec::new(),
            new_mailboxes: Vec::new(),
            new_conversations: Vec::new(),
            new_sessions: Vec::new(),
            fresh: HashSet::with_capacity(n),
            fresh_folders: HashSet::with_capacity(2 * n),
            existing_conversations: facts.conversations,
            new_messages: MessageRows::default(),
            entries: Vec::new(),
            skips: Vec::new(),
            seals: Vec::new(),
            in_history: Vec::new(),
            no_participants: Vec::new(),
            participants: Vec::new(),
            uids: BTreeMap::new(),
            modseqs: BTreeMap::new(),
            answers: Vec::new(),
            created: Known::with_capacity(n),
            opened: HashMap::with_capacity(n),
            sealed: HashSet::with_capacity(n),
            changes: Vec::with_capacity(2 * n),
        };
        let mut touched = HashSet::with_capacity(n);
        for job in batch {
            let planned = match job {
                StoreJob::Persist(_, Record::Message(m)) => {
                    touched.insert(key_of(&m.key));
                    plan.message(m)
                }
                StoreJob::Seal(_, h) => {
                    touched.insert(key_of(&h.info.key));
                    plan.seal(h)
                }
                StoreJob::Persist(
                    _,
                    Record::SessionInfo(_)
                    | Record::Standalone(_)
                    | Record::Disposition(_)
                    | Record::Deferred(_)
                    | Record::DeferredDone(_)
                    | Record::KnownUser(_)
                    | Record::GroupState(_),
                ) => Err(NotHere),
            };
            planned?;
        }
        let charged = plan.charged.clone();
        let statements = plan.finish();
        let Plan {
            answers,
            mut created,
            opened,
            sealed,
            changes,
            ..
        } = plan;
        created.open = opened;
        Ok(Prepared {
            tickets: tickets(batch),
            statements,
            answers,
            created,
            sealed,
            touched,
            charged,
            changes,
        })
    }

    /// Whether `next` may be planned before `prior` commits: it has no record for
    /// a session `prior` seals, and seals none `prior` has a record for (whose
    /// state or stored messages round 1 would read from before `prior`).
    fn may_plan_after(prior: &Prepared, next: &[StoreJob]) -> bool {
        !next.is_empty()
            && next.iter().all(|job| match job {
                StoreJob::Persist(_, Record::Message(m)) => !prior.sealed.contains(&key_of(&m.key)),
                StoreJob::Seal(_, h) => !prior.touched.contains(&key_of(&h.info.key)),
                StoreJob::Persist(_, _) => false,
            })
    }

    /// Writes `batch` pipelined, and takes the next batch with `ahead`, asks for
    /// its facts in this batch's transaction before this batch's rows and plans it
    /// while the server writes them (the client's work and the server's overlap).
    /// Returns this batch's answers, or `Err(NotHere)` after rolling back when it
    /// is the shared path's (or failed); and the jobs taken ahead.
    ///
    /// The next batch's plan counts on this one: its facts are read before this
    /// batch's rows are written, and what this batch makes is taken as known
    /// (`Plan::prior`). So it is planned ahead only when it does not depend on what
    /// round 1 would read differently after this batch ([`Self::may_plan_after`]),
    /// and written as planned only after this batch committed; if this batch
    /// fails, the plan is dropped and the next batch planned again. The next
    /// batch's UIDs and MODSEQs are reserved when its rows are written, after this
    /// commit: in commit order (STORE-*), as before.
    fn pipelined(
        &mut self,
        batch: &[StoreJob],
        ahead: &mut dyn FnMut() -> Vec<StoreJob>,
    ) -> (Result<Answers, NotHere>, Vec<StoreJob>) {
        let planned = match self.ahead.take() {
            Some(p) if p.tickets == tickets(batch) => Some(p),
            _ => None,
        };
        let in_transaction = planned.is_none();
        let mut prepared = match planned {
            Some(p) => {
                self.planned_ahead += 1;
                p
            }
            None => match self.round_one(batch) {
                Ok(p) => p,
                Err(NotHere) => return (Err(NotHere), Vec::new()),
            },
        };
        // The next batch's facts, asked in this transaction before this batch's
        // rows (so they cannot see them: `Plan::prior` stands for them).
        let next = ahead();
        let mut queries: Vec<Piped> = Vec::new();
        if !in_transaction {
            queries.extend(OPENING.iter().map(|s| (*s, vec![])));
        }
        let next_asked = if Self::may_plan_after(&prepared, &next) {
            self.gather(&next, &prepared.created)
                .and_then(|g| self.ask_facts(g, &mut queries))
                .ok()
        } else {
            None
        };
        let (statements, expected): (Vec<Piped>, Vec<Option<usize>>) =
            std::mem::take(&mut prepared.statements).into_iter().unzip();
        let sent = self.shared.conn_mut().send(queries, statements);
        let mut flight = match sent {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "pipelined batch: sending failed");
                return (Err(self.abandon()), next);
            }
        };
        // While the server writes this batch: the next one's plan.
        let next_plan = next_asked.and_then(|asked| {
            let facts = self
                .shared
                .conn_mut()
                .rows(&mut flight)
                .and_then(|rows| read_facts(&rows, &asked))
                .ok()?;
            self.plan(&next, facts, Some(&prepared)).ok()
        });
        let written = self.shared.conn_mut().counts(flight);
        match self.commit(written, &expected, prepared) {
            Ok(answers) => {
                self.ahead = next_plan;
                (Ok(answers), next)
            }
            Err(NotHere) => (Err(NotHere), next),
        }
    }

    /// Round 1 for a batch not planned ahead: `BEGIN` and its facts, then its
    /// plan (the transaction stays open); `NotHere` after rolling back.
    fn round_one(&mut self, batch: &[StoreJob]) -> Result<Prepared, NotHere> {
        let nothing = Known::default();
        let g = self.gather(batch, &nothing)?;
        let mut query: Vec<Piped> = OPENING.iter().map(|s| (*s, vec![])).collect();
        let asked = self.ask_facts(g, &mut query)?;
        let facts = self
            .shared
            .conn_mut()
            .pipeline(query)
            .and_then(|rows| read_facts(&rows, &asked));
        let facts = match facts {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "pipelined batch: facts failed");
                return Err(self.abandon());
            }
        };
        match self.plan(batch, facts, None) {
            Ok(p) => Ok(p),
            Err(NotHere) => Err(self.abandon()),
        }
    }

    /// Checks the counts of the rows `prepared` wrote and commits; then (never
    /// before) its rows are known and the change feed hears of them.
    fn commit(
        &mut self,
        written: Result<Vec<u64>, DbError>,
        expected: &[Option<usize>],
        prepared: Prepared,
    ) -> Result<Vec<Result<(), StoreError>>, NotHere> {
        // The proof comes before the commit (STORE-14): a statement that wrote
        // fewer rows than it must (a parent another node made first, a folder not
        // found) rolls the whole batch back. With no foreign keys on these tables
        // (migration 10), this is what keeps every row's parent real.
        let proved = written.as_ref().is_ok_and(|counts| {
            counts.len() == expected.len()
                && counts
                    .iter()
                    .zip(expected)
                    .all(|(c, n)| n.is_none_or(|n| usize::try_from(*c).is_ok_and(|c| c == n)))
        });
        let committed = if proved {
            crate::store::sql::Conn::batch(self.shared.conn_mut(), COMMIT)
        } else {
            Err(match written {
                Err(e) => e,
                Ok(counts) => DbError(format!("rows written {counts:?}, expected {expected:?}")),
            })
        };
        if let Err(e) = committed {
            tracing::debug!(error = %e, "pipelined batch failed; writing it record by record");
            return Err(self.abandon());
        }
        // Committed: durable once flushed (STORE-12).
        let Prepared {
            answers,
            created,
            sealed,
            changes,
            ..
        } = prepared;
        self.known.users.extend(created.users);
        self.known.mailboxes.extend(created.mailboxes);
        self.known.conversations.extend(created.conversations);
        self.known.open.extend(created.open);
        for key in &sealed {
            self.known.open.remove(key);
        }
        if !sealed.is_empty() {
            // The shared writer may hold these sessions open in its cache.
            self.shared.forget_cached_rows();
        }
        if self.known.len() > MAX_CACHE_ENTRIES {
            self.known = Known::default();
        }
        for change in changes {
            let _ = self.feed.send(change);
        }
        self.pipelined += 1;
        Ok(answers)
    }

    /// Rolls the batch's transaction back and forgets what it may have made
    /// (and the batch planned after it).
    fn abandon(&mut self) -> NotHere {
        self.ahead = None;
        if let Err(e) = crate::store::sql::Conn::rollback(self.shared.conn_mut()) {
            tracing::warn!(error = %e, "rollback of a pipelined batch failed");
        }
        NotHere
    }
}

/// The facts the batch's first round trip read.
struct Facts {
    sessions: HashMap<Key, SessionFacts>,
    /// Stored messages of the sessions it seals.
    messages: HashMap<Key, Vec<StoredRef>>,
    /// Users' stored bytes.
    usage: HashMap<String, i64>,
    /// Ids for new rows.
    message_ids: Vec<i64>,
    session_ids: Vec<i64>,
    /// The conversations of the sessions it touches that exist.
    conversations: HashSet<String>,
}

/// Where each fact's answer is among round 1's results; `None`: not asked (its
/// answer would have been empty).
#[derive(Debug, Default, Clone, Copy)]
struct Asked {
    sessions: Option<usize>,
    messages: Option<usize>,
    message_ids: Option<usize>,
    session_ids: Option<usize>,
    conversations: Option<usize>,
    usage: Option<usize>,
}

/// Reads the answers of round 1 (`BEGIN`, the `SET LOCAL`s, then the facts asked, at
/// the places `asked` gives); a fact not asked reads as no rows.
fn read_facts(all: &[Vec<Row>], asked: &Asked) -> Result<Facts, DbError> {
    let rows =
        |at: Option<usize>| -> &[Row] { at.and_then(|i| all.get(i)).map_or(&[], Vec::as_slice) };
    let mut sessions = HashMap::new();
    for r in rows(asked.sessions) {
        let has_objects = r.int(4)? != 0;
        sessions.insert(
            (r.text(0)?, r.text(1)?),
            SessionFacts {
                state: r.text(2)?,
                instance: r.int(3)?,
                has_objects,
                id: r.int(5)?,
            },
        );
    }
    let mut messages: HashMap<Key, Vec<StoredRef>> = HashMap::new();
    for r in rows(asked.messages) {
        let seq = u64::try_from(r.int(2)?).map_err(DbError::data)?;
        messages.entry((r.text(0)?, r.text(1)?)).or_default().push((
            seq,
            r.text(3)?,
            split_list(&r.text(4)?),
        ));
    }
    let ids = |at: Option<usize>| -> Result<Vec<i64>, DbError> {
        rows(at).iter().map(|r| r.int(0)).collect()
    };
    let message_ids = ids(asked.message_ids)?;
    let session_ids = ids(asked.session_ids)?;
    let conversations = rows(asked.conversations)
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_, _>>()?;
    let mut usage = HashMap::new();
    for r in rows(asked.usage) {
        usage.insert(r.text(0)?, r.int(1)?);
    }
    Ok(Facts {
        sessions,
        messages,
        usage,
        message_ids,
        session_ids,
        conversations,
    })
}

impl HistoryStore for PgBatchWriter {
    fn persist(&mut self, record: &Record) -> Result<(), StoreError> {
        self.shared.persist(record)
    }

    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError> {
        self.shared.seal(history)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.shared.sync()
    }

    fn take_restored(&mut self, key: &SessionKey) -> Option<Vec<UserUri>> {
        // Session infos go through the shared path, which read the members.
        self.shared.take_restored(key)
    }

    fn detach_sync(&mut self) -> Option<Box<dyn crate::store::pipeline::CommitSync>> {
        // STORE-12: the batch's `COMMIT` no longer waits for the WAL flush, which
        // `pg_flush.rs` does on the sync thread while the next batch is written.
        self.shared.detach_sync()
    }

    fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
        self.write_batch_ahead(batch, &mut Vec::new).0
    }

    fn write_batch_ahead(
        &mut self,
        batch: &[StoreJob],
        ahead: &mut dyn FnMut() -> Vec<StoreJob>,
    ) -> (Vec<Result<(), StoreError>>, Vec<StoreJob>) {
        let (written, next) = self.pipelined(batch, ahead);
        if let Ok(answers) = written {
            return (answers, next);
        }
        // The shared path may seal sessions the pipelined one knows open.
        self.known.open.clear();
        self.ahead = None;
        (write_each(&mut self.shared, batch), next)
    }
}

#[cfg(test)]
mod facts_tests {
    use super::{read_facts, Asked};
    use crate::store::sql::{Row, Val};

    /// Round 1 asks only for the facts a batch can use: each answer is read from
    /// where it was asked, and a fact not asked reads as none.
    #[test]
    fn facts_are_read_where_they_were_asked() {
        let ids = |v: &[i64]| {
            v.iter()
                .map(|i| Row(vec![Val::Int(*i)]))
                .collect::<Vec<_>>()
        };
        // BEGIN, SET LOCAL, then message ids and usage only (messages of known
        // open sessions).
        let all = vec![
            vec![],
            vec![],
            ids(&[41, 42]),
            vec![Row(vec![Val::Text("sip:a@x".into()), Val::Int(7)])],
        ];
        let asked = Asked {
            message_ids: Some(2),
            usage: Some(3),
            ..Asked::default()
        };
        let facts = read_facts(&all, &asked).unwrap();
        assert_eq!(facts.message_ids, vec![41, 42]);
        assert!(facts.session_ids.is_empty() && facts.sessions.is_empty());
        assert!(facts.messages.is_empty() && facts.conversations.is_empty());
        assert_eq!(facts.usage.get("sip:a@x"), Some(&7));
        // Seals only: sessions, their ids and conversations, no message ids.
        let all = vec![
            vec![],
            vec![],
            vec![],
            ids(&[9]),
            vec![Row(vec![Val::Text("c1".into())])],
        ];
        let asked = Asked {
            sessions: Some(2),
            session_ids: Some(3),
            conversations: Some(4),
            ..Asked::default()
        };
        let facts = read_facts(&all, &asked).unwrap();
        assert_eq!(facts.session_ids, vec![9]);
        assert!(facts.message_ids.is_empty() && facts.usage.is_empty());
        assert!(facts.conversations.contains("c1"));
    }
}
