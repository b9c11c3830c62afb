//! The write path: [`HistoryWriter`] carries out the core's `Persist` and
//! `SealSession` on either backend, and seals at start-up the sessions a crash left
//! open.
//!
//! One database transaction per batch: the first record after a commit opens it,
//! each record runs inside a savepoint (a failing record is rolled back alone and
//! answered with an error, the others go on), and [`HistoryStore::sync`] commits —
//! with SQLite's `synchronous=FULL` or PostgreSQL's default `synchronous_commit`,
//! the commit is the fsync. The mailbox change feed hears of a change only after
//! its commit.
//!
//! Where objects go (specs/store.md): a message object into the session folder of
//! its sender (`sent`, `\Seen`) and of each recipient (`received`) as soon as it is
//! durable; the session info object (and, for groups, the group state object) into
//! the folder of every party when the info is persisted (groups) and when the
//! session is sealed. Nothing of a session is filed for a user who is not a party,
//! so C never sees the 1-to-1.

use cpmd_core::server::{
    DispositionRecord, HistoryObject, Record, SessionInfo, SessionKey, SessionType,
    StandaloneMessage, StoreError, StoredMessage,
};
use cpmd_core::{ContributionId, UserUri};
use std::collections::BTreeMap;

use tokio::sync::broadcast;

use crate::mailstore::MailChange;
use crate::store::layout::{self, MessageParts};
use crate::store::ops::{
    bits, join_list, split_list, unique_changes, unix_now, Cache, NewEntry, Ops,
};
use crate::store::row_batch::RowBatch;
use crate::store::sql::{in_tx, Conn, DbError, Row, Val};
use crate::store::{deferred, group_state, quota, recovery, restart, seal_new};
use crate::store::{write_each, HistoryStore, StoreJob};

/// The history writer over one connection.
pub struct HistoryWriter<C: Conn> {
    conn: C,
    instance: i64,
    in_batch: bool,
    /// The batch transaction was lost (a savepoint could not be rolled back, e.g.
    /// SQLite rolled the whole transaction back on a full disk): every further
    /// record of the batch fails without writing, and so does the commit, so
    /// nothing runs outside the transaction and nothing is answered "ok".
    broken: bool,
    /// Each record runs in its own savepoint (so a failing one is undone alone).
    /// Off for the first attempt at a group commit ([`HistoryWriter::write_batch`]):
    /// a savepoint costs SQLite a copy of every page the record touches.
    savepoints: bool,
    /// A record failed while `savepoints` was off: the batch transaction is rolled
    /// back and the whole batch written again, record by record in savepoints.
    lost_record: bool,
    /// Group commits written twice because a record failed (for the tests).
    retried_batches: u64,
    cache: Cache,
    changes: Vec<MailChange>,
    feed: broadcast::Sender<MailChange>,
    /// GRP-40: the members each restart of this batch invites, by the restarted
    /// group's key, until the store task takes them with the answer.
    restored: BTreeMap<SessionKey, Vec<UserUri>>,
    /// The last group commit's row buffers, emptied, for the next one
    /// ([`RowBatch::recycled`]): each batch grew its own from nothing.
    spare_rows: Option<RowBatch>,
}

impl<C: Conn> HistoryWriter<C> {
    /// A writer for the cpmd instance `instance` (sessions it creates are its own;
    /// crash recovery seals only its own).
    pub fn new(mut conn: C, instance: i64, feed: broadcast::Sender<MailChange>) -> Self {
        // A check that cannot fail is not run per row (`Conn::trust_parents`).
        if let Err(e) = conn.trust_parents() {
            tracing::warn!(error = %e, "store: the writer checks foreign keys");
        }
        Self {
            conn,
            instance,
            in_batch: false,
            broken: false,
            savepoints: true,
            lost_record: false,
            retried_batches: 0,
            cache: Cache::default(),
            changes: Vec::new(),
            feed,
            restored: BTreeMap::new(),
            spare_rows: None,
        }
    }

    /// Applies a quota on each user's stored message bytes (LIM-14).
    pub fn with_user_quota(mut self, bytes: u64) -> Self {
        self.cache.user_quota_bytes = Some(bytes);
        self
    }

    /// The connection, for a backend's own batch path (`pg_batch.rs`), used only
    /// between batches (no transaction of this writer is open then).
    pub(crate) fn conn_mut(&mut self) -> &mut C {
        &mut self.conn
    }

    /// The cpmd instance this writer writes for.
    pub(crate) fn instance(&self) -> i64 {
        self.instance
    }

    /// The quota on each user's stored message bytes, if any (LIM-14).
    pub(crate) fn user_quota(&self) -> Option<u64> {
        self.cache.user_quota_bytes
    }

