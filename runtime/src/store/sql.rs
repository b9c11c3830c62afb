//! The little SQL both backends share: parameter and column values ([`Val`]), result
//! rows ([`Row`]) and the connection interface ([`Conn`]) the store logic is written
//! against, plus the migration runner.
//!
//! Statements are written once, in the PostgreSQL placeholder style (`$1`, `$2`, …);
//! the SQLite connection rewrites `$` to `?` (`?NNN` is SQLite's numbered
//! parameter), so the same text runs on both. Only the DDL (`schema/`) differs.
//! This is not an ORM and not a query builder: just enough to not write the store
//! logic twice.

use std::fmt;

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    Bytes(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Self {
        Val::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Bytes(v)
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// A database error, with the statement (or step) that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

impl DbError {
    /// An error about the data (not the database).
    pub fn data(what: impl fmt::Display) -> Self {
        DbError(what.to_string())
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn col(&self, i: usize) -> &Val {
        self.0.get(i).unwrap_or(&Val::Null)
    }

    /// Column `i` as an integer (NULL and non-integers: an error).
    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        match self.col(i) {
            Val::Int(v) => Ok(*v),
            other @ (Val::Null | Val::Text(_) | Val::Bytes(_)) => Err(DbError(format!(
                "column {i}: expected an integer, got {other:?}"
            ))),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        match self.col(i) {
            Val::Text(v) => Ok(v.clone()),
            other @ (Val::Null | Val::Int(_) | Val::Bytes(_)) => {
                Err(DbError(format!("column {i}: expected text, got {other:?}")))
            }
        }
    }

    /// Column `i` as optional text.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.col(i) {
            Val::Null => Ok(None),
            Val::Int(_) | Val::Text(_) | Val::Bytes(_) => self.text(i).map(Some),
        }
    }

    /// Column `i` as bytes.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, DbError> {
        match self.col(i) {
            Val::Bytes(v) => Ok(v.clone()),
            Val::Text(v) => Ok(v.as_bytes().to_vec()),
            other @ (Val::Null | Val::Int(_)) => Err(DbError(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }
}

/// A database connection as the store logic uses it. Implementations block.
pub trait Conn: Send + 'static {
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, so the write lock is
    /// taken up front and a reader never has to be upgraded).
    fn begin(&mut self) -> Result<(), DbError>;
    /// Starts a read transaction: a consistent snapshot that takes no write lock,
    /// so a slow reader (IMAP) never blocks the history writer (specs/limits.md,
    /// LIM-3). SQLite: `BEGIN DEFERRED` (under WAL, readers and the writer do not
    /// wait for each other); PostgreSQL: `BEGIN` (MVCC readers take no row locks).
    fn begin_read(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN")
    }
    /// Runs several statements without parameters (DDL, `COMMIT`, savepoints).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs one statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    /// Runs one query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError>;
    /// Runs one statement once for each `params.len() / columns` consecutive
    /// runs of `columns` values (a multiple of `columns` long). The default runs
    /// [`Conn::exec`] for each; SQLite prepares the statement once for all
    /// (looking a statement up in rusqlite's cache hashes and copies its text).
    fn exec_many(&mut self, sql: &str, columns: usize, params: &[Val]) -> Result<(), DbError> {
        for chunk in params.chunks(columns.max(1)) {
            self.exec(sql, chunk)?;
        }
        Ok(())
    }
    /// Statements that must run inside the migration transaction before the version
    /// is read (PostgreSQL: an advisory lock, so two instances starting together do
    /// not both migrate).
    fn migration_lock(&self) -> &'static str {
        ""
    }

    /// The collation clause that orders text by its bytes (UTF-8: by code point),
    /// appended to a text column where a query compares or orders names by range:
    /// SQLite's default collation (BINARY) already does; PostgreSQL's database
    /// collation may not, so it gets ` COLLATE "C"`, the name column's own
    /// collation there (migration 11, specs/limits.md LIM-17).
    fn byte_order(&self) -> &'static str {
        ""
    }

    /// Whether a write transaction excludes every other writer until it ends
    /// (SQLite's `BEGIN IMMEDIATE`), so a batch may count UIDs and MODSEQs in
    /// memory and write them once (`reserve.rs`). PostgreSQL: no (another
    /// connection may move a counter meanwhile).
    fn exclusive_writes(&self) -> bool {
        false
    }

    /// Stops checking foreign keys on this connection (the history writer's):
    /// every row it writes names a parent it made or found in the same
    /// transaction, or one cached from a committed transaction (the cache is
    /// forgotten at every rollback), and no parent row is ever deleted, so the
    /// checks never fail (STORE-14). SQLite: `PRAGMA foreign_keys=OFF`, for
    /// the writer only; the default (PostgreSQL, whose batch tables have no
    /// foreign keys, migration 10) does nothing. Why: with the checks, SQLite
    /// probes each parent per row and runs every multi-row `INSERT` under a
    /// statement journal (a foreign key may abort it midway).
    fn trust_parents(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Whether a statement with `RETURNING` costs more than a second statement
    /// would: SQLite runs one into an ephemeral table and, `RETURNING` being a
    /// trigger to it, under a statement journal (a copy of every page the
    /// statement changes); PostgreSQL answers in the same round trip, where a
    /// second statement is a second round trip.
    fn returning_is_costly(&self) -> bool {
        false
    }

    /// Runs an `INSERT` written without `RETURNING` (with `ON CONFLICT DO
    /// NOTHING` it may insert nothing) and returns the row id of the row it made,
    /// if it made one. The default asks with `RETURNING id`; SQLite reads the
    /// connection's last inserted row id instead ([`Conn::returning_is_costly`]).
    fn insert_id(&mut self, sql: &str, params: &[Val]) -> Result<Option<i64>, DbError> {
        self.query_opt(&format!("{sql} RETURNING id"), params)?
            .map(|r| r.int(0))
            .transpose()
    }

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Exactly one row.
    fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Row, DbError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| DbError(format!("no row from: {sql}")))
    }

    /// Ends the current transaction durably.
    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    /// Abandons the current transaction.
    fn rollback(&mut self) -> Result<(), DbError> {
        self.batch("ROLLBACK")
    }

    /// Makes this connection's commits return before the disk flush and returns
    /// what flushes them, from another thread (the store task's sync stage,
    /// `pipeline.rs`, STORE-12); `None` (the default): commits stay durable when
    /// they return. SQLite: `synchronous=NORMAL` and an fsync of the WAL;
    /// PostgreSQL: `synchronous_commit = off` and a synchronous commit on another
    /// connection (`pg_flush.rs`).
    fn detach_sync(
        &mut self,
    ) -> Result<Option<Box<dyn crate::store::pipeline::CommitSync>>, DbError> {
        Ok(None)
    }
}

