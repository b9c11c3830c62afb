//! UIDs and MODSEQs counted in memory for one group commit (SQLite's batch written
//! without savepoints, `history.rs`): the first use of a mailbox or a user in the
//! batch reads its counter, later ones only count, and [`Reserved::flush`] writes
//! each counter once before the commit. Without it every message entry cost two
//! `UPDATE … RETURNING` statements (one for the mailbox's UID, one for the user's
//! MODSEQ). The users' stored bytes (LIM-14, `quota.rs`) likewise: read once per
//! user and batch, charged once per user before the commit, where each message
//! cost a read of the sender's, a read of each recipient's and a charge of each.
//!
//! Safe because the batch holds SQLite's write lock from `BEGIN IMMEDIATE` to its
//! commit: no other connection (the IMAP view's flag changes) can move a counter
//! meanwhile, and readers see only the committed, flushed values. If the batch is
//! rolled back the counts are dropped with it. Not used with savepoints (a record
//! rolled back alone would leave its counts behind) nor on PostgreSQL (its batch
//! path, `pg_batch.rs`, reserves per batch in SQL).

use std::collections::HashMap;

use crate::store::sql::{Conn, DbError};

/// The batch's counters: next UID per mailbox row, last MODSEQ per user row, stored
/// bytes per user row.
#[derive(Debug, Default)]
pub struct Reserved {
    uids: HashMap<i64, i64>,
    modseqs: HashMap<i64, i64>,
    usage: HashMap<i64, Usage>,
}

/// A user's stored bytes in the batch: as committed (read on first use) and added.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    committed: Option<i64>,
    added: i64,
}

impl Reserved {
    /// Takes the mailbox's next UID (reads `uid_next` on first use).
    pub fn uid<C: Conn + ?Sized>(&mut self, conn: &mut C, mailbox: i64) -> Result<i64, DbError> {
        let next = match self.uids.get(&mailbox) {
            Some(n) => *n,
            None => conn
                .query_one(
                    "SELECT uid_next FROM mailboxes WHERE id = $1",
                    &[mailbox.into()],
                )?
                .int(0)?,
        };
        self.uids.insert(mailbox, next + 1);
        Ok(next)
    }

    /// Starts the mailbox's UID counter at `uid_next` as just read with its row
    /// (`ops_many.rs`), unless the batch already counts it.
    pub fn start_uid(&mut self, mailbox: i64, uid_next: i64) {
        self.uids.entry(mailbox).or_insert(uid_next);
    }

    /// The user's next MODSEQ (reads `modseq` on first use).
    pub fn modseq<C: Conn + ?Sized>(&mut self, conn: &mut C, user: i64) -> Result<i64, DbError> {
        let last = match self.modseqs.get(&user) {
            Some(m) => *m,
            None => conn
                .query_one("SELECT modseq FROM users WHERE id = $1", &[user.into()])?
                .int(0)?,
        };
        self.modseqs.insert(user, last + 1);
        Ok(last + 1)
    }

    /// The user's stored bytes, the batch's charges included (reads
    /// `user_usage` on first use).
    pub fn used<C: Conn + ?Sized>(&mut self, conn: &mut C, user: i64) -> Result<i64, DbError> {
        let usage = self.usage.entry(user).or_default();
        let committed = match usage.committed {
            Some(c) => c,
            None => {
                let c = conn
                    .query_opt(
                        "SELECT stored_bytes FROM user_usage WHERE user_id = $1",
                        &[user.into()],
                    )?
                    .map(|r| r.int(0))
                    .transpose()?
                    .unwrap_or(0);
                usage.committed = Some(c);
                c
            }
        };
        Ok(committed + usage.added)
    }

    /// Charges `bytes` to the user (written by [`Reserved::flush`]).
    pub fn charge(&mut self, user: i64, bytes: i64) {
        self.usage.entry(user).or_default().added += bytes;
    }

    /// Writes every counter the batch moved (inside its transaction, before the
    /// commit).
    pub fn flush<C: Conn + ?Sized>(self, conn: &mut C) -> Result<(), DbError> {
        for (mailbox, next) in self.uids {
            conn.exec(
                "UPDATE mailboxes SET uid_next = $1 WHERE id = $2",
                &[next.into(), mailbox.into()],
            )?;
        }
        for (user, modseq) in self.modseqs {
            conn.exec(
                "UPDATE users SET modseq = $1 WHERE id = $2",
                &[modseq.into(), user.into()],
            )?;
        }
        for (user, usage) in self.usage {
            if usage.added != 0 {
                crate::store::quota::add_usage(conn, user, usage.added)?;
            }
        }
        Ok(())
    }
}