    /// Group commits written a second time, in savepoints, because one of their
    /// records failed.
    pub fn retried_batches(&self) -> u64 {
        self.retried_batches
    }

    /// Forgets the cached row ids, open sessions among them: another write path
    /// sealed sessions this cache may still hold open (HIST-2).
    pub(crate) fn forget_cached_rows(&mut self) {
        self.cache.clear();
    }

    /// Seals, as ended by crash, every session of this instance still open in the
    /// store (the process died before their seal): the history object holds what
    /// was stored. Returns the Contribution-IDs sealed.
    pub fn recover(&mut self) -> Result<Vec<String>, DbError> {
        let instance = self.instance;
        let now = unix_now();
        let mut changes = Vec::new();
        let cache = &mut self.cache;
        let sealed = in_tx(&mut self.conn, |conn| {
            let mut ops = Ops {
                conn,
                cache,
                changes: &mut changes,
                now,
            };
            let open = ops.conn.query(
                "SELECT id FROM sessions WHERE instance = $1 AND state = 'open' ORDER BY id",
                &[instance.into()],
            )?;
            let mut sealed = Vec::new();
            for row in open {
                let history = recovery::stored_history(&mut ops, row.int(0)?)?;
                sealed.push(history.info.key.contribution_id.as_str().to_owned());
                seal(&mut ops, instance, &history, true)?;
            }
            Ok(sealed)
        });
        if sealed.is_err() {
            self.cache.clear();
            return sealed;
        }
        for c in unique_changes(changes) {
            let _ = self.feed.send(c);
        }
        sealed
    }

    /// Writes the chat message rows the batch kept (`row_batch.rs`), if any. A
    /// failure loses the batch's first attempt (it is rolled back and written again
    /// record by record): returns whether it failed.
    fn flush_rows(&mut self) -> bool {
        let Some(rows) = self.cache.rows.as_mut() else {
            return false;
        };
        if self.broken || self.lost_record {
            return false;
        }
        match rows.flush(&mut self.conn) {
            Ok(()) => false,
            Err(e) => {
                tracing::debug!(error = %e, "store: the batch's message rows failed; written again record by record");
                self.lost_record = true;
                true
            }
        }
    }

    /// Runs one record's writes inside the batch transaction, in a savepoint.
    fn record(
        &mut self,
        f: impl FnOnce(&mut Ops<'_, C>, i64) -> Result<(), DbError>,
    ) -> Result<(), StoreError> {
        if self.broken {
            return Err(StoreError::Failed {
                reason: "the batch transaction was lost".into(),
            });
        }
        if !self.in_batch {
            self.conn.begin().map_err(store_error)?;
            self.in_batch = true;
        }
        if !self.savepoints {
            if self.lost_record {
                return Err(StoreError::Failed {
                    reason: "written again record by record".into(),
                });
            }
            let mut ops = Ops {
                conn: &mut self.conn,
                cache: &mut self.cache,
                changes: &mut self.changes,
                now: unix_now(),
            };
            // A failure leaves the transaction with part of this record: the batch
            // is rolled back at `sync` and written again with savepoints.
            return f(&mut ops, self.instance).map_err(|e| {
                self.lost_record = true;
                store_error(e)
            });
        }
        if let Err(e) = self.conn.batch("SAVEPOINT rec") {
            self.broken = true;
            return Err(store_error(e));
        }
        let mark = self.changes.len();
        let mut ops = Ops {
            conn: &mut self.conn,
            cache: &mut self.cache,
            changes: &mut self.changes,
            now: unix_now(),
        };
        match f(&mut ops, self.instance) {
            Ok(()) => self.conn.batch("RELEASE SAVEPOINT rec").map_err(|e| {
                self.broken = true;
                store_error(e)
            }),
            Err(e) => {
                // If even the rollback fails the transaction is lost: the rest of
                // the batch and its commit fail (see `broken`).
                if self
                    .conn
                    .batch("ROLLBACK TO SAVEPOINT rec; RELEASE SAVEPOINT rec")
                    .is_err()
                {
                    self.broken = true;
                }
                self.changes.truncate(mark);
                self.cache.clear();
                Err(store_error(e))
            }
        }
    }
}

/// One record's writes (a deferred message: its history record, then its queue
/// row, in the same savepoint).
fn write_record<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    record: &Record,
) -> Result<(), DbError> {
    match record {
        Record::Message(m) => persist_message(ops, instance, m),
        Record::SessionInfo(info) => persist_info(ops, instance, info),
        Record::Standalone(s) => persist_standalone(ops, s),
        Record::Disposition(d) => persist_disposition(ops, d),
        Record::Deferred(d) => {
            if let Some(history) = &d.history {
                write_record(ops, instance, history)?;
            }
            deferred::insert(ops.conn, instance, &d.message)
        }
        Record::DeferredDone(d) => deferred::remove(ops.conn, &d.id),
        Record::KnownUser(u) => deferred::remember(ops.conn, u.as_str()),
        Record::GroupState(g) => group_state::persist(ops, instance, g),
    }
}