/// How a row found by its unique key, or made when missing, gives its row id
/// ([`find_or_make`]): one upsert with `RETURNING` where that is cheap
/// (PostgreSQL: one round trip), else a plain insert and, when it made nothing, a
/// read (SQLite: [`Conn::returning_is_costly`]).
#[derive(Debug, Clone, Copy)]
pub struct FindOrMake {
    /// `INSERT … ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING id`:
    /// the no-op update makes `RETURNING` answer for an existing row too.
    pub upsert: &'static str,
    /// The same `INSERT … ON CONFLICT (key) DO NOTHING`, without `RETURNING`.
    pub insert: &'static str,
    /// `SELECT id … WHERE` the key, from the first [`FindOrMake::key`] parameters.
    pub find: &'static str,
    /// How many of the parameters (the first ones) are the key.
    pub key: usize,
}

/// The row id of the row `q` names, made from `params` when missing.
pub fn find_or_make<C: Conn + ?Sized>(
    conn: &mut C,
    q: &FindOrMake,
    params: &[Val],
) -> Result<i64, DbError> {
    if !conn.returning_is_costly() {
        return conn.query_one(q.upsert, params)?.int(0);
    }
    if let Some(id) = conn.insert_id(q.insert, params)? {
        return Ok(id);
    }
    let key = params
        .get(..q.key)
        .ok_or_else(|| DbError(format!("fewer parameters than the key of: {}", q.find)))?;
    conn.query_one(q.find, key)?.int(0)
}

/// Runs `f` in a write transaction: committed when it returns `Ok`, rolled back
/// otherwise.
pub fn in_tx<C: Conn + ?Sized, T>(
    conn: &mut C,
    f: impl FnOnce(&mut C) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn.begin()?;
    match f(conn) {
        Ok(v) => {
            if let Err(e) = conn.commit() {
                let _ = conn.rollback();
                return Err(e);
            }
            Ok(v)
        }
        Err(e) => {
            let _ = conn.rollback();
            Err(e)
        }
    }
}

/// Runs `f` in a read transaction ([`Conn::begin_read`]); `f` must not write.
/// Ended with `ROLLBACK`, which for a reader only releases the snapshot.
pub fn in_read_tx<C: Conn + ?Sized, T>(
    conn: &mut C,
    f: impl FnOnce(&mut C) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn.begin_read()?;
    let result = f(conn);
    let end = conn.rollback();
    let v = result?;
    end?;
    Ok(v)
}

/// Applies the numbered migrations (`(version, sql)`, ascending) that the
/// `schema_version` table does not list yet, in one transaction. Returns the
/// version the schema is at.
pub fn migrate<C: Conn + ?Sized>(conn: &mut C, migrations: &[(i64, &str)]) -> Result<i64, DbError> {
    in_tx(conn, |c| {
        let lock = c.migration_lock();
        if !lock.is_empty() {
            c.batch(lock)?;
        }
        c.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let at = c
            .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])?
            .int(0)?;
        let newest = migrations.last().map_or(0, |m| m.0);
        if at > newest {
            return Err(DbError(format!(
                "the database schema is at version {at}, newer than this cpmd knows ({newest})"
            )));
        }
        for (version, sql) in migrations.iter().filter(|m| m.0 > at) {
            c.batch(sql)
                .map_err(|e| DbError(format!("migration {version}: {e}")))?;
            c.exec(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[Val::Int(*version)],
            )?;
        }
        Ok(newest.max(at))
    })
}
