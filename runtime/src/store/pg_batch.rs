//! The PostgreSQL store's group commit in two round trips: [`PgBatchWriter`]
//! writes a batch of chat messages and seals as one transaction whose statements
//! are pipelined (`PgConn::pipeline`), instead of one round trip per statement
//! (about 10 per message and 30 per seal through the shared write path).
//!
//! 1. `BEGIN` and the facts the batch depends on, in one round trip: the state of
//!    each session it touches (open, sealed, whose, with filed info objects), the
//!    stored messages of each session it seals, and the stored bytes of each user
//!    it files for (LIM-14).
//! 2. Every statement of every record, then `COMMIT`, in one round trip: first the
//!    rows the batch creates (users, mailboxes, conversations, sessions), then one
//!    update per mailbox and per user reserving the UIDs and MODSEQs the batch
//!    files, then the records in order, then one `user_usage` update per user. No
//!    statement needs an earlier one's answer: rows are named by their natural keys
//!    (user URI, mailbox name, Conversation-ID and Contribution-ID), a message's
//!    entries refer to it by `currval` of its sequence, and each entry's UID and
//!    MODSEQ is its place below the reserved top, so they are the same as the
//!    shared path's one increment per entry.
//!
//! What it writes is exactly what the shared path (`history.rs`) writes for the
//! same records (the store tests run both, on every backend: specs/store.md). It
//! does not handle the rarer cases: a batch with a session info, standalone or
//! disposition record, a seal that must expunge (HIST-3) or replace filed objects,
//! a record for a session that is sealed or another instance's (HIST-2, SEC-7), or
//! any error. Such a batch is rolled back (nothing of it was committed) and written
//! again through the shared path, which answers each record on its own. A record
//! is acknowledged only after the commit that holds it (MSG-1), on both paths.

use std::collections::{BTreeMap, HashMap, HashSet};

use cpmd_core::server::{
    HistoryObject, Record, SessionKey, SessionType, StoreError, StoredMessage,
};
use cpmd_core::UserUri;
use tokio::sync::broadcast;

use crate::mailstore::MailChange;
use crate::store::history::HistoryWriter;
use crate::store::layout::{self, Direction, MessageParts, INBOX, ROOT};
use crate::store::ops::{bits, join_list, split_list, unix_now, MAX_CACHE_ENTRIES};
use crate::store::postgres::{PgConn, Piped};
use crate::store::sql::{DbError, Row, Val};
use crate::store::{write_each, HistoryStore, StoreJob};

/// The sessions a batch touches: `(Conversation-ID, Contribution-ID)`.
type Key = (String, String);

fn key_of(k: &SessionKey) -> Key {
    (
        k.conversation_id.as_str().to_owned(),
        k.contribution_id.as_str().to_owned(),
    )
}

const BEGIN: &str = "BEGIN";
const COMMIT: &str = "COMMIT";
// A restarted group's reopened session (GRP-23: open with a sequence-number base)
// reads as `reopened`: the shared path numbers and seals it.
const SESSIONS: &str = "SELECT cv.conversation_id, s.contribution_id, \
     CASE WHEN s.state = 'open' AND s.watermark IS NOT NULL THEN 'reopened' ELSE s.state END, s.instance, \
     EXISTS (SELECT 1 FROM entries e WHERE e.kind IN ('info', 'group_state') AND e.ref_id = s.id AND e.expunged = 0)::int \
     FROM json_to_recordset($1::text::json) AS k(conv text, contrib text) \
     JOIN conversations cv ON cv.conversation_id = k.conv \
     JOIN sessions s ON s.conversation = cv.id AND s.contribution_id = k.contrib";
const MESSAGES: &str =
    "SELECT cv.conversation_id, s.contribution_id, m.seq, m.sender, m.recipients \
     FROM json_to_recordset($1::text::json) AS k(conv text, contrib text) \
     JOIN conversations cv ON cv.conversation_id = k.conv \
     JOIN sessions s ON s.conversation = cv.id AND s.contribution_id = k.contrib \
     JOIN messages m ON m.session = s.id ORDER BY m.seq";