/// The answer of a record whose batch lost its first attempt before the record
/// was written (it is written again, record by record).
fn lost_batch() -> StoreError {
    StoreError::Failed {
        reason: "written again record by record".into(),
    }
}

fn store_error(e: DbError) -> StoreError {
    StoreError::Failed { reason: e.0 }
}

impl<C: Conn> HistoryStore for HistoryWriter<C> {
    fn persist(&mut self, record: &Record) -> Result<(), StoreError> {
        // LIM-14: a sender over quota is refused before anything is written.
        let sender = match record {
            Record::Message(m) => Some(m.sender.as_str()),
            Record::Standalone(s) => Some(s.sender.as_str()),
            // A notification of the server's own (no history) is charged to nobody.
            Record::Deferred(d) => d.history.as_ref().map(|_| d.message.sender.as_str()),
            Record::SessionInfo(_)
            | Record::Disposition(_)
            | Record::DeferredDone(_)
            | Record::KnownUser(_)
            | Record::GroupState(_) => None,
        };
        // Anything but a chat message may read the batch's message rows (a
        // disposition, a standalone message filed beside them, a restart's checks):
        // they are written first.
        if !matches!(record, Record::Message(_)) && self.flush_rows() {
            return Err(lost_batch());
        }
        let mut restored = None;
        if let (Record::SessionInfo(info), false) = (record, self.broken) {
            // GRP-24: only one who was in an ended group restarts it.
            if let Some(refused) =
                restart::refusal(&mut self.conn, self.instance, info).map_err(store_error)?
            {
                return Err(refused);
            }
            // GRP-40: whom the restart invites, read before the row is reopened.
            restored = restart::members(&mut self.conn, self.instance, info)
                .map_err(store_error)?
                .map(|members| (info.key.clone(), members));
        }
        if let Some(sender) = sender {
            if !self.broken {
                if let Some(refused) =
                    quota::refusal(&mut self.conn, &mut self.cache, sender).map_err(store_error)?
                {
                    return Err(refused);
                }
            }
        }
        self.record(|ops, instance| write_record(ops, instance, record))?;
        if let Some((key, members)) = restored {
            self.restored.insert(key, members);
        }
        Ok(())
    }

    fn take_restored(&mut self, key: &SessionKey) -> Option<Vec<UserUri>> {
        self.restored.remove(key)
    }

    fn detach_sync(&mut self) -> Option<Box<dyn crate::store::pipeline::CommitSync>> {
        // A backend that cannot detach keeps its durable commits (None).
        self.conn
            .detach_sync()
            .map_err(|e| tracing::warn!(error = %e, "store: commits stay synchronous"))
            .ok()
            .flatten()
    }

    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError> {
        // The seal reads the session's messages: the batch's rows are written first.
        if self.flush_rows() {
            return Err(lost_batch());
        }
        self.record(|ops, instance| seal(ops, instance, history, false))
    }

    /// A group commit: first without a savepoint per record (the common case: every
    /// record is fine); if one fails, everything is rolled back and the batch is
    /// written again the old way, each record in its savepoint, so each is answered
    /// on its own (MSG-1: only committed records are answered `Ok`).
    fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
        self.savepoints = false;
        if self.conn.exclusive_writes() {
            self.cache.reserved = Some(Default::default());
            self.cache.rows = Some(self.spare_rows.take().unwrap_or_default());
        }
        let answers = write_each(self, batch);
        self.cache.reserved = None;
        self.spare_rows = self.cache.rows.take().map(RowBatch::recycled);
        self.savepoints = true;
        if !std::mem::take(&mut self.lost_record) {
            return answers;
        }
        self.retried_batches += 1;
        write_each(self, batch)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if !self.in_batch {
            return Ok(());
        }
        self.in_batch = false;
        // The batch's chat message rows, before its counters and its commit.
        self.flush_rows();
        if self.lost_record {
            // Never commit a batch with part of a failed record in it.
            let _ = self.conn.rollback();
            self.broken = false;
            self.changes.clear();
            self.cache.clear();
            return Err(StoreError::Failed {
                reason: "written again record by record".into(),
            });
        }
        let reserved = self.cache.reserved.take();
        let committed = if std::mem::take(&mut self.broken) {
            Err(DbError("the batch transaction was lost".into()))
        } else {
            // The batch's UIDs and MODSEQs, written once each before the commit.
            let flushed = reserved.map_or(Ok(()), |r| r.flush(&mut self.conn));
            flushed.and_then(|()| self.conn.commit())
        };
        if let Err(e) = committed {
            let _ = self.conn.rollback();
            self.changes.clear();
            self.cache.clear();
            self.restored.clear();
            return Err(store_error(e));
        }
        for change in unique_changes(std::mem::take(&mut self.changes)) {
            // No receiver (no IMAP client idling) is not an error.
            let _ = self.feed.send(change);
        }
        self.cache.bound();
        Ok(())
    }
}

