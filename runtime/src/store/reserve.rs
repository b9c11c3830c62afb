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

use crate::store::row_id_hash::RowIdMap;
use crate::store::sql::{Conn, DbError};

/// The batch's counters: next UID per mailbox row, last MODSEQ per user row, stored
/// bytes per user row.
#[derive(Debug, Default)]
pub struct Reserved {
    uids: RowIdMap<Uids>,
    modseqs: RowIdMap<i64>,
    usage: RowIdMap<Usage>,
}

/// A mailbox's UID counter in the batch: the next UID to give, and the
/// `uid_next` its row already holds when the batch wrote the row with it (a
/// folder the batch made for one entry: `ops_many.rs`), so an unchanged counter
/// is not written again.
#[derive(Debug, Clone, Copy)]
struct Uids {
    next: i64,
    written: Option<i64>,
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
        // One lookup: the counter is read from the database only when missing.
        let counter = match self.uids.entry(mailbox) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Uids {
                next: conn
                    .query_one(
                        "SELECT uid_next FROM mailboxes WHERE id = $1",
                        &[mailbox.into()],
                    )?
                    .int(0)?,
                written: None,
            }),
        };
        let uid = counter.next;
        counter.next += 1;
        Ok(uid)
    }

    /// Starts the mailbox's UID counter at `uid_next` as just read with its row
    /// (`ops_many.rs`), unless the batch already counts it.
    pub fn start_uid(&mut self, mailbox: i64, uid_next: i64) {
        self.uids.entry(mailbox).or_insert(Uids {
            next: uid_next,
            written: None,
        });
    }

    /// Starts the counter of a mailbox the batch has just made with `uid_next`
    /// `written` (its first UIDs reserved in the row): the batch gives from 1 and
    /// writes the counter again only if it gives more than the row reserved.
    pub fn start_uid_written(&mut self, mailbox: i64, written: i64) {
        self.uids.insert(
            mailbox,
            Uids {
                next: 1,
                written: Some(written),
            },
        );
    }

    /// The user's next MODSEQ (reads `modseq` on first use).
    pub fn modseq<C: Conn + ?Sized>(&mut self, conn: &mut C, user: i64) -> Result<i64, DbError> {
        let last = match self.modseqs.entry(user) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                conn.query_one("SELECT modseq FROM users WHERE id = $1", &[user.into()])?
                    .int(0)?,
            ),
        };
        *last += 1;
        Ok(*last)
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
        for (mailbox, counter) in self.uids {
            if counter.written == Some(counter.next) {
                continue;
            }
            let next = counter.next;
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

#[cfg(test)]
mod tests {
    use super::Reserved;
    use crate::store::sql::{Conn, Val};
    use crate::store::sqlite::SqliteConn;

    fn uid_next(conn: &mut SqliteConn) -> i64 {
        conn.query_one("SELECT uid_next FROM mailboxes WHERE id = 1", &[])
            .unwrap()
            .int(0)
            .unwrap()
    }

    /// A counter started from the `uid_next` the batch wrote into a row it made
    /// is written again only if the batch gave more UIDs than that row reserved.
    #[test]
    fn a_counter_the_row_already_holds_is_not_written_again() {
        let (_dir, mut conn) = SqliteConn::scratch(
            "CREATE TABLE mailboxes (id INTEGER PRIMARY KEY, uid_next INTEGER NOT NULL)",
        );
        // A value no flush would write: it shows whether the flush wrote.
        conn.exec("INSERT INTO mailboxes (id, uid_next) VALUES (1, 99)", &[])
            .unwrap();
        let mut r = Reserved::default();
        r.start_uid_written(1, 2);
        assert_eq!(r.uid(&mut conn, 1).unwrap(), 1);
        r.flush(&mut conn).unwrap();
        assert_eq!(uid_next(&mut conn), 99, "the row's counter was left alone");
        let mut r = Reserved::default();
        r.start_uid_written(1, 2);
        assert_eq!(r.uid(&mut conn, 1).unwrap(), 1);
        assert_eq!(r.uid(&mut conn, 1).unwrap(), 2);
        r.flush(&mut conn).unwrap();
        assert_eq!(
            uid_next(&mut conn),
            3,
            "one more UID than reserved: written"
        );
        let mut r = Reserved::default();
        r.start_uid(1, 5);
        r.flush(&mut conn).unwrap();
        assert_eq!(
            uid_next(&mut conn),
            5,
            "a counter read from its row: written"
        );
        conn.exec("UPDATE mailboxes SET uid_next = $1", &[Val::Int(7)])
            .unwrap();
        let mut r2 = Reserved::default();
        assert_eq!(r2.uid(&mut conn, 1).unwrap(), 7, "read when not started");
        r2.flush(&mut conn).unwrap();
        assert_eq!(uid_next(&mut conn), 8);
    }
}