const USAGE: &str =
    "SELECT u.uri, q.stored_bytes FROM json_array_elements_text($1::text::json) AS k(uri) \
     JOIN users u ON u.uri = k.uri JOIN user_usage q ON q.user_id = u.id";
const NEW_USER: &str =
    "INSERT INTO users (uri, modseq) VALUES ($1, 1) ON CONFLICT (uri) DO NOTHING";
const NEW_MAILBOX: &str = "INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
     SELECT id, $2::text, $3::bigint, 1 FROM users WHERE uri = $1 ON CONFLICT (user_id, name) DO NOTHING";
const NEW_CONVERSATION: &str = "INSERT INTO conversations (conversation_id) VALUES ($1) \
     ON CONFLICT (conversation_id) DO NOTHING";
const NEW_SESSION: &str = "INSERT INTO sessions (conversation, contribution_id, instance, core_session, state) \
     SELECT id, $2::text, $3::bigint, $4::bigint, 'open' FROM conversations WHERE conversation_id = $1 \
     ON CONFLICT (conversation, contribution_id) DO NOTHING RETURNING 1";
const NEW_MESSAGE: &str = "INSERT INTO messages (session, seq, message_id, sender, recipients, content_type, body, date, received_at) \
     VALUES ((SELECT s.id FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
     WHERE cv.conversation_id = $1 AND s.contribution_id = $2), $3, $4, $5, $6, $7, $8, $9, $10)";
/// Files an entry under a UID and a MODSEQ reserved for the batch ([`RESERVE_UIDS`],
/// [`RESERVE_MODSEQS`]): `$3` and `$4` are how far below the reserved tops this
/// entry's values are, so each entry gets the value the record-by-record path's
/// increments would give it. `RETURNING 1` proves the row was written.
const MESSAGE_ENTRY: &str = "INSERT INTO entries (mailbox, uid, modseq, flags, internal_date, kind, ref_id, size, raw, expunged) \
     SELECT mb.id, mb.uid_next - $3::bigint, u.modseq - $4::bigint, $5::bigint, $6::bigint, 'message', \
     currval('messages_id_seq'), $7::bigint, $8::bytea, 0 \
     FROM users u JOIN mailboxes mb ON mb.user_id = u.id AND mb.name = $2 WHERE u.uri = $1 RETURNING 1";
const SESSION_ENTRY: &str = "INSERT INTO entries (mailbox, uid, modseq, flags, internal_date, kind, ref_id, size, raw, expunged) \
     SELECT mb.id, mb.uid_next - $3::bigint, u.modseq - $4::bigint, $5::bigint, $6::bigint, $9::text, \
     (SELECT s.id FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
     WHERE cv.conversation_id = $10 AND s.contribution_id = $11), $7::bigint, $8::bytea, 0 \
     FROM users u JOIN mailboxes mb ON mb.user_id = u.id AND mb.name = $2 WHERE u.uri = $1 RETURNING 1";
/// Takes a mailbox's next `$3` UIDs for the batch: one update of the row per batch
/// rather than one per entry (PostgreSQL keeps every version of a row updated again
/// and again in one transaction, and each update walks them all). The row stays
/// locked to the commit, as with one update per entry.
const RESERVE_UIDS: &str = "UPDATE mailboxes SET uid_next = uid_next + $3 \
     WHERE user_id = (SELECT id FROM users WHERE uri = $1) AND name = $2 RETURNING 1";
/// Takes a user's next `$2` MODSEQs for the batch (as [`RESERVE_UIDS`]).
const RESERVE_MODSEQS: &str = "UPDATE users SET modseq = modseq + $2 WHERE uri = $1 RETURNING 1";
const CHARGE: &str = "INSERT INTO user_usage (user_id, stored_bytes) SELECT id, $2::bigint FROM users WHERE uri = $1 \
     ON CONFLICT (user_id) DO UPDATE SET stored_bytes = user_usage.stored_bytes + excluded.stored_bytes";
