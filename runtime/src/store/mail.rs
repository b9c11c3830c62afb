//! [`MailView`]: the [`MailStore`] (what the IMAP server reads and flags) over
//! either backend, on its own connection (behind a mutex: calls block and are
//! serialised). Reads run in read transactions (SQLite `BEGIN DEFERRED` under WAL),
//! so however long a read takes it never holds the write lock the history writer
//! needs (specs/limits.md, LIM-3); only flag changes and expunges write.
//!
//! A user is created (with `INBOX` and `Default`) on first sight, so a configured
//! user who has no history yet still sees a well-formed tree. Flag changes and
//! expunges act on the user's own entries only and are announced on the feed after
//! their commit. Setting `\Seen` on a message the user received records it as
//! displayed by them; clearing `\Seen` does not undo a display.

use std::collections::BTreeSet;
use std::sync::Mutex;

use cpmd_core::UserUri;
use tokio::sync::broadcast;

use crate::mailstore::{
    FlagChange, FlagOutcome, ListPage, ListQuery, MailChange, MailError, MailFlag, MailObject,
    MailResult, MailStore, MailSummary, MailboxStatus,
};
use crate::store::history::record_disposition;
use crate::store::layout;
use crate::store::mail_list;
use crate::store::ops::{
    bits, implicit_uid_validity, unique_changes, unix_now, Cache, EntryRef, Ops,
};
use crate::store::sql::{in_read_tx, in_tx, Conn, DbError, Row, Val};

/// Most UIDs bound in one `IN (…)` list (both backends allow far more).
const IN_CHUNK: usize = 500;

/// The mailbox view over one connection.
pub struct MailView<C: Conn> {
    inner: Mutex<(C, Cache)>,
    feed: broadcast::Sender<MailChange>,
}

impl<C: Conn> MailView<C> {
    /// A view over `conn`, announcing changes on `feed`.
    pub fn new(conn: C, feed: broadcast::Sender<MailChange>) -> Self {
        Self {
            inner: Mutex::new((conn, Cache::default())),
            feed,
        }
    }

