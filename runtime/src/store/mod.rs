//! The message store: the [`HistoryStore`] write path the event loop feeds (the
//! core's `Persist` and `SealSession`), the store task that runs it off the event
//! loop with group commit, and [`open`], which picks a backend by URL and also
//! returns the [`MailStore`] view the IMAP server reads.
//!
//! Backends: SQLite (`sqlite:PATH`, the default `<data_dir>/cpmd.db`) and PostgreSQL
//! (`postgres://…`), with the same tables (`schema/`), the same statements
//! (`sql.rs`) and the same logic (`history.rs`, `mail.rs`). The objects users read
//! are built by `layout.rs`. The layout and invariants are in specs/store.md.
//!
//! Group commit: the store task writes every job already queued (up to
//! [`MAX_BATCH`]) in one database transaction and commits once for all of them, so
//! durability costs one commit (one fsync) per batch rather than one per record; no
//! job is answered before that commit. On PostgreSQL the batch also costs two
//! round trips rather than about ten per record ([`HistoryStore::write_batch`],
//! `pg_batch.rs`).

#[cfg(test)]
mod body_once_tests;
pub mod cluster;
pub mod deferred;
pub mod group_state;
pub mod history;
pub mod inspect;
pub mod layout;
pub mod mail;
pub mod mail_list;
pub mod ops;
mod ops_many;
pub mod pg_batch;
mod pg_batch_sql;
pub mod pg_flush;
pub mod pg_tls;
pub mod pipeline;
pub mod postgres;
pub mod quota;
#[cfg(test)]
mod quota_tests;
pub mod recovery;
pub mod reserve;
pub mod restart;
pub mod row_batch;
pub mod row_id_hash;
pub(crate) mod seal_new;
pub mod sql;
pub mod sqlite;
#[cfg(test)]
mod tests;
pub mod wal_sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cpmd_core::server::{HistoryObject, Record, SessionKey};
use cpmd_core::StoreTicket;
use cpmd_core::UserUri;
use tokio::sync::{broadcast, mpsc};

use crate::mailstore::{MailChange, MailStore};
use crate::store::history::HistoryWriter;
use crate::store::mail::MailView;
use crate::store::sql::{migrate, Conn, DbError};

/// The error type the core takes back.
pub use cpmd_core::server::StoreError;

/// Where records become durable. Implementations block; the store task runs them on
/// a blocking thread.
pub trait HistoryStore: Send + 'static {
    /// Writes one record (a chat message or a session info object); durable only
    /// after the next successful [`HistoryStore::sync`].
    fn persist(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Writes a session history object (seals the session); durable only after the
    /// next successful [`HistoryStore::sync`].
    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> Result<(), StoreError>;
    /// GRP-40: the members of the ended group a session info just written
    /// restarted (its last stored group state), once, for the core's
    /// `handle_group_restored`; `None` for any other info.
    fn take_restored(&mut self, key: &SessionKey) -> Option<Vec<UserUri>> {
        let _ = key;
        None
    }
    /// Writes a group commit's jobs and makes them durable: one answer per job, in
    /// order, none `Ok` unless durable. The default writes each job, then syncs once;
    /// a backend may do the same work in fewer round trips (PostgreSQL:
    /// `pg_batch.rs`).
    fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
        write_each(self, batch)
    }
    /// [`HistoryStore::write_batch`], free to take the next batch early with
    /// `ahead` (once at most; it returns the jobs queued by then, maybe none) and
    /// prepare it while this one is written: returns this batch's answers and the
    /// jobs taken ahead, which the caller writes next, as they are (PostgreSQL
    /// plans the next batch while the server writes this one: `pg_batch.rs`). The
    /// default takes nothing ahead.
    fn write_batch_ahead(
        &mut self,
        batch: &[StoreJob],
        ahead: &mut dyn FnMut() -> Vec<StoreJob>,
    ) -> (Vec<Result<(), StoreError>>, Vec<StoreJob>) {
        let _ = ahead;
        (self.write_batch(batch), Vec::new())
    }
    /// Switches the backend's commits to return before the disk flush and returns
    /// what flushes them from another thread (`pipeline.rs`, STORE-12); `None`
    /// (the default): a commit is durable when it returns.
    fn detach_sync(&mut self) -> Option<Box<dyn pipeline::CommitSync>> {
        None
    }
}