const SKIP: &str = "INSERT INTO quota_skips (user_id, kind, ref_id, size, at) \
     SELECT id, 'message', currval('messages_id_seq'), $2::bigint, $3::bigint FROM users WHERE uri = $1";
const SEAL: &str = "UPDATE sessions SET session_type = $3, from_uri = $4, to_uri = $5, date = $6, subject = $7, \
     in_reply_to = $8, sdp = $9, media_attributes = $10, invited = $11, state = 'sealed', watermark = $12, \
     sealed_at = $13 \
     WHERE conversation = (SELECT id FROM conversations WHERE conversation_id = $1) \
     AND contribution_id = $2 AND state = 'open' AND instance = $14 RETURNING 1";
const IN_HISTORY: &str = "UPDATE messages SET in_history = 1 WHERE session = \
     (SELECT s.id FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
     WHERE cv.conversation_id = $1 AND s.contribution_id = $2)";
const NO_PARTICIPANTS: &str = "DELETE FROM participants WHERE session = \
     (SELECT s.id FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
     WHERE cv.conversation_id = $1 AND s.contribution_id = $2)";
const PARTICIPANT: &str = "INSERT INTO participants (session, position, uri, state) VALUES (\
     (SELECT s.id FROM sessions s JOIN conversations cv ON s.conversation = cv.id \
     WHERE cv.conversation_id = $1 AND s.contribution_id = $2), $3, $4, $5)";

/// Rows known to exist in the database (committed): created by an earlier batch of
/// this writer or found by one. Rows are never deleted, so they stay known; the
/// sessions in `open` are this instance's and open until this writer seals them.
#[derive(Debug, Default)]
struct Known {
    /// Users with their `INBOX` and `Default` mailboxes.
    users: HashSet<String>,
    /// `(user URI, mailbox name)`.
    mailboxes: HashSet<(String, String)>,
    conversations: HashSet<String>,
    open: HashSet<Key>,
}

impl Known {
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
}

/// A stored message of a session being sealed: `(seq, sender, recipients)`.
type StoredRef = (u64, String, Vec<String>);

/// The statements of one batch, built record by record.
struct Plan<'a> {
    known: &'a Known,
    instance: i64,
    quota: Option<u64>,
    now: i64,
    date: String,
    date_time: String,
    facts: HashMap<Key, SessionFacts>,
    messages: HashMap<Key, Vec<StoredRef>>,
    usage: HashMap<String, i64>,
    /// Bytes charged per user in this batch, not yet written.
    charged: BTreeMap<String, i64>,
    /// Rows the batch creates (users, mailboxes, conversations, sessions): they go
    /// first, before the reservations.
    head: Vec<Piped>,
    statements: Vec<Piped>,
    /// Indices of statements that must return exactly one row (in `head` and in
    /// `statements`).
    head_one_row: Vec<usize>,
    one_row: Vec<usize>,
    /// Entries filed per mailbox and per user so far: the next entry's place in
    /// its mailbox's UIDs and its user's MODSEQs.
    uids: BTreeMap<(String, String), i64>,
    modseqs: BTreeMap<String, i64>,
    /// Each entry statement: (index, user, mailbox, place among the mailbox's
    /// UIDs, place among the user's MODSEQs), its offsets filled in at the end.
    entries: Vec<(usize, String, String, i64, i64)>,
    answers: Vec<Result<(), StoreError>>,
    created: Known,
    opened: HashSet<Key>,
    sealed: HashSet<Key>,
    changes: Vec<MailChange>,
}

/// A batch the pipelined path leaves to the shared one.
struct NotHere;