/// The session's row id, created (open, owned by `instance`) when new. Writing to
/// a session that is no longer open is refused: nothing is added to a sealed
/// session (HIST-2), also not by a new session reusing its Contribution-ID. Nor to
/// a session another cpmd instance created (SEC-7): with several instances on one
/// PostgreSQL database, a user of this instance reusing another instance's
/// Conversation-ID and Contribution-ID must not add messages, info or participants
/// to that session, nor seal it (which would expunge its messages). Every write of
/// a record and every seal goes through here first, so the refusal comes before
/// anything of the session is touched.
pub(crate) fn open_session<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    key: &SessionKey,
) -> Result<i64, DbError> {
    let conversation = ops.conversation(key.conversation_id.as_str())?;
    let contribution = key.contribution_id.as_str();
    let cache_key = (conversation, contribution.to_owned());
    if let Some(id) = ops.cache.open_sessions.get(&cache_key) {
        return Ok(*id);
    }
    let core_session = i64::try_from(key.session.get()).map_err(DbError::data)?;
    let params = [
        conversation.into(),
        contribution.into(),
        instance.into(),
        core_session.into(),
    ];
    // The row's id, state, owner and watermark, checked below before anything else
    // of the session is written.
    let row = if ops.conn.returning_is_costly() {
        // SQLite: a plain insert; an existing row is read.
        match ops.conn.insert_id(
            "INSERT INTO sessions (conversation, contribution_id, instance, core_session, state) \
             VALUES ($1, $2, $3, $4, 'open') ON CONFLICT (conversation, contribution_id) DO NOTHING",
            &params,
        )? {
            Some(id) => Row(vec![id.into(), "open".into(), instance.into(), Val::Null]),
            None => ops.conn.query_one(
                "SELECT id, state, instance, watermark FROM sessions \
                 WHERE conversation = $1 AND contribution_id = $2",
                &params[..2],
            )?,
        }
    } else {
        // One statement: an upsert whose no-op update (the key set to itself)
        // makes `RETURNING` answer for an existing row too.
        ops.conn.query_one(
            "INSERT INTO sessions (conversation, contribution_id, instance, core_session, state) \
             VALUES ($1, $2, $3, $4, 'open') ON CONFLICT (conversation, contribution_id) \
             DO UPDATE SET contribution_id = excluded.contribution_id \
             RETURNING id, state, instance, watermark",
            &params,
        )?
    };
    let owner = row.int(2)?;
    if owner != instance {
        return Err(DbError(format!(
            "session {contribution} of conversation {} belongs to cpmd instance {owner}, not to this one ({instance})",
            key.conversation_id.as_str()
        )));
    }
    let state = row.text(1)?;
    if state != "open" {
        return Err(DbError(format!(
            "session {contribution} of conversation {} is already {state}",
            key.conversation_id.as_str()
        )));
    }
    let id = row.int(0)?;
    // An open session's watermark is its sequence-number base (GRP-23), NULL in
    // its first run: what `restart::base` would read, known here for free.
    let base = match row.0.get(3) {
        Some(Val::Null) | None => None,
        Some(_) => Some(row.int(3)?),
    };
    ops.cache.session_bases.insert(id, base);
    ops.cache.open_sessions.insert(cache_key, id);
    Ok(id)
}

fn persist_message<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    m: &StoredMessage,
) -> Result<(), DbError> {
    let session = open_session(ops, instance, &m.key)?;
    let (date, date_time) = ops.cache.dates(ops.now);
    let recipients: Vec<String> = m.recipients.iter().map(|r| r.as_str().to_owned()).collect();
    // GRP-23: a restarted group's run is numbered after the earlier runs'.
    let base = restart::base(ops, session)?.unwrap_or(0);
    let seq = i64::try_from(m.seq).map_err(DbError::data)? + base;
    let columns = [
        session.into(),
        seq.into(),
        m.message_id.as_str().into(),
        m.sender.as_str().into(),
        join_list(&recipients).into(),
        m.content_type.as_str().into(),
        Val::Bytes(m.body.clone()),
        date.as_str().into(),
        ops.now.into(),
    ];
    let id = match ops.cache.rows.as_mut() {
        // In a batch that writes its rows together (`row_batch.rs`): the id is
        // counted here, the row written with the others.
        Some(rows) => {
            let id = rows.message_id(ops.conn)?;
            let [a, b, c, d, e, f, g, h, i] = columns;
            rows.push_message([id.into(), a, b, c, d, e, f, g, h, i]);
            id
        }
        None => ops
            .conn
            .insert_id(
                "INSERT INTO messages (session, seq, message_id, sender, recipients, content_type, body, date, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &columns,
            )?
            .ok_or_else(|| DbError("a message row was not inserted".into()))?,
    };
    let parts = MessageParts {
        conversation_id: m.key.conversation_id.as_str(),
        contribution_id: Some(m.key.contribution_id.as_str()),
        sender: m.sender.as_str(),
        recipients: &recipients,
        message_id: m.message_id.as_str(),
        content_type: &m.content_type,
        body: &m.body,
        date: &date,
        date_time: &date_time,
    };
    let mailbox = ops.cache.session_folder(
        session,
        parts.conversation_id,
        m.key.contribution_id.as_str(),
    );
    file_message(ops, &parts, &mailbox, "message", id)
}