/// [`HistoryStore::write_batch`] one job after the other, then one sync.
pub fn write_each<S: HistoryStore + ?Sized>(
    store: &mut S,
    batch: &[StoreJob],
) -> Vec<Result<(), StoreError>> {
    let mut answers: Vec<Result<(), StoreError>> = batch
        .iter()
        .map(|job| match job {
            StoreJob::Persist(_, record) => store.persist(record),
            StoreJob::Seal(_, history) => store.seal(history),
        })
        .collect();
    // One fsync makes the whole batch durable; if it fails, nothing in the batch may
    // be reported durable.
    if let Err(e) = store.sync() {
        for answer in answers.iter_mut().filter(|a| a.is_ok()) {
            *answer = Err(e.clone());
        }
    }
    answers
}

impl HistoryStore for Box<dyn HistoryStore> {
    fn persist(&mut self, record: &Record) -> Result<(), StoreError> {
        (**self).persist(record)
    }
    fn seal(&mut self, history: &HistoryObject) -> Result<(), StoreError> {
        (**self).seal(history)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        (**self).sync()
    }
    fn take_restored(&mut self, key: &SessionKey) -> Option<Vec<UserUri>> {
        (**self).take_restored(key)
    }
    fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
        (**self).write_batch(batch)
    }
    fn write_batch_ahead(
        &mut self,
        batch: &[StoreJob],
        ahead: &mut dyn FnMut() -> Vec<StoreJob>,
    ) -> (Vec<Result<(), StoreError>>, Vec<StoreJob>) {
        (**self).write_batch_ahead(batch, ahead)
    }
    fn detach_sync(&mut self) -> Option<Box<dyn pipeline::CommitSync>> {
        (**self).detach_sync()
    }
}

/// Most jobs one fsync covers.
pub const MAX_BATCH: usize = 256;

/// Work for the store task.
#[derive(Debug)]
pub enum StoreJob {
    /// A `Persist` command.
    Persist(StoreTicket, Record),
    /// A `SealSession` command.
    Seal(StoreTicket, HistoryObject),
}

/// The store's answer, fed back with `handle_store_result`; for a restart's
/// session info also the members it invites (GRP-40: `handle_group_restored`
/// first).
pub type StoreDone = (StoreTicket, Result<(), StoreError>, Option<Vec<UserUri>>);

/// Runs `store` on a blocking thread: jobs in, answers out, in order. The thread
/// ends when the job channel closes (shutdown), after finishing every queued job.
pub fn spawn_store_task(
    store: impl HistoryStore,
    jobs: mpsc::UnboundedReceiver<StoreJob>,
    done: mpsc::UnboundedSender<StoreDone>,
) -> tokio::task::JoinHandle<()> {
    spawn_store_task_observed(store, jobs, done, |_| {})
}

/// [`spawn_store_task`], telling `on_batch` the size of each batch before it is
/// written (the metrics' batch-size histogram).
pub fn spawn_store_task_observed(
    mut store: impl HistoryStore,
    mut jobs: mpsc::UnboundedReceiver<StoreJob>,
    done: mpsc::UnboundedSender<StoreDone>,
    on_batch: impl Fn(usize) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        // STORE-12: the flush of one batch overlaps the writing of the next.
        let mut answering = pipeline::Answering::start(store.detach_sync(), done);
        let more = |jobs: &mut mpsc::UnboundedReceiver<StoreJob>, batch: &mut Vec<StoreJob>| {
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        };
        // Jobs the store took ahead with the last batch: the next batch, as taken
        // (the store may have prepared it).
        let mut next: Vec<StoreJob> = Vec::new();
        loop {
            let batch = if next.is_empty() {
                let Some(first) = jobs.blocking_recv() else {
                    break;
                };
                let mut batch = vec![first];
                more(&mut jobs, &mut batch);
                batch
            } else {
                std::mem::take(&mut next)
            };
            on_batch(batch.len());
            let (results, ahead) = store.write_batch_ahead(&batch, &mut || {
                let mut taken = Vec::new();
                more(&mut jobs, &mut taken);
                taken
            });
            next = ahead;
            let answers: Vec<StoreDone> = batch
                .iter()
                .zip(results)
                .map(|(job, result)| match job {
                    StoreJob::Persist(ticket, Record::SessionInfo(info)) => {
                        let restored = result
                            .is_ok()
                            .then(|| store.take_restored(&info.key))
                            .flatten();
                        (*ticket, result, restored)
                    }
                    StoreJob::Persist(ticket, _) | StoreJob::Seal(ticket, _) => {
                        (*ticket, result, None)
                    }
                })
                .collect();
            answering.committed(answers, !next.is_empty() || !jobs.is_empty());
        }
        answering.finish();
    })
}