impl Plan<'_> {
    fn push(&mut self, sql: &'static str, params: Vec<Val>) {
        self.statements.push((sql, params));
    }

    fn push_one_row(&mut self, sql: &'static str, params: Vec<Val>) {
        self.one_row.push(self.statements.len());
        self.push(sql, params);
    }

    fn create(&mut self, sql: &'static str, params: Vec<Val>) {
        self.head.push((sql, params));
    }

    fn create_one_row(&mut self, sql: &'static str, params: Vec<Val>) {
        self.head_one_row.push(self.head.len());
        self.create(sql, params);
    }

    /// An entry statement for `uri`'s `mailbox`: the UID and MODSEQ offsets
    /// (parameters `$3`, `$4`) are placeholders until [`Plan::finish`].
    fn entry(&mut self, sql: &'static str, uri: &str, mailbox: &str, params: Vec<Val>) {
        let k = self
            .uids
            .entry((uri.to_owned(), mailbox.to_owned()))
            .or_insert(0);
        let place_uid = *k;
        *k += 1;
        let j = self.modseqs.entry(uri.to_owned()).or_insert(0);
        let place_modseq = *j;
        *j += 1;
        self.entries.push((
            self.statements.len(),
            uri.to_owned(),
            mailbox.to_owned(),
            place_uid,
            place_modseq,
        ));
        self.push_one_row(sql, params);
    }

    /// The whole pipeline: creations, reservations, the records' statements with
    /// their offsets, the charges, `COMMIT`; and the indices that must return one
    /// row.
    fn finish(&mut self) -> (Vec<Piped>, Vec<usize>) {
        for (i, uri, mailbox, place_uid, place_modseq) in std::mem::take(&mut self.entries) {
            let n = self.uids[&(uri.clone(), mailbox)];
            let m = self.modseqs[&uri];
            let params = &mut self.statements[i].1;
            params[2] = Val::Int(n - place_uid);
            params[3] = Val::Int(m - 1 - place_modseq);
        }
        self.charges();
        self.push(COMMIT, vec![]);
        let mut all = std::mem::take(&mut self.head);
        let mut one_row = std::mem::take(&mut self.head_one_row);
        for ((uri, mailbox), n) in &self.uids {
            one_row.push(all.len());
            all.push((
                RESERVE_UIDS,
                vec![uri.as_str().into(), mailbox.as_str().into(), (*n).into()],
            ));
        }
        for (uri, m) in &self.modseqs {
            one_row.push(all.len());
            all.push((RESERVE_MODSEQS, vec![uri.as_str().into(), (*m).into()]));
        }
        let offset = all.len();
        one_row.extend(self.one_row.iter().map(|i| i + offset));
        all.append(&mut self.statements);
        (all, one_row)
    }

    fn user(&mut self, uri: &str) {
        if self.known.users.contains(uri) || self.created.users.contains(uri) {
            return;
        }
        self.create(NEW_USER, vec![uri.into()]);
        for name in [INBOX, ROOT] {
            self.mailbox(uri, name);
        }
        self.created.users.insert(uri.to_owned());
    }

    fn mailbox(&mut self, uri: &str, name: &str) {
        let key = (uri.to_owned(), name.to_owned());
        if self.known.mailboxes.contains(&key) || self.created.mailboxes.contains(&key) {
            return;
        }
        let uid_validity = self.now.clamp(1, i64::from(u32::MAX));
        self.create(
            NEW_MAILBOX,
            vec![uri.into(), name.into(), uid_validity.into()],
        );
        self.created.mailboxes.insert(key);
    }

    /// The user and the session folder with its parent (as `Ops::add_entry`).
    fn folder(&mut self, uri: &str, mailbox: &str) {
        self.user(uri);
        if let Some((parent, _)) = mailbox.rsplit_once(layout::DELIMITER) {
            if parent != ROOT {
                self.mailbox(uri, parent);
            }
        }
        self.mailbox(uri, mailbox);
        let change = MailChange {
            user: UserUri::new_canonical(uri),
            mailbox: mailbox.to_owned(),
        };
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }

    /// Makes sure the session is open and this instance's (creating it when new);
    /// a sealed or foreign one is the shared path's to refuse.
    fn session(&mut self, k: &SessionKey) -> Result<(), NotHere> {
        let key = key_of(k);
        if self.sealed.contains(&key) {
            return Err(NotHere);
        }
        if self.known.open.contains(&key) || self.opened.contains(&key) {
            return Ok(());
        }
        match self.facts.get(&key) {
            Some(f) if f.state == "open" && f.instance == self.instance => {}
            Some(_) => return Err(NotHere),
            None => {
                if !self.known.conversations.contains(&key.0)
                    && !self.created.conversations.contains(&key.0)
                {
                    self.create(NEW_CONVERSATION, vec![key.0.as_str().into()]);
                    self.created.conversations.insert(key.0.clone());
                }
                let core_session = i64::try_from(k.session.get()).map_err(|_| NotHere)?;
                self.create_one_row(
                    NEW_SESSION,
                    vec![
                        key.0.as_str().into(),
                        key.1.as_str().into(),
                        self.instance.into(),
                        core_session.into(),
                    ],
                );
            }
        }
        self.opened.insert(key);
        Ok(())
    }

    fn over_quota(&self, uri: &str) -> bool {
        self.quota.is_some_and(|q| {
            u64::try_from(self.usage.get(uri).copied().unwrap_or(0)).unwrap_or(0) >= q
        })
    }

    /// Counts `size` against the user now (later records of the batch see it);
    /// written once per user at the end of the batch ([`Plan::charges`]).
    fn charge(&mut self, uri: &str, size: i64) {
        *self.usage.entry(uri.to_owned()).or_insert(0) += size;
        *self.charged.entry(uri.to_owned()).or_insert(0) += size;
    }

    /// One `user_usage` update per user charged in the batch: the sum of its
    /// charges, the same total as one update per object.
    fn charges(&mut self) {
        for (uri, size) in std::mem::take(&mut self.charged) {
            self.push(CHARGE, vec![uri.as_str().into(), size.into()]);
        }
    }

    fn message(&mut self, m: &StoredMessage) -> Result<(), NotHere> {
        self.session(&m.key)?;
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
        self.push(
            NEW_MESSAGE,
            vec![
                key.0.as_str().into(),
                key.1.as_str().into(),
                seq.into(),
                m.message_id.as_str().into(),
                m.sender.as_str().into(),
                join_list(&recipients).into(),
                m.content_type.as_str().into(),
                Val::Bytes(m.body.clone()),
                self.date.as_str().into(),
                self.now.into(),
            ],
        );
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
        self.file_message(m.sender.as_str(), &mailbox, bits::SEEN, sent);
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
                self.push(SKIP, vec![r.as_str().into(), size.into(), self.now.into()]);
                continue;
            }
            self.file_message(r, &mailbox, 0, received.clone());
        }
        self.messages.entry(key).or_default().push((
            m.seq,
            m.sender.as_str().to_owned(),
            recipients,
        ));
        self.answers.push(Ok(()));
        Ok(())
    }

    fn file_message(&mut self, uri: &str, mailbox: &str, flags: i64, raw: Vec<u8>) {
        self.folder(uri, mailbox);
        let size = i64::try_from(raw.len()).unwrap_or(i64::MAX);
        let params = vec![
            uri.into(),
            mailbox.into(),
            Val::Int(0),
            Val::Int(0),
            flags.into(),
            self.now.into(),
            size.into(),
            Val::Bytes(raw),
        ];
        self.entry(MESSAGE_ENTRY, uri, mailbox, params);
        self.charge(uri, size);
    }

    fn seal(&mut self, h: &HistoryObject) -> Result<(), NotHere> {
        let key = key_of(&h.info.key);
        if self.facts.get(&key).is_some_and(|f| f.has_objects) {
            return Err(NotHere);
        }
        self.session(&h.info.key)?;
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
        let k = || -> Vec<Val> { vec![key.0.as_str().into(), key.1.as_str().into()] };
        let mut params = k();
        params.extend([
            layout::session_type_token(info.session_type).into(),
            info.from.as_str().into(),
            info.to.as_str().into(),
            info.date.as_str().into(),
            info.subject.clone().into(),
            info.in_reply_to
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .into(),
            info.sdp.as_str().into(),
            join_list(&info.media_attributes).into(),
            join_list(&invited).into(),
            watermark.into(),
            self.now.into(),
            self.instance.into(),
        ]);
        self.push_one_row(SEAL, params);
        if !stored.is_empty() {
            self.push(IN_HISTORY, k());
        }
        if self.facts.contains_key(&key) {
            // A session made in this batch has no participant rows yet.
            self.push(NO_PARTICIPANTS, k());
        }
        for (i, p) in h.participants.iter().enumerate() {
            let mut params = k();
            params.extend([
                i64::try_from(i).map_err(|_| NotHere)?.into(),
                p.user.as_str().into(),
                p.state.as_str().into(),
            ]);
            self.push(PARTICIPANT, params);
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
        let raw = layout::session_info_object(info, false);
        for p in &parties {
            self.session_entry(&key, p, &mailbox, "info", &raw);
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
                self.session_entry(&key, p, &mailbox, "group_state", &raw);
            }
        }
        self.opened.remove(&key);
        self.sealed.insert(key);
        self.answers.push(Ok(()));
        Ok(())
    }

    fn session_entry(&mut self, key: &Key, uri: &str, mailbox: &str, kind: &str, raw: &[u8]) {
        self.folder(uri, mailbox);
        let size = i64::try_from(raw.len()).unwrap_or(i64::MAX);
        let params = vec![
            uri.into(),
            mailbox.into(),
            Val::Int(0),
            Val::Int(0),
            Val::Int(0),
            self.now.into(),
            size.into(),
            Val::Bytes(raw.to_vec()),
            kind.into(),
            key.0.as_str().into(),
            key.1.as_str().into(),
        ];
        self.entry(SESSION_ENTRY, uri, mailbox, params);
    }
}