/// Files a message object for its sender and each recipient.
fn file_message<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    parts: &MessageParts<'_>,
    mailbox: &str,
    kind: &str,
    id: i64,
) -> Result<(), DbError> {
    // STORE-13: the body is left out of the entry only where the object ends with
    // it byte for byte; the object writes a bare LF of the body as CRLF, and then
    // the whole object is kept (the view appends the row's body as it is). The
    // usual CPIM body is the object's end as it is: only the heads are printed.
    // Both objects at once: they differ only in their `Message-Direction`.
    let (sent, received, elsewhere) = match layout::message_heads(parts) {
        Some((sent, received)) => (sent, received, [parts.body.len(); 2]),
        None => {
            let (sent, received) = layout::message_objects(parts);
            let elsewhere = |object: &[u8]| {
                if object.ends_with(parts.body) {
                    parts.body.len()
                } else {
                    0
                }
            };
            let cut = [elsewhere(&sent), elsewhere(&received)];
            let head = |mut object: Vec<u8>, cut: usize| {
                object.truncate(object.len() - cut);
                object
            };
            (head(sent, cut[0]), head(received, cut[1]), cut)
        }
    };
    quota::file_charged(
        ops,
        parts.sender,
        mailbox,
        NewEntry {
            kind,
            ref_id: id,
            flags: bits::SEEN,
            raw: &sent,
            body_elsewhere: elsewhere[0],
            from_session_row: false,
        },
    )?;
    let mut done = Vec::with_capacity(1 + parts.recipients.len());
    done.push(parts.sender);
    for r in parts.recipients {
        if done.contains(&r.as_str()) {
            continue;
        }
        done.push(r);
        // LIM-14: a recipient over quota does not fail the sender.
        quota::file_within_quota(
            ops,
            r,
            mailbox,
            NewEntry {
                kind,
                ref_id: id,
                flags: 0,
                raw: &received,
                body_elsewhere: elsewhere[1],
                from_session_row: false,
            },
        )?;
    }
    Ok(())
}

/// The session info columns' values, in the order of `info_columns!`.
pub(crate) fn info_values(info: &SessionInfo) -> Vec<Val> {
    let invited: Vec<&str> = info.invited.iter().map(UserUri::as_str).collect();
    vec![
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
    ]
}

/// A sealed session's info object as IMAP will print it from the row written
/// from `info` ([`info_values`]: the same strings, the invited joined).
pub(crate) fn sealed_info_object(info: &SessionInfo) -> Vec<u8> {
    let invited: Vec<&str> = info.invited.iter().map(UserUri::as_str).collect();
    let row = layout::InfoRow {
        session_type: layout::session_type_token(info.session_type),
        from: info.from.as_str(),
        to: &info.to,
        date: &info.date,
        subject: info.subject.as_deref(),
        in_reply_to: info.in_reply_to.as_ref().map(|c| c.as_str()),
        sdp: &info.sdp,
        conversation_id: info.key.conversation_id.as_str(),
        contribution_id: info.key.contribution_id.as_str(),
    };
    layout::info_object_of_row(&row, &join_list(&invited))
}

/// The session info columns, set from `$1`..`$9` ([`info_values`]); a macro so
/// the statements stay `&'static str`.
macro_rules! info_columns {
    () => {
        "session_type = $1, from_uri = $2, to_uri = $3, date = $4, subject = $5, \
         in_reply_to = $6, sdp = $7, media_attributes = $8, invited = $9"
    };
}

/// Stores the session info columns.
fn write_info<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
    info: &SessionInfo,
) -> Result<(), DbError> {
    let mut values = info_values(info);
    values.push(session.into());
    ops.conn.exec(
        concat!("UPDATE sessions SET ", info_columns!(), " WHERE id = $10"),
        &values,
    )?;
    Ok(())
}

