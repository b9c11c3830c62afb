//! LIM-14: per-user quotas on stored bytes. Each user's `user_usage.stored_bytes`
//! counts the bytes of the message objects (chat and standalone) filed for them,
//! as sender or recipient, in the same transaction as the filing. A user is over
//! quota once that count has reached `user_quota_bytes` (so one object may take a
//! user past it, by at most one message).
//!
//! - A sender over quota: the whole record is refused before anything is written,
//!   with the typed [`StoreError::OverQuota`]; the core answers MSRP 413 / SIP 403.
//! - A recipient over quota: its copy is skipped (the sender and the other
//!   recipients get theirs, the sender is acknowledged) and the skip recorded in
//!   `quota_skips`.
//!
//! What it is *not*: session info and group state objects are not charged (a seal
//! must never fail on a quota), nor are dispositions; IMAP EXPUNGE does not give
//! bytes back (the objects stay in the store).

use crate::store::ops::{Cache, NewEntry, Ops};
use crate::store::sql::{Conn, DbError};
use crate::store::StoreError;

/// The default quota: 1 GiB per user (far above what any test or bench stores).
pub const DEFAULT_USER_QUOTA_BYTES: u64 = 1 << 30;

/// Whether `user` (by URI; unknown users have stored nothing) is over `quota`.
pub fn sender_over<C: Conn + ?Sized>(
    conn: &mut C,
    user: &str,
    quota: u64,
) -> Result<bool, DbError> {
    let row = conn.query_opt(
        "SELECT q.stored_bytes FROM user_usage q JOIN users u ON q.user_id = u.id WHERE u.uri = $1",
        &[user.into()],
    )?;
    let used = match row {
        Some(r) => r.int(0)?,
        None => 0,
    };
    Ok(u64::try_from(used).unwrap_or(0) >= quota)
}

/// The refusal of a record whose `sender` is over the writer's quota, if any.
/// In a batch that counts in memory (`reserve.rs`) a known sender's bytes are read
/// once per batch.
pub fn refusal<C: Conn + ?Sized>(
    conn: &mut C,
    cache: &mut Cache,
    sender: &str,
) -> Result<Option<StoreError>, DbError> {
    let Some(quota) = cache.user_quota_bytes else {
        return Ok(None);
    };
    let over = match (cache.user_id(sender), cache.reserved.as_mut()) {
        (Some(id), Some(r)) => u64::try_from(r.used(conn, id)?).unwrap_or(0) >= quota,
        (_, _) => sender_over(conn, sender, quota)?,
    };
    Ok(over.then(|| StoreError::OverQuota {
        user: sender.to_owned(),
    }))
}

fn used<C: Conn + ?Sized>(ops: &mut Ops<'_, C>, user_id: i64) -> Result<i64, DbError> {
    if let Some(r) = ops.cache.reserved.as_mut() {
        return r.used(ops.conn, user_id);
    }
    Ok(ops
        .conn
        .query_opt(
            "SELECT stored_bytes FROM user_usage WHERE user_id = $1",
            &[user_id.into()],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0))
}

fn charge<C: Conn + ?Sized>(ops: &mut Ops<'_, C>, user_id: i64, bytes: i64) -> Result<(), DbError> {
    if let Some(r) = ops.cache.reserved.as_mut() {
        r.charge(user_id, bytes);
        return Ok(());
    }
    add_usage(ops.conn, user_id, bytes)
}

/// Adds `bytes` to the user's stored bytes.
pub(crate) fn add_usage<C: Conn + ?Sized>(
    conn: &mut C,
    user_id: i64,
    bytes: i64,
) -> Result<(), DbError> {
    conn.exec(
        "INSERT INTO user_usage (user_id, stored_bytes) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET stored_bytes = user_usage.stored_bytes + excluded.stored_bytes",
        &[user_id.into(), bytes.into()],
    )?;
    Ok(())
}

/// Files a message object for `user` and charges its bytes (the sender's copy:
/// the sender's quota was checked before the record, [`refusal`]).
pub fn file_charged<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    user: &str,
    mailbox: &str,
    entry: NewEntry<'_>,
) -> Result<(), DbError> {
    let size = entry.size()?;
    // The user (made first when new, with its folders) and its row id come from
    // filing the entry.
    let user_id = ops.add_entry(user, mailbox, entry)?;
    charge(ops, user_id, size)
}

/// Files a recipient's copy of a message object unless the recipient is over
/// quota: then the copy is skipped and the skip recorded. Returns whether it was
/// filed.
pub fn file_within_quota<C: Conn + ?Sized>(
    ops: &mut Ops<'_, C>,
    user: &str,
    mailbox: &str,
    entry: NewEntry<'_>,
) -> Result<bool, DbError> {
    let size = entry.size()?;
    if let Some(quota) = ops.cache.user_quota_bytes {
        let user_id = ops.user(user)?;
        if u64::try_from(used(ops, user_id)?).unwrap_or(0) >= quota {
            tracing::info!(user, size, "recipient over quota: copy skipped");
            ops.conn.exec(
                "INSERT INTO quota_skips (user_id, kind, ref_id, size, at) VALUES ($1, $2, $3, $4, $5)",
                &[
                    user_id.into(),
                    entry.kind.into(),
                    entry.ref_id.into(),
                    size.into(),
                    ops.now.into(),
                ],
            )?;
            return Ok(false);
        }
    }
    let user_id = ops.add_entry(user, mailbox, entry)?;
    charge(ops, user_id, size)?;
    Ok(true)
}

/// A recipient's copy skipped because its owner was over quota (`quota_skips`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCopy {
    /// The recipient (URI).
    pub user: String,
    /// `message` or `standalone`.
    pub kind: String,
    /// The bytes the copy would have taken.
    pub size: i64,
}

/// Every skipped copy recorded in the store at `url`, oldest first (for tests and
/// operators; connects without migrating anything).
pub fn skipped_copies(url: &crate::store::StoreUrl) -> Result<Vec<SkippedCopy>, DbError> {
    use crate::store::{postgres, sqlite, StoreUrl};
    fn read<C: Conn + ?Sized>(conn: &mut C) -> Result<Vec<SkippedCopy>, DbError> {
        conn.query(
            "SELECT u.uri, q.kind, q.size FROM quota_skips q JOIN users u ON q.user_id = u.id \
             ORDER BY q.id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(SkippedCopy {
                user: r.text(0)?,
                kind: r.text(1)?,
                size: r.int(2)?,
            })
        })
        .collect()
    }
    match url {
        StoreUrl::Sqlite(path) => read(&mut sqlite::SqliteConn::open(path)?),
        StoreUrl::Postgres(u) => read(&mut postgres::PgConn::connect(u)?),
    }
}