/// Where the store is: the `store` setting (`sqlite:PATH` or `postgres://…`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file (a relative path is relative to the working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for StoreUrl {
    /// The URL without its password (for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreUrl::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                match rest.rsplit_once('@') {
                    Some((cred, host)) => {
                        let user = cred.split(':').next().unwrap_or_default();
                        write!(f, "{scheme}://{user}:***@{host}")
                    }
                    None => write!(f, "{url}"),
                }
            }
        }
    }
}

/// A `store` setting that is neither `sqlite:` nor `postgres://`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store URL {0:?}: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB")]
pub struct BadStoreUrl(pub String);

impl StoreUrl {
    /// Parses `sqlite:PATH` (also `sqlite://PATH`) or `postgres://…`.
    pub fn parse(text: &str) -> Result<Self, BadStoreUrl> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(BadStoreUrl(text.to_owned()));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(text.to_owned()));
        }
        Err(BadStoreUrl(text.to_owned()))
    }

    /// The default: `sqlite:<data_dir>/cpmd.db`.
    pub fn default_in(data_dir: &Path) -> Self {
        StoreUrl::Sqlite(data_dir.join("cpmd.db"))
    }
}

/// An open store: the writer for the store task and the view for IMAP.
pub struct OpenStore {
    /// The write path (give it to [`spawn_store_task`]).
    pub history: Box<dyn HistoryStore>,
    /// The mailbox view (what the IMAP server reads); its `watch` feed hears of
    /// every commit of `history`.
    pub mail: Arc<dyn MailStore>,
    /// Contribution-IDs of the sessions a crash had left open, now sealed.
    pub recovered: Vec<String>,
    /// The deferred messages and known users to feed the core (specs/deferred.md).
    pub deferred: deferred::Restored,
    /// The mailbox change feed (for writers besides `history`: a cluster take-over).
    pub feed: broadcast::Sender<MailChange>,
}

/// Capacity of the change feed: an IDLE client that lags further behind gets a
/// `Lagged` and rescans.
pub(crate) const FEED_CAPACITY: usize = 1024;

/// Opens the store at `url` for cpmd instance `instance`: connects, migrates the
/// schema, seals the sessions of this instance a crash left open, and opens the
/// mailbox view. Blocks (call it from a blocking thread when inside tokio).
pub fn open(url: &StoreUrl, instance: u64) -> Result<OpenStore, DbError> {
    open_limited(url, instance, quota::DEFAULT_USER_QUOTA_BYTES)
}

/// [`open`] with a quota of `user_quota_bytes` on each user's stored message
/// bytes (LIM-14, `quota.rs`).
pub fn open_limited(
    url: &StoreUrl,
    instance: u64,
    user_quota_bytes: u64,
) -> Result<OpenStore, DbError> {
    let instance = i64::try_from(instance).map_err(DbError::data)?;
    match url {
        StoreUrl::Sqlite(path) => open_with(
            sqlite::SqliteConn::open(path)?,
            || sqlite::SqliteConn::open(path),
            sqlite::MIGRATIONS,
            instance,
            user_quota_bytes,
            |history, _| Box::new(history),
        ),
        StoreUrl::Postgres(u) => open_with(
            {
                // Its I/O on a thread of its own: the batch writer plans the next
                // batch while the server writes the last (`pg_batch.rs`).
                let mut writer = postgres::PgConn::connect_driven(u)?;
                writer.hold_instance(instance)?;
                writer
            },
            || postgres::PgConn::connect(u),
            postgres::MIGRATIONS,
            instance,
            user_quota_bytes,
            |history, feed| Box::new(pg_batch::PgBatchWriter::new(history, feed)),
        ),
    }
}

fn open_with<C: Conn>(
    mut writer: C,
    reader: impl FnOnce() -> Result<C, DbError>,
    migrations: &[(i64, &str)],
    instance: i64,
    user_quota_bytes: u64,
    wrap: impl FnOnce(HistoryWriter<C>, broadcast::Sender<MailChange>) -> Box<dyn HistoryStore>,
) -> Result<OpenStore, DbError> {
    migrate(&mut writer, migrations)?;
    let (feed, _) = broadcast::channel(FEED_CAPACITY);
    let mut history =
        HistoryWriter::new(writer, instance, feed.clone()).with_user_quota(user_quota_bytes);
    let recovered = history.recover()?;
    let mut reader = reader()?;
    let deferred = deferred::load(&mut reader, instance)?;
    let mail = MailView::new(reader, feed.clone());
    Ok(OpenStore {
        feed: feed.clone(),
        history: wrap(history, feed),
        mail: Arc::new(mail),
        recovered,
        deferred,
    })
}