    /// Runs `f` in a transaction on the connection; announces its changes after
    /// the commit.
    fn with<T>(&self, f: impl FnOnce(&mut Ops<'_, C>) -> Result<T, MailError>) -> MailResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (conn, cache) = &mut *guard;
        let mut changes = Vec::new();
        let mut failure = None;
        let result = in_tx(conn, |conn| {
            let mut ops = Ops {
                conn,
                cache,
                changes: &mut changes,
                now: unix_now(),
            };
            f(&mut ops).map_err(|e| {
                let db = DbError(e.to_string());
                failure = Some(e);
                db
            })
        });
        match result {
            Ok(v) => {
                for c in unique_changes(changes) {
                    let _ = self.feed.send(c);
                }
                Ok(v)
            }
            Err(e) => {
                guard.1.clear();
                Err(failure.unwrap_or(MailError::Backend(e.0)))
            }
        }
    }

    /// Runs the read `f` for `user` in a read transaction (no write lock). A user
    /// seen for the first time is created first, in a short write transaction of
    /// its own, so `f`'s `ops.user` is answered from the cache and never writes.
    pub(crate) fn read<T>(
        &self,
        user: &UserUri,
        f: impl FnOnce(&mut Ops<'_, C>) -> Result<T, MailError>,
    ) -> MailResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (conn, cache) = &mut *guard;
        if !cache.knows_user(user.as_str()) {
            let mut changes = Vec::new();
            in_tx(conn, |conn| {
                let mut ops = Ops {
                    conn,
                    cache: &mut *cache,
                    changes: &mut changes,
                    now: unix_now(),
                };
                ops.user(user.as_str()).map(|_| ())
            })
            .map_err(|e| {
                cache.clear();
                backend(e)
            })?;
        }
        let mut changes = Vec::new();
        let mut failure = None;
        let result = in_read_tx(conn, |conn| {
            let mut ops = Ops {
                conn,
                cache: &mut *cache,
                changes: &mut changes,
                now: unix_now(),
            };
            f(&mut ops).map_err(|e| {
                let db = DbError(e.to_string());
                failure = Some(e);
                db
            })
        });
        result.map_err(|e| failure.unwrap_or(MailError::Backend(e.0)))
    }
}

fn backend(e: DbError) -> MailError {
    MailError::Backend(e.0)
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn flags_of(v: i64) -> BTreeSet<MailFlag> {
    [
        (bits::SEEN, MailFlag::Seen),
        (bits::DELETED, MailFlag::Deleted),
        (bits::FLAGGED, MailFlag::Flagged),
        (bits::ANSWERED, MailFlag::Answered),
        (bits::DRAFT, MailFlag::Draft),
    ]
    .into_iter()
    .filter(|(b, _)| v & b != 0)
    .map(|(_, f)| f)
    .collect()
}

fn bits_of(flags: &BTreeSet<MailFlag>) -> i64 {
    flags
        .iter()
        .map(|f| match f {
            MailFlag::Seen => bits::SEEN,
            MailFlag::Deleted => bits::DELETED,
            MailFlag::Flagged => bits::FLAGGED,
            MailFlag::Answered => bits::ANSWERED,
            MailFlag::Draft => bits::DRAFT,
        })
        .fold(0, |a, b| a | b)
}

/// Columns of a summary, in this order, for `SELECT … FROM entries e`.
const SUMMARY_COLS: &str = "e.uid, e.modseq, e.flags, e.internal_date, e.size";

/// The `sessions` and `conversations` columns a sealed 1-to-1's info object is
/// printed from (`layout::InfoRow`), NULL for any other entry.
const INFO_ROW_COLS: &str = "s.session_type, s.from_uri, s.to_uri, s.date, s.subject, \
     s.in_reply_to, s.sdp, s.invited, cv.conversation_id, s.contribution_id";

/// The info object printed from [`INFO_ROW_COLS`] at `at`; `None` when the entry
/// is not one printed from its session's row.
fn info_of_row(r: &Row, at: usize) -> Result<Option<Vec<u8>>, DbError> {
    let Some(session_type) = r.opt_text(at)? else {
        return Ok(None);
    };
    let text = |i: usize| r.text(at + i);
    let (from, to, date, sdp, invited) = (text(1)?, text(2)?, text(3)?, text(6)?, text(7)?);
    let (subject, in_reply_to) = (r.opt_text(at + 4)?, r.opt_text(at + 5)?);
    let (conversation_id, contribution_id) = (text(8)?, text(9)?);
    let row = layout::InfoRow {
        session_type: &session_type,
        from: &from,
        to: &to,
        date: &date,
        subject: subject.as_deref(),
        in_reply_to: in_reply_to.as_deref(),
        sdp: &sdp,
        conversation_id: &conversation_id,
        contribution_id: &contribution_id,
    };
    Ok(Some(layout::info_object_of_row(&row, &invited)))
}

fn summary(r: &Row) -> Result<MailSummary, DbError> {
    Ok(MailSummary {
        uid: u32_of(r.int(0)?),
        modseq: u64::try_from(r.int(1)?).unwrap_or(0),
        flags: flags_of(r.int(2)?),
        internal_date: r.int(3)?,
        size: u32_of(r.int(4)?),
    })
}

/// The user's id and the mailbox's id (`None`: a conversation folder without a
/// row, which holds no entry: STORE-15), or `NoMailbox`.
fn locate<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    user: &UserUri,
    mailbox: &str,
) -> MailResult<(i64, Option<i64>)> {
    let user_id = ops.user(user.as_str()).map_err(backend)?;
    if let Some(id) = ops.existing_mailbox(user_id, mailbox).map_err(backend)? {
        return Ok((user_id, Some(id)));
    }
    // The parent of the user's session folders exists as they do (one probe of
    // the `(user_id, name)` index).
    if layout::is_conversation_mailbox(mailbox)
        && mail_list::has_children(&mut *ops.conn, user_id, mailbox).map_err(backend)?
    {
        return Ok((user_id, None));
    }
    Err(MailError::NoMailbox(mailbox.to_owned()))
}

fn status_of<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    user_id: i64,
    mailbox_id: Option<i64>,
    name: &str,
) -> Result<MailboxStatus, DbError> {
    let Some(mailbox_id) = mailbox_id else {
        // A conversation folder without a row: empty, its children's parent, its
        // UIDVALIDITY the one its row is made with if an object is ever filed
        // in it (`Ops::uid_validity`).
        let uid_validity = implicit_uid_validity(&mut *ops.conn, user_id)?.unwrap_or(1);
        return Ok(MailboxStatus {
            name: name.to_owned(),
            uid_validity: u32_of(uid_validity),
            uid_next: 1,
            messages: 0,
            unseen: 0,
            highest_modseq: 1,
            has_children: true,
        });
    };
    let r = ops.conn.query_one(
        "SELECT m.uid_validity, m.uid_next, \
         (SELECT count(*) FROM entries e WHERE e.mailbox = m.id AND e.expunged = 0), \
         (SELECT count(*) FROM entries e WHERE e.mailbox = m.id AND e.expunged = 0 AND (e.flags & 1) = 0), \
         (SELECT COALESCE(max(e.modseq), 1) FROM entries e WHERE e.mailbox = m.id) \
         FROM mailboxes m WHERE m.id = $1",
        &[mailbox_id.into()],
    )?;
    Ok(MailboxStatus {
        name: name.to_owned(),
        uid_validity: u32_of(r.int(0)?),
        uid_next: u32_of(r.int(1)?),
        messages: u32_of(r.int(2)?),
        unseen: u32_of(r.int(3)?),
        highest_modseq: u64::try_from(r.int(4)?).unwrap_or(1).max(1),
        // One index probe, never the list of the user's mailboxes (LIM-17).
        has_children: mail_list::has_children(&mut *ops.conn, user_id, name)?,
    })
}