/// The PostgreSQL write path: the pipelined batch, or the shared path when the
/// batch is not one it handles.
pub struct PgBatchWriter {
    shared: HistoryWriter<PgConn>,
    feed: broadcast::Sender<MailChange>,
    known: Known,
    /// Batches written the pipelined way (tests check which path ran).
    pipelined: u64,
}

impl PgBatchWriter {
    /// How many batches went the pipelined way.
    pub fn pipelined_batches(&self) -> u64 {
        self.pipelined
    }

    /// Wraps the shared writer; `feed` is the change feed it announces on.
    pub fn new(shared: HistoryWriter<PgConn>, feed: broadcast::Sender<MailChange>) -> Self {
        Self {
            shared,
            feed,
            known: Known::default(),
            pipelined: 0,
        }
    }

    /// Writes `batch` pipelined; `Err(NotHere)` after rolling back when it is the
    /// shared path's (or failed).
    fn pipelined(&mut self, batch: &[StoreJob]) -> Result<Vec<Result<(), StoreError>>, NotHere> {
        let mut keys: Vec<Key> = Vec::new();
        let mut sealed_keys: Vec<Key> = Vec::new();
        let mut users: Vec<&str> = Vec::new();
        for job in batch {
            match job {
                StoreJob::Persist(_, Record::Message(m)) => {
                    let key = key_of(&m.key);
                    if !self.known.open.contains(&key) {
                        keys.push(key);
                    }
                    users.push(m.sender.as_str());
                    users.extend(m.recipients.iter().map(UserUri::as_str));
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
        let quota = self.shared.user_quota();
        let pairs = |keys: &[Key]| -> Val {
            let list: Vec<serde_json::Value> = keys
                .iter()
                .map(|(c, k)| serde_json::json!({ "conv": c, "contrib": k }))
                .collect();
            serde_json::Value::Array(list).to_string().into()
        };
        let mut facts_query: Vec<Piped> = vec![(BEGIN, vec![])];
        facts_query.push((SESSIONS, vec![pairs(&keys)]));
        facts_query.push((MESSAGES, vec![pairs(&sealed_keys)]));
        if quota.is_some() {
            users.sort_unstable();
            users.dedup();
            facts_query.push((USAGE, vec![serde_json::json!(users).to_string().into()]));
        }
        let conn = self.shared.conn_mut();
        let facts = conn.pipeline(&facts_query);
        let facts = facts.and_then(|rows| read_facts(&rows));
        let (facts, messages, usage) = match facts {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "pipelined batch: facts failed");
                return Err(self.abandon());
            }
        };
        let now = unix_now();
        let mut plan = Plan {
            known: &self.known,
            instance: self.shared.instance(),
            quota,
            now,
            date: layout::rfc5322_date(now),
            date_time: layout::iso8601(now),
            facts,
            messages,
            usage,
            charged: BTreeMap::new(),
            head: Vec::new(),
            statements: Vec::new(),
            head_one_row: Vec::new(),
            one_row: Vec::new(),
            uids: BTreeMap::new(),
            modseqs: BTreeMap::new(),
            entries: Vec::new(),
            answers: Vec::new(),
            created: Known::default(),
            opened: HashSet::new(),
            sealed: HashSet::new(),
            changes: Vec::new(),
        };
        for job in batch {
            let planned = match job {
                StoreJob::Persist(_, Record::Message(m)) => plan.message(m),
                StoreJob::Seal(_, h) => plan.seal(h),
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
            if planned.is_err() {
                return Err(self.abandon());
            }
        }
        let (statements, one_row) = plan.finish();
        let Plan {
            answers,
            created,
            opened,
            sealed,
            changes,
            ..
        } = plan;
        let written = self.shared.conn_mut().pipeline(&statements);
        let proved = written.as_ref().is_ok_and(|rows| {
            one_row
                .iter()
                .all(|i| rows.get(*i).is_some_and(|r| r.len() == 1))
        });
        if !proved {
            if let Err(e) = written {
                tracing::debug!(error = %e, "pipelined batch failed; writing it record by record");
            }
            return Err(self.abandon());
        }
        // Committed: durable. Now (never before) the rows are known and the change
        // feed hears of them.
        self.known.users.extend(created.users);
        self.known.mailboxes.extend(created.mailboxes);
        self.known.conversations.extend(created.conversations);
        self.known.open.extend(opened);
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

    /// Rolls the batch's transaction back and forgets what it may have made.
    fn abandon(&mut self) -> NotHere {
        if let Err(e) = crate::store::sql::Conn::rollback(self.shared.conn_mut()) {
            tracing::warn!(error = %e, "rollback of a pipelined batch failed");
        }
        NotHere
    }
}

/// The facts the batch's first round trip read: sessions, stored messages of the
/// sessions it seals, users' stored bytes.
type Facts = (
    HashMap<Key, SessionFacts>,
    HashMap<Key, Vec<StoredRef>>,
    HashMap<String, i64>,
);

fn read_facts(rows: &[Vec<Row>]) -> Result<Facts, DbError> {
    let mut facts = HashMap::new();
    for r in rows.get(1).into_iter().flatten() {
        let has_objects = r.int(4)? != 0;
        facts.insert(
            (r.text(0)?, r.text(1)?),
            SessionFacts {
                state: r.text(2)?,
                instance: r.int(3)?,
                has_objects,
            },
        );
    }
    let mut messages: HashMap<Key, Vec<StoredRef>> = HashMap::new();
    for r in rows.get(2).into_iter().flatten() {
        let seq = u64::try_from(r.int(2)?).map_err(DbError::data)?;
        messages.entry((r.text(0)?, r.text(1)?)).or_default().push((
            seq,
            r.text(3)?,
            split_list(&r.text(4)?),
        ));
    }
    let mut usage = HashMap::new();
    for r in rows.get(3).into_iter().flatten() {
        usage.insert(r.text(0)?, r.int(1)?);
    }
    Ok((facts, messages, usage))
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

    fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
        if let Ok(answers) = self.pipelined(batch) {
            return answers;
        }
        // The shared path may seal sessions the pipelined one knows open.
        self.known.open.clear();
        write_each(&mut self.shared, batch)
    }
}