fn persist_info<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    info: &SessionInfo,
) -> Result<(), DbError> {
    // GRP-23: the info of a restarted group reopens its ended session.
    restart::reopen(ops, instance, info)?;
    let session = open_session(ops, instance, &info.key)?;
    write_info(ops, session, info)?;
    let mut parties = vec![info.from.as_str().to_owned()];
    add_parties(&mut parties, info.invited.iter().map(UserUri::as_str));
    file_info(ops, session, info, &parties, false)
}

/// Everyone who gets a session's info object when the store holds none of its
/// messages: the initiator, the invited and the group's participants (the senders
/// and recipients of stored messages join them in `seal_messages`).
pub(crate) fn info_parties(h: &HistoryObject) -> Vec<String> {
    let mut parties = vec![h.info.from.as_str().to_owned()];
    add_parties(&mut parties, h.info.invited.iter().map(UserUri::as_str));
    add_parties(&mut parties, h.participants.iter().map(|p| p.user.as_str()));
    parties
}

pub(crate) fn add_parties<'a>(parties: &mut Vec<String>, more: impl IntoIterator<Item = &'a str>) {
    for p in more {
        if !parties.iter().any(|q| q == p) {
            parties.push(p.to_owned());
        }
    }
}

/// Files the session info object for every party.
fn file_info<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
    info: &SessionInfo,
    parties: &[String],
    crashed: bool,
) -> Result<(), DbError> {
    file_object(ops, session, info, parties, Filed::Replace, "info", &|_| {
        (layout::session_info_object(info, crashed), false)
    })
}

/// Whether a session may already have objects filed (they are replaced), or is
/// known to have none (a row made by this seal: nothing to read first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filed {
    Replace,
    None,
}

/// Files one object of the session (`kind`, made by `raw` from the time of the
/// write, with whether IMAP prints it from the session's row: then only its size
/// is stored, `NewEntry::from_session_row`) in its folder for every party.
pub(crate) fn file_object<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
    info: &SessionInfo,
    parties: &[String],
    filed: Filed,
    kind: &str,
    raw: &dyn Fn(i64) -> (Vec<u8>, bool),
) -> Result<(), DbError> {
    let (raw, from_session_row) = raw(ops.now);
    let mailbox = layout::session_mailbox(
        info.key.conversation_id.as_str(),
        info.key.contribution_id.as_str(),
    );
    let entry = NewEntry {
        kind,
        ref_id: session,
        flags: 0,
        raw: &raw,
        body_elsewhere: 0,
        from_session_row,
    };
    match filed {
        Filed::Replace => ops.replace_entries(parties, &mailbox, entry),
        Filed::None => {
            let parties: Vec<&str> = parties.iter().map(String::as_str).collect();
            ops.add_entries(&parties, &mailbox, entry)
        }
    }
}

/// What a seal writes after the session row: its participants, the session info
/// object and, for a group, the group state object, for every party.
pub(crate) fn file_sealed<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
    h: &HistoryObject,
    parties: &[String],
    crashed: bool,
    filed: Filed,
) -> Result<(), DbError> {
    for (i, p) in h.participants.iter().enumerate() {
        let position = i64::try_from(i).map_err(DbError::data)?;
        ops.conn.exec(
            "INSERT INTO participants (session, position, uri, state) VALUES ($1, $2, $3, $4)",
            &[
                session.into(),
                position.into(),
                p.user.as_str().into(),
                p.state.as_str().into(),
            ],
        )?;
    }
    // A sealed 1-to-1's info object is printed from its row when read
    // (STORE-13): the row is never written again (HIST-2), so it is not stored
    // per party. A crash's seal, and a group's (GRP-23 may reopen and rewrite
    // its row), keep the whole object.
    let from_row = h.info.session_type == SessionType::OneToOne && !crashed;
    file_object(ops, session, &h.info, parties, filed, "info", &|_| {
        if from_row {
            (sealed_info_object(&h.info), true)
        } else {
            (layout::session_info_object(&h.info, crashed), false)
        }
    })?;
    if h.info.session_type == SessionType::AdHoc && !h.participants.is_empty() {
        file_object(
            ops,
            session,
            &h.info,
            parties,
            filed,
            "group_state",
            &|now| {
                let raw = layout::group_state_object(
                    &h.info,
                    &h.participants,
                    h.focus.as_deref().unwrap_or(&h.info.to),
                    &layout::rfc5322_date(now),
                    &layout::iso8601(now),
                );
                (raw, false)
            },
        )?;
    }
    Ok(())
}