/// One live entry found by UID, with what a flag change needs.
struct Found {
    entry: EntryRef,
    kind: String,
    ref_id: i64,
    modseq: i64,
    internal_date: i64,
    size: i64,
}

/// One live entry of the mailbox by UID.
fn entry_by_uid<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    user: &UserUri,
    user_id: i64,
    mailbox_id: i64,
    mailbox: &str,
    uid: u32,
) -> Result<Option<Found>, DbError> {
    let row = ops.conn.query_opt(
        "SELECT e.flags, e.kind, e.ref_id, e.modseq, e.internal_date, e.size FROM entries e \
         WHERE e.mailbox = $1 AND e.uid = $2 AND e.expunged = 0",
        &[mailbox_id.into(), i64::from(uid).into()],
    )?;
    let Some(r) = row else { return Ok(None) };
    let entry = EntryRef {
        mailbox_id,
        uid: i64::from(uid),
        user: user.as_str().to_owned(),
        user_id,
        mailbox: mailbox.to_owned(),
        flags: r.int(0)?,
        raw: Vec::new(),
    };
    Ok(Some(Found {
        entry,
        kind: r.text(1)?,
        ref_id: r.int(2)?,
        modseq: r.int(3)?,
        internal_date: r.int(4)?,
        size: r.int(5)?,
    }))
}

/// Whether `user` received (did not send) the message or standalone `kind`/`id`.
fn received_by<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    kind: &str,
    id: i64,
    user: &str,
) -> Result<bool, DbError> {
    let sql = match kind {
        "message" => "SELECT sender FROM messages WHERE id = $1",
        "standalone" => "SELECT sender FROM standalone WHERE id = $1",
        _ => return Ok(false),
    };
    let sender = ops.conn.query_opt(sql, &[id.into()])?;
    Ok(match sender {
        Some(r) => r.text(0)? != user,
        None => false,
    })
}

impl<C: Conn> MailStore for MailView<C> {
    fn list_page(&self, user: &UserUri, query: &ListQuery<'_>) -> MailResult<ListPage> {
        self.read(user, |ops| {
            let user_id = ops.user(user.as_str()).map_err(backend)?;
            mail_list::page(&mut *ops.conn, user_id, query).map_err(backend)
        })
    }

    fn status(&self, user: &UserUri, mailbox: &str) -> MailResult<MailboxStatus> {
        self.read(user, |ops| {
            let (user_id, mailbox_id) = locate(ops, user, mailbox)?;
            status_of(ops, user_id, mailbox_id, mailbox).map_err(backend)
        })
    }

    fn summaries(
        &self,
        user: &UserUri,
        mailbox: &str,
        changed_since: Option<u64>,
    ) -> MailResult<Vec<MailSummary>> {
        self.read(user, |ops| {
            let (_, Some(mailbox_id)) = locate(ops, user, mailbox)? else {
                return Ok(Vec::new());
            };
            let since = i64::try_from(changed_since.unwrap_or(0)).unwrap_or(i64::MAX);
            let rows = ops
                .conn
                .query(
                    &format!(
                        "SELECT {SUMMARY_COLS} FROM entries e \
                         WHERE e.mailbox = $1 AND e.expunged = 0 AND e.modseq > $2 ORDER BY e.uid"
                    ),
                    &[mailbox_id.into(), since.into()],
                )
                .map_err(backend)?;
            rows.iter().map(|r| summary(r).map_err(backend)).collect()
        })
    }

