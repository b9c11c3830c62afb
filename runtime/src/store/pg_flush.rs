//! [`PgFlush`]: the PostgreSQL writer's commits made durable from the store task's
//! sync thread (`pipeline.rs`, STORE-12), as `wal_sync.rs` does for SQLite.
//!
//! The writer connection commits with `synchronous_commit = off`
//! (`PgConn::detach_sync`): its `COMMIT` inserts the commit record into the WAL
//! and returns without waiting for the WAL flush, so the next batch is written
//! while the flush runs (the flush was 7–15 ms of a 70–190 ms batch, and the rows
//! a batch locks were held through it). The flush is this second connection's: a
//! transaction that writes one WAL record of its own (a transactional logical
//! decoding message, [`FLUSH`]) and commits with the server's
//! `synchronous_commit` (on by default; whatever the operator set, replicas
//! included), so its commit waits until the WAL up to its commit record is
//! flushed. (A transaction that only takes a transaction id would not do: one that
//! wrote no WAL before its commit record commits asynchronously.) The WAL is one
//! sequence, flushed as a prefix, and that record was inserted after every commit
//! the writer's connection returned before the flush started: those are on disk
//! when it returns, as a `synchronous_commit = on` commit would be.
//!
//! What it is not: a weaker durability for anything acknowledged (the store task
//! answers only after the flush), nor for other nodes: a node whose own commit
//! flushes the WAL flushes every earlier commit with it, so nothing durable can
//! depend on something that is not. A committed batch is visible to readers (the
//! IMAP view, other nodes) before its flush, as on SQLite (STORE-12); a crash of
//! the database server in between loses it, and no sender was told it is stored.

use crate::store::pipeline::CommitSync;
use crate::store::postgres::PgConn;
use crate::store::sql::{Conn, DbError};

/// The statement whose commit flushes the WAL: its own WAL record (a logical
/// decoding message, which any role may emit at any `wal_level`; decoding plugins
/// that ask for messages see the prefix `cpmd-flush` with no content) makes its
/// commit a synchronous one, which waits for the flush.
pub const FLUSH: &str = "SELECT pg_logical_emit_message(true, 'cpmd-flush', '')";

/// Its `application_name`, so operators can tell it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "cpmd-commit-flush";

/// Flushes the WAL over a connection of its own.
pub struct PgFlush {
    conn: PgConn,
}

impl PgFlush {
    /// Connects to `url` (the writer's database).
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let mut conn = PgConn::connect(url)?;
        conn.batch(&format!("SET application_name = '{APPLICATION_NAME}'"))?;
        Ok(Self { conn })
    }
}

impl CommitSync for PgFlush {
    fn sync_committed(&mut self) -> Result<(), DbError> {
        self.conn.batch(FLUSH)
    }
}
