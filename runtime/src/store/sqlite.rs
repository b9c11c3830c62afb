//! The embedded default backend: one SQLite file (rusqlite, SQLite compiled in), in
//! WAL mode with `synchronous=FULL`, so a commit returns only after the WAL is
//! fsync'd: a committed batch survives a process crash and a power loss.
//!
//! Two connections to the file: the history writer's and the mailbox view's;
//! WAL lets the view read while the writer writes, and a 5 s busy timeout
//! serialises their writes (flag changes). Both check foreign keys, but for the
//! history writer's, which cannot break them (`Conn::trust_parents`, STORE-14).

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use crate::store::pipeline::CommitSync;
use crate::store::sql::{Conn, DbError, Row, Val};
use crate::store::wal_sync::{WalSync, WRITER_CHECKPOINT_PAGES};

/// The migrations, in order (schema_version lists those applied).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema/sqlite/0001_init.sql")),
    (2, include_str!("schema/sqlite/0002_user_quota.sql")),
    (4, include_str!("schema/sqlite/0004_deferred.sql")),
    (5, include_str!("schema/sqlite/0005_group_states.sql")),
    (6, include_str!("schema/sqlite/0006_cluster.sql")),
    (7, include_str!("schema/sqlite/0007_mailbox_names.sql")),
    (8, include_str!("schema/sqlite/0008_entry_bodies.sql")),
    (10, include_str!("schema/sqlite/0010_proved_parents.sql")),
    (
        11,
        include_str!("schema/sqlite/0011_mailbox_names_bytes.sql"),
    ),
    (12, include_str!("schema/sqlite/0012_open_sessions.sql")),
    (13, include_str!("schema/sqlite/0013_entries_modseq.sql")),
    (14, include_str!("schema/sqlite/0014_entries_by_uid.sql")),
];

/// A SQLite connection.
pub struct SqliteConn {
    conn: Connection,
}

fn db(e: rusqlite::Error) -> DbError {
    DbError(format!("sqlite: {e}"))
}