/// Seals a session: its info, state, watermark and final message set, the
/// session info object (and group state object) for every party, and the removal
/// of stored messages that are not in the final set (HIST-3: accepted by the store
/// but never delivered, e.g. the recipient's leg closed meanwhile).
fn seal<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    instance: i64,
    h: &HistoryObject,
    crashed: bool,
) -> Result<(), DbError> {
    // A crash's seal is of a row that exists; any other may be of a session the
    // store holds nothing of yet (the usual 1-to-1).
    if !crashed && seal_new::seal_unstored(ops, instance, h)? {
        return Ok(());
    }
    let session = open_session(ops, instance, &h.info.key)?;
    // GRP-23: a restarted group seals only its restarted run's messages (numbered
    // after `base`); the earlier runs' stay as their seals left them.
    let base = restart::base(ops, session)?;
    ops.cache.open_sessions.retain(|_, id| *id != session);
    ops.cache.forget_session(session);
    let from = base.unwrap_or(0);
    let watermark = h
        .messages
        .last()
        .map(|s| i64::try_from(*s).map(|s| s + from))
        .transpose()
        .map_err(DbError::data)?
        .or(base);
    // The info and the state in one statement.
    let mut values = info_values(&h.info);
    values.extend([
        if crashed { "crashed" } else { "sealed" }.into(),
        watermark.into(),
        ops.now.into(),
        session.into(),
    ]);
    ops.conn.exec(
        concat!(
            "UPDATE sessions SET ",
            info_columns!(),
            ", state = $10, watermark = $11, sealed_at = $12 WHERE id = $13"
        ),
        &values,
    )?;
    let parties = seal_messages(ops, session, from, h)?;
    // Participants are recorded only by a seal: a session in its first run (no
    // base) has none to replace.
    if base.is_some() {
        ops.conn.exec(
            "DELETE FROM participants WHERE session = $1",
            &[session.into()],
        )?;
    }
    file_sealed(ops, session, h, &parties, crashed, Filed::Replace)
}

/// Marks the final message set of the seal's run (the messages numbered after
/// `from`): in the history (`in_history = 1`) or not (0, and their filed objects
/// expunged: HIST-3). Returns everyone who gets the session's info object: the
/// initiator, the invited, the group's participants and every sender and
/// recipient of the session's final messages (earlier runs' included).
///
/// One read of the session's messages, then a write only for those whose mark
/// changes (all of the run's in one statement when all are in the final set, the
/// usual case): a seal of a session without messages reads once and writes none.
fn seal_messages<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    session: i64,
    from: i64,
    h: &HistoryObject,
) -> Result<Vec<String>, DbError> {
    let final_set = h
        .messages
        .iter()
        .map(|s| i64::try_from(*s).map(|s| s + from))
        .collect::<Result<std::collections::BTreeSet<i64>, _>>()
        .map_err(DbError::data)?;
    let rows = ops.conn.query(
        "SELECT id, seq, in_history, sender, recipients FROM messages WHERE session = $1 ORDER BY seq",
        &[session.into()],
    )?;
    /// A stored message as the seal marks it.
    struct Mark {
        id: i64,
        /// Of the seal's run (numbered after `from`).
        in_run: bool,
        /// In the history after the seal.
        in_history: bool,
        /// Its `in_history` column changes.
        changed: bool,
    }
    let mut marks = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq = r.int(1)?;
        let now_in = match r.0.get(2) {
            Some(Val::Null) | None => None,
            Some(_) => Some(r.int(2)? == 1),
        };
        let in_run = seq > from;
        let in_history = if in_run {
            final_set.contains(&seq)
        } else {
            now_in == Some(true)
        };
        marks.push(Mark {
            id: r.int(0)?,
            in_run,
            in_history,
            changed: in_run && now_in != Some(in_history),
        });
    }
    if marks.iter().any(|m| m.changed) {
        if marks.iter().all(|m| !m.in_run || m.in_history) {
            ops.conn.exec(
                "UPDATE messages SET in_history = 1 WHERE session = $1 AND seq > $2",
                &[session.into(), from.into()],
            )?;
        } else {
            for m in marks.iter().filter(|m| m.changed) {
                ops.conn.exec(
                    "UPDATE messages SET in_history = $1 WHERE id = $2",
                    &[i64::from(m.in_history).into(), m.id.into()],
                )?;
            }
        }
    }
    for m in marks.iter().filter(|m| m.in_run && !m.in_history) {
        for e in ops.entries_of("message", m.id)? {
            ops.expunge(&e)?;
        }
    }
    let mut parties = info_parties(h);
    for (r, m) in rows.iter().zip(&marks) {
        if m.in_history {
            let sender = r.text(3)?;
            let recipients = split_list(&r.text(4)?);
            add_parties(&mut parties, [sender.as_str()]);
            add_parties(&mut parties, recipients.iter().map(String::as_str));
        }
    }
    Ok(parties)
}

