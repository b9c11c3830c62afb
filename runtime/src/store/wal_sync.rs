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
//! Checkpoints (copying the WAL's pages into the database file) run on a thread of
//! their own ([`Checkpointer`]), woken after every [`CHECKPOINT_RECORDS`] records
//! made durable, on a connection of its own: SQLite's automatic checkpoint runs on
//! the committing connection, the writer's, which then read and wrote every page
//! a second time and waited for two fsyncs (the WAL's and the database's) before
//! its next batch; the writer was the relay's busiest thread, ~40% of its CPU
//! in the kernel, about half of that the checkpoints' (bench/README.md, "Session
//! 15"). The writer keeps its automatic checkpoint as a backstop only
//! ([`WRITER_CHECKPOINT_PAGES`]): a passive checkpoint beside a writer that never
//! pauses cannot finish, so the WAL could not start over; the writer's own, right
//! after its commit, finishes it. Durability does not depend on either: a frame
//! is durable once the WAL is fsync'd, and a checkpoint fsyncs the WAL before it
//! copies and the database before the WAL may be reused.
//!
//! Not for other platforms' fsync semantics (macOS needs `F_FULLFSYNC`), and not a
//! replacement for SQLite's own fsyncs at checkpoints.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use crate::store::pipeline::CommitSync;
use crate::store::sql::DbError;

/// Records made durable between two wake-ups of the checkpointer: ~460 WAL pages
/// at a high rate with 100 B chat messages (~0.45 pages each in batches of ~230),
/// ~1,750 with 4 KiB ones (~1.7 each: the body overflows its page). Each cycle of
/// the WAL ends with the writer's backstop copying what the checkpointer has not
/// (the frames since its last wake-up), so a wake-up covers a small part of
/// [`WRITER_CHECKPOINT_PAGES`]: with 2,048 records and a backstop of 4,000 pages
/// the writer still copied ~40% of the pages at 4 KiB. At low rates (a record
/// per batch, several pages each) the backstop comes first, and the writer has
/// the time.
pub const CHECKPOINT_RECORDS: usize = 1_024;

/// The writer's automatic checkpoint, in WAL pages (SQLite's default 1,000): the
/// backstop that lets the WAL start over under a writer that never pauses (a
/// passive checkpoint beside it never catches up with the last frame), and that
/// bounds the WAL (~40 MB of 4 KiB pages) if the checkpointer falls behind.
pub const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Fsyncs `<database>-wal`, and wakes the checkpointer.
pub struct WalSync {
    wal: PathBuf,
    db: PathBuf,
    /// The WAL file's descriptor, opened on the first flush (the WAL exists once
    /// the writer committed).
    file: Option<File>,
    /// Records made durable since the checkpointer was last woken.
    since: usize,
    /// Started on its first wake-up.
    checkpointer: Option<Checkpointer>,
    /// Checkpoints finished (the checkpointer's count, kept across its start).
    checkpoints: Arc<AtomicUsize>,
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
            since: 0,
            checkpointer: None,
            checkpoints: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Checkpoints the checkpointer finished so far.
    pub fn checkpoints(&self) -> usize {
        self.checkpoints.load(Ordering::Acquire)
    }
}

/// The checkpointing thread: each wake-up one passive checkpoint (it copies what
/// no reader still needs and never waits for a lock), on its own connection.
struct Checkpointer {
    /// Wake-ups: one waiting at most (a wake-up while one waits is the same one).
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(db: PathBuf, done: Arc<AtomicUsize>) -> std::io::Result<Self> {
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("cpmd-store-ckpt".into())
            .spawn(move || {
                let mut conn: Option<rusqlite::Connection> = None;
                while woken.recv().is_ok() {
                    if conn.is_none() {
                        match rusqlite::Connection::open(&db) {
                            Ok(c) => conn = Some(c),
                            Err(e) => {
                                tracing::warn!(error = %e, "store: no checkpoint connection; the writer checkpoints");
                                continue;
                            }
                        }
                    }
                    let Some(c) = &conn else { continue };
                    match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::AcqRel);
                        }
                        // Nothing is lost: the frames stay in the WAL, and the
                        // writer's backstop checkpoints them.
                        Err(e) => tracing::warn!(error = %e, "store: checkpoint failed"),
                    }
                }
            })?;
        Ok(Self {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Some(w) = &self.wake {
            // Full: a wake-up is waiting already.
            let _ = w.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Ends the thread after its checkpoint in progress (its connection closes
    /// before the writer's: the store closes as before).
    fn drop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("store checkpoint thread panicked");
            }
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

    fn answered(&mut self, records: usize) {
        self.since += records;
        if self.since < CHECKPOINT_RECORDS {
            return;
        }
        self.since = 0;
        if self.checkpointer.is_none() {
            match Checkpointer::start(self.db.clone(), Arc::clone(&self.checkpoints)) {
                Ok(c) => self.checkpointer = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "store: no checkpoint thread; the writer checkpoints");
                    return;
                }
            }
        }
        if let Some(c) = &self.checkpointer {
            c.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{WalSync, CHECKPOINT_RECORDS, WRITER_CHECKPOINT_PAGES};
    use crate::store::pipeline::CommitSync;
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

    /// Checkpoints leave the writer's thread: its automatic checkpoint is only the
    /// backstop once the sync is detached, and the checkpointer copies the WAL
    /// into the database file once `CHECKPOINT_RECORDS` records were answered,
    /// not before.
    #[test]
    fn checkpoints_run_on_the_checkpointer_after_enough_answers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.db");
        let mut conn = SqliteConn::open(&path).expect("open");
        let backstop = |c: &mut SqliteConn| {
            c.query("PRAGMA wal_autocheckpoint", &[]).unwrap()[0]
                .int(0)
                .unwrap()
        };
        assert_eq!(backstop(&mut conn), 1000, "SQLite's default until detached");
        let _detached = conn.detach_sync().expect("detach").expect("a WAL sync");
        assert_eq!(
            backstop(&mut conn),
            i64::from(WRITER_CHECKPOINT_PAGES),
            "the writer's checkpoint is the backstop"
        );
        let mut sync = WalSync::new(path.clone());
        conn.batch("CREATE TABLE t (x BLOB)").unwrap();
        conn.begin().unwrap();
        for _ in 0..200 {
            conn.exec("INSERT INTO t (x) VALUES ($1)", &[vec![7u8; 3000].into()])
                .unwrap();
        }
        conn.commit().unwrap();
        sync.sync_committed().expect("flushed");
        let db_len = || std::fs::metadata(&path).unwrap().len();
        let before = db_len();
        assert!(
            before < 200 * 3000,
            "the rows are in the WAL only: {before}"
        );
        sync.answered(CHECKPOINT_RECORDS - 1);
        assert!(sync.checkpointer.is_none(), "not woken yet");
        sync.answered(1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sync.checkpoints() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(sync.checkpoints(), 1, "one checkpoint");
        assert!(
            db_len() >= 200 * 3000,
            "the WAL copied into the database file: {} bytes",
            db_len()
        );
        drop(sync);
        let rows = conn.query("SELECT count(*) FROM t", &[]).unwrap()[0]
            .int(0)
            .unwrap();
        assert_eq!(rows, 200);
    }
}