impl SqliteConn {
    /// Opens (creating the file, mode 0600, and its directory, 0700, when missing) and configures
    /// the connection: WAL, `synchronous=FULL`, foreign keys, busy timeout.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::missing_dirs(dir)
                .map_err(|e| DbError(format!("creating {}: {e}", dir.display())))?;
        }
        // SEC-8: message bodies; SQLite gives its -wal and -shm files this mode too.
        crate::files::private_file(path)
            .map_err(|e| DbError(format!("{}: {e}", path.display())))?;
        let conn =
            Connection::open(path).map_err(|e| DbError(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError(format!(
                "sqlite: WAL mode refused (journal_mode={mode})"
            )));
        }
        // temp_store=MEMORY: the statement journal of each record's savepoint
        // (`history.rs`) lives in memory; as a temporary file it cost a write per
        // page changed, the largest item of the message path's profile
        // (bench/README.md). Nothing durable is in it: the WAL is.
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
        )
        .map_err(db)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Self { conn })
    }

    /// A connection to a fresh database in a temporary directory (kept alive by the
    /// returned guard) holding the tables `schema` creates (unit tests of one
    /// statement shape).
    #[cfg(test)]
    pub fn scratch(schema: &str) -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Self::open(&dir.path().join("scratch.db")).expect("open");
        conn.batch(schema).expect("schema");
        (dir, conn)
    }

    /// Caps the database at its current size, so the next write that needs a new
    /// page fails as on a full disk (tests of the failure path).
    #[cfg(test)]
    pub fn fill_disk(&mut self) {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        self.conn
            .execute_batch(&format!("PRAGMA max_page_count={pages}"))
            .unwrap();
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

/// `$n` (the shared statements' style) → `?n` (SQLite's numbered parameter).
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

impl Conn for SqliteConn {
    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN IMMEDIATE")
    }

    fn exclusive_writes(&self) -> bool {
        // `begin` is `BEGIN IMMEDIATE`: the write lock is held until the commit.
        true
    }

    fn begin_read(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN DEFERRED")
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        // The transaction statements run several times per record (a savepoint
        // each): prepared once, not parsed again every time.
        let control = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"];
        if !sql.contains(';') && control.iter().any(|c| sql.starts_with(c)) {
            let mut stmt = self.conn.prepare_cached(sql).map_err(db)?;
            stmt.execute([]).map_err(db)?;
            return Ok(());
        }
        self.conn.execute_batch(sql).map_err(db)
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(db)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(db)?;
        Ok(n as u64)
    }

    fn exec_many(&mut self, sql: &str, columns: usize, params: &[Val]) -> Result<(), DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(db)?;
        for chunk in params.chunks(columns.max(1)) {
            stmt.execute(rusqlite::params_from_iter(chunk.iter()))
                .map_err(db)?;
        }
        Ok(())
    }

    fn returning_is_costly(&self) -> bool {
        true
    }

    fn trust_parents(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch("PRAGMA foreign_keys=OFF")
            .map_err(db)
    }

    fn insert_id(&mut self, sql: &str, params: &[Val]) -> Result<Option<i64>, DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(db)?;
        let made = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(db)?;
        drop(stmt);
        // One row made: its row id is the connection's last inserted one (none
        // made, as by `ON CONFLICT DO NOTHING`: that id is an earlier row's).
        Ok((made == 1).then(|| self.conn.last_insert_rowid()))
    }

    fn detach_sync(&mut self) -> Result<Option<Box<dyn CommitSync>>, DbError> {
        // The name SQLite gives the WAL: the database's full path and `-wal`.
        let Some(db_path) = self.conn.path().filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let sync = WalSync::new(std::path::PathBuf::from(db_path));
        // In WAL mode NORMAL keeps the database consistent and only skips the fsync
        // at commit; `WalSync` does it, before any answer (STORE-12). The WAL is
        // still fsync'd before each checkpoint and the database file after it.
        // Checkpoints move to `WalSync`'s checkpointer (off the writer's thread);
        // the writer's own stays as the backstop (`WRITER_CHECKPOINT_PAGES`).
        self.conn
            .execute_batch(&format!(
                "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}"
            ))
            .map_err(db)?;
        Ok(Some(Box::new(sync)))
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(db)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(db)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db)? {
            let mut vals = Vec::with_capacity(columns);
            for i in 0..columns {
                vals.push(match r.get_ref(i).map_err(db)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Int(v as i64),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteConn;
    use crate::store::sql::{find_or_make, Conn, FindOrMake, Val};

    const THING: FindOrMake = FindOrMake {
        upsert: "INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET k = excluded.k RETURNING id",
        insert: "INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
        find: "SELECT id FROM t WHERE k = $1",
        key: 1,
    };

    /// Without `RETURNING`: the id of the row an insert made, none for an insert
    /// that made nothing (not the id of the last row made before it), and
    /// `find_or_make` finds an existing row by its key.
    #[test]
    fn insert_id_names_the_row_made_and_only_that() {
        let (_dir, mut conn) = SqliteConn::scratch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, v INTEGER)",
        );
        let a = conn
            .insert_id(THING.insert, &["a".into(), Val::Int(1)])
            .unwrap();
        let b = conn
            .insert_id(THING.insert, &["b".into(), Val::Int(2)])
            .unwrap();
        assert!(a.is_some() && b.is_some() && a != b);
        assert_eq!(
            conn.insert_id(THING.insert, &["a".into(), Val::Int(3)])
                .unwrap(),
            None,
            "a conflict makes nothing"
        );
        assert_eq!(
            find_or_make(&mut conn, &THING, &["a".into(), Val::Int(4)]).unwrap(),
            a.unwrap()
        );
        let c = find_or_make(&mut conn, &THING, &["c".into(), Val::Int(5)]).unwrap();
        let row = conn
            .query_one("SELECT k, v FROM t WHERE id = $1", &[Val::Int(c)])
            .unwrap();
        assert_eq!((row.text(0).unwrap(), row.int(1).unwrap()), ("c".into(), 5));
        let row = conn
            .query_one("SELECT v FROM t WHERE k = 'a'", &[])
            .unwrap();
        assert_eq!(row.int(0).unwrap(), 1, "the existing row is left as it was");
    }
}