fn persist_standalone<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    s: &StandaloneMessage,
) -> Result<(), DbError> {
    let conversation = ops.conversation(s.conversation_id.as_str())?;
    let date = layout::rfc5322_date(ops.now);
    let recipients: Vec<String> = s.recipients.iter().map(|r| r.as_str().to_owned()).collect();
    let id = ops
        .conn
        .insert_id(
            "INSERT INTO standalone (conversation, contribution_id, message_id, sender, recipients, content_type, body, date, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                conversation.into(),
                s.contribution_id.as_ref().map(|c| c.as_str().to_owned()).into(),
                s.message_id.as_str().into(),
                s.sender.as_str().into(),
                join_list(&recipients).into(),
                s.content_type.as_str().into(),
                Val::Bytes(s.body.clone()),
                date.as_str().into(),
                ops.now.into(),
            ],
        )?
        .ok_or_else(|| DbError("a standalone row was not inserted".into()))?;
    let parts = MessageParts {
        conversation_id: s.conversation_id.as_str(),
        contribution_id: s.contribution_id.as_ref().map(ContributionId::as_str),
        sender: s.sender.as_str(),
        recipients: &recipients,
        message_id: s.message_id.as_str(),
        content_type: &s.content_type,
        body: &s.body,
        date: &date,
        date_time: &layout::iso8601(ops.now),
    };
    let mailbox = layout::conversation_mailbox(s.conversation_id.as_str());
    file_message(ops, &parts, &mailbox, "standalone", id)
}

/// Records an IMDN against the message it reports on (per recipient); a
/// `displayed` sets `\Seen` on that recipient's copy. An IMDN about a message the
/// store does not hold is kept nowhere (nothing to attach it to) and is not an
/// error: refusing it would only make the core fail the notification.
fn persist_disposition<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    d: &DispositionRecord,
) -> Result<(), DbError> {
    let target = match &d.contribution_id {
        Some(c) => ops
            .conn
            .query_opt(
                "SELECT m.id FROM messages m JOIN sessions s ON m.session = s.id \
             JOIN conversations cv ON s.conversation = cv.id \
             WHERE cv.conversation_id = $1 AND s.contribution_id = $2 AND m.message_id = $3 \
             ORDER BY m.id DESC",
                &[
                    d.conversation_id.as_str().into(),
                    c.as_str().into(),
                    d.message_id.as_str().into(),
                ],
            )?
            .map(|r| ("message", r)),
        None => ops
            .conn
            .query_opt(
                "SELECT st.id FROM standalone st JOIN conversations cv ON st.conversation = cv.id \
             WHERE cv.conversation_id = $1 AND st.message_id = $2 ORDER BY st.id DESC",
                &[
                    d.conversation_id.as_str().into(),
                    d.message_id.as_str().into(),
                ],
            )?
            .map(|r| ("standalone", r)),
    };
    let Some((kind, row)) = target else {
        tracing::warn!(
            message_id = d.message_id.as_str(),
            "IMDN for a message not in the store"
        );
        return Ok(());
    };
    let id = row.int(0)?;
    let (delivered, displayed, failed) = match d.disposition {
        cpmd_core::server::Disposition::Delivered => (1, 0, 0),
        cpmd_core::server::Disposition::Displayed => (1, 1, 0),
        cpmd_core::server::Disposition::Failed => (0, 0, 1),
    };
    record_disposition(
        ops,
        kind,
        id,
        d.recipient.as_str(),
        (delivered, displayed, failed),
    )?;
    if displayed == 1 {
        for e in ops.entries_of(kind, id)? {
            if e.user == d.recipient.as_str() && e.flags & bits::SEEN == 0 {
                ops.set_flags(&e, e.flags | bits::SEEN)?;
            }
        }
    }
    Ok(())
}

/// Upserts the per-recipient state; a state once reached stays reached.
pub fn record_disposition<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    kind: &str,
    id: i64,
    recipient: &str,
    (delivered, displayed, failed): (i64, i64, i64),
) -> Result<(), DbError> {
    ops.conn.exec(
        "INSERT INTO dispositions (kind, ref_id, recipient, delivered, displayed, failed) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, ref_id, recipient) DO UPDATE SET \
         delivered = CASE WHEN excluded.delivered = 1 THEN 1 ELSE dispositions.delivered END, \
         displayed = CASE WHEN excluded.displayed = 1 THEN 1 ELSE dispositions.displayed END, \
         failed = CASE WHEN excluded.failed = 1 THEN 1 ELSE dispositions.failed END",
        &[
            kind.into(),
            id.into(),
            recipient.into(),
            delivered.into(),
            displayed.into(),
            failed.into(),
        ],
    )?;
    Ok(())
}
