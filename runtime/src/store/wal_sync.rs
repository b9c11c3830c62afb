//! [`WalSync`]: the SQLite writer's commits made durable from the store task's sync
//! thread (`pipeline.rs`, STORE-12): an fsync of the database's write-ahead log.
//!
//! The writer connection commits with `synchronous=NORMAL`: the commit writes its
//! WAL frames (to the page cache) and returns without an fsync. An fsync of the
//! WAL file started after that commit returned puts its frames on disk, which is
//! what `synchronous=FULL` does at the commit itself. Linux flushes a file's dirty
//! pages whichever descriptor wrote them, so a descriptor of our own serves. A
//! checkpoint (on the writer's thread) fsyncs the WAL before copying it and the
//! database after, so frames it copies stay durable when the WAL is reused.
//!
//! Not for other platforms' fsync semantics (macOS needs `F_FULLFSYNC`), and not a
//! replacement for SQLite's own fsyncs at checkpoints.

use std::fs::File;
use std::path::PathBuf;

use crate::store::pipeline::CommitSync;
use crate::store::sql::DbError;

/// Fsyncs `<database>-wal`.
pub struct WalSync {
    wal: PathBuf,
    db: PathBuf,
    /// The WAL file's descriptor, opened on the first flush (the WAL exists once
    /// the writer committed).
    file: Option<File>,
}

impl WalSync {
    /// For the database file at `db` (the path SQLite reports for it).
    pub fn new(db: PathBuf) -> Self {
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        Self {
            wal: PathBuf::from(wal),
            db,
            file: None,
        }
    }
}

impl CommitSync for WalSync {
    fn sync_committed(&mut self) -> Result<(), DbError> {
        let io =
            |what: &PathBuf, e: std::io::Error| DbError(format!("fsync {}: {e}", what.display()));
        if self.file.is_none() {
            match File::open(&self.wal) {
                Ok(f) => {
                    // The WAL's directory entry too, once: a power loss must not
                    // lose the file the first commits are in.
                    if let Some(dir) = self.wal.parent().filter(|d| !d.as_os_str().is_empty()) {
                        File::open(dir)
                            .and_then(|d| d.sync_all())
                            .map_err(|e| io(&dir.to_path_buf(), e))?;
                    }
                    self.file = Some(f);
                }
                // No WAL: everything committed was checkpointed into the database
                // file (and the WAL removed); flush that.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return File::open(&self.db)
                        .and_then(|f| f.sync_data())
                        .map_err(|e| io(&self.db, e));
                }
                Err(e) => return Err(io(&self.wal, e)),
            }
        }
        match &self.file {
            Some(f) => f.sync_data().map_err(|e| io(&self.wal, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::sql::Conn;
    use crate::store::sqlite::SqliteConn;

    /// STORE-12 on SQLite: detaching the sync turns the writer's commits to
    /// `synchronous=NORMAL` (1, from FULL: 2) and the WAL flush runs on a real file.
    #[test]
    fn store_12_sqlite_commits_detach_and_the_wal_flushes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = SqliteConn::open(&dir.path().join("w.db")).expect("open");
        let level = |c: &mut SqliteConn| {
            c.query("PRAGMA synchronous", &[]).unwrap()[0]
                .int(0)
                .unwrap()
        };
        assert_eq!(level(&mut conn), 2, "FULL until detached");
        let mut sync = conn.detach_sync().expect("detach").expect("a WAL sync");
        assert_eq!(level(&mut conn), 1, "NORMAL once detached");
        conn.batch("CREATE TABLE t (x INTEGER)").unwrap();
        conn.begin().unwrap();
        conn.exec("INSERT INTO t (x) VALUES ($1)", &[7.into()])
            .unwrap();
        conn.commit().unwrap();
        assert!(dir.path().join("w.db-wal").exists(), "the WAL it flushes");
        sync.sync_committed().expect("flushed");
        sync.sync_committed().expect("flushed again");
    }
}