    fn fetch(&self, user: &UserUri, mailbox: &str, uids: &[u32]) -> MailResult<Vec<MailObject>> {
        self.read(user, |ops| {
            let (_, Some(mailbox_id)) = locate(ops, user, mailbox)? else {
                return Ok(Vec::new());
            };
            let wanted: BTreeSet<u32> = uids.iter().copied().collect();
            let wanted: Vec<u32> = wanted.into_iter().collect();
            let mut out = Vec::with_capacity(wanted.len());
            for chunk in wanted.chunks(IN_CHUNK) {
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let mut params: Vec<Val> = vec![mailbox_id.into()];
                params.extend(chunk.iter().map(|u| Val::Int(i64::from(*u))));
                let rows = ops
                    .conn
                    .query(
                        &format!(
                            // A message object's body is stored once, in its
                            // row (`body_elsewhere`, migration 8): appended here.
                            // A sealed 1-to-1's info object is printed from
                            // its session's row (`body_elsewhere` 2).
                            "SELECT {SUMMARY_COLS}, e.raw, COALESCE(m.body, st.body), {INFO_ROW_COLS} FROM entries e \
                             LEFT JOIN messages m ON e.body_elsewhere = 1 AND e.kind = 'message' AND m.id = e.ref_id \
                             LEFT JOIN standalone st ON e.body_elsewhere = 1 AND e.kind = 'standalone' AND st.id = e.ref_id \
                             LEFT JOIN sessions s ON e.body_elsewhere = 2 AND e.kind = 'info' AND s.id = e.ref_id \
                             LEFT JOIN conversations cv ON cv.id = s.conversation \
                             WHERE e.mailbox = $1 \
                             AND e.expunged = 0 AND e.uid IN ({}) ORDER BY e.uid",
                            list.join(", ")
                        ),
                        &params,
                    )
                    .map_err(backend)?;
                for r in rows {
                    let mut raw = r.bytes(5).map_err(backend)?;
                    if let Some(Val::Bytes(body)) = r.0.get(6) {
                        raw.extend_from_slice(body);
                    }
                    if let Some(object) = info_of_row(&r, 7).map_err(backend)? {
                        raw = object;
                    }
                    out.push(MailObject {
                        summary: summary(&r).map_err(backend)?,
                        raw,
                    });
                }
            }
            Ok(out)
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
        let given = bits_of(flags);
        self.with(|ops| {
            let (user_id, Some(mailbox_id)) = locate(ops, user, mailbox)? else {
                return Ok(FlagOutcome::default());
            };
            let mut outcome = FlagOutcome::default();
            let unique: BTreeSet<u32> = uids.iter().copied().collect();
            for uid in unique {
                let found =
                    entry_by_uid(ops, user, user_id, mailbox_id, mailbox, uid).map_err(backend)?;
                let Some(Found {
                    entry,
                    kind,
                    ref_id,
                    modseq,
                    internal_date,
                    size,
                }) = found
                else {
                    continue;
                };
                if unchanged_since.is_some_and(|u| u64::try_from(modseq).unwrap_or(0) > u) {
                    outcome.modified.push(uid);
                    continue;
                }
                let new = match change {
                    FlagChange::Replace => given,
                    FlagChange::Add => entry.flags | given,
                    FlagChange::Remove => entry.flags & !given,
                };
                let mut modseq = modseq;
                if new != entry.flags {
                    modseq = ops.set_flags(&entry, new).map_err(backend)?;
                    let newly_seen = new & bits::SEEN != 0 && entry.flags & bits::SEEN == 0;
                    if newly_seen
                        && received_by(ops, &kind, ref_id, user.as_str()).map_err(backend)?
                    {
                        record_disposition(ops, &kind, ref_id, user.as_str(), (1, 1, 0))
                            .map_err(backend)?;
                    }
                }
                outcome.updated.push(MailSummary {
                    uid,
                    modseq: u64::try_from(modseq).unwrap_or(0),
                    flags: flags_of(new),
                    internal_date,
                    size: u32_of(size),
                });
            }
            Ok(outcome)
        })
    }

    fn expunge(&self, user: &UserUri, mailbox: &str, uids: Option<&[u32]>) -> MailResult<Vec<u32>> {
        self.with(|ops| {
            let (user_id, Some(mailbox_id)) = locate(ops, user, mailbox)? else {
                return Ok(Vec::new());
            };
            let rows = ops
                .conn
                .query(
                    "SELECT e.uid FROM entries e WHERE e.mailbox = $1 AND e.expunged = 0 \
                     AND (e.flags & 2) <> 0 ORDER BY e.uid",
                    &[mailbox_id.into()],
                )
                .map_err(backend)?;
            let mut removed = Vec::new();
            for r in rows {
                let uid = u32_of(r.int(0).map_err(backend)?);
                if uids.is_some_and(|only| !only.contains(&uid)) {
                    continue;
                }
                let entry = EntryRef {
                    mailbox_id,
                    uid: i64::from(uid),
                    user: user.as_str().to_owned(),
                    user_id,
                    mailbox: mailbox.to_owned(),
                    flags: 0,
                    raw: Vec::new(),
                };
                ops.expunge(&entry).map_err(backend)?;
                removed.push(uid);
            }
            Ok(removed)
        })
    }

    fn watch(&self) -> broadcast::Receiver<MailChange> {
        self.feed.subscribe()
    }
}
