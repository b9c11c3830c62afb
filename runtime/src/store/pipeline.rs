//! The store task's second stage: a backend whose commit returns before the data is
//! on disk ([`HistoryStore::detach_sync`]: SQLite with `synchronous=NORMAL`) hands
//! each committed batch's answers to a sync thread, which makes every commit so far
//! durable with one flush ([`CommitSync`]: an fsync of SQLite's WAL) and only then
//! sends the answers, in order. Meanwhile the writer already writes and commits the
//! next batch: the store's throughput is bound by its CPU, not by the fsync's
//! latency, and one flush covers every batch committed while the previous flush ran.
//!
//! What it is not: a weaker durability. An answer is sent only after a flush that
//! *started after its batch's commit returned* (the writer passes the answers on only
//! then), so an acknowledged record is on disk as with `synchronous=FULL` (STORE-1,
//! STORE-12). A failed flush fails its answers and every later one (fail-stop: after
//! a failed fsync the kernel may have dropped the pages, and later WAL frames chain on
//! them).
//!
//! PostgreSQL detaches too: its writer commits with `synchronous_commit = off` and
//! the flush is a synchronous commit on a connection of its own (`pg_flush.rs`). A
//! backend without a detached sync (any `HistoryStore` by default) is answered
//! straight after its `write_batch`, as before.
//!
//! When the writer has nothing else queued and no earlier batch is still waiting
//! for the sync thread, it flushes its batch itself: there is nothing to overlap
//! the flush with, and the hand-over only added a thread wake-up per batch (the
//! sync thread's, at every seal at low rates: bench/README.md, "session 9"). The
//! flush and the answers are the same ones, in the same order (the sync thread
//! has answered everything before), under the same fail-stop state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;

use tokio::sync::mpsc::UnboundedSender;

use crate::store::sql::DbError;
use crate::store::{StoreDone, StoreError};

/// Makes every commit its connection returned so far durable; runs on the sync
/// thread, concurrently with the writer's next batch.
pub trait CommitSync: Send + 'static {
    /// Flushes everything committed before this call started.
    fn sync_committed(&mut self) -> Result<(), DbError>;

    /// After a flush and its answers: `records` more were made durable. For work
    /// that may follow a flush but must not delay its answers (SQLite's WAL
    /// checkpoints, `wal_sync.rs`); nothing by default.
    fn answered(&mut self, records: usize) {
        let _ = records;
    }
}

/// Sends one batch's answers to the event loop (logging the failed ones).
pub(crate) fn send_answers(done: &UnboundedSender<StoreDone>, answers: Vec<StoreDone>) {
    for (ticket, result, restored) in answers {
        if let Err(e) = &result {
            tracing::error!(%ticket, error = %e, "store write failed");
        }
        if done.send((ticket, result, restored)).is_err() {
            tracing::warn!("event loop gone; store answer dropped");
        }
    }
}

/// Flushes and answers committed batches, and keeps the fail-stop state.
pub(crate) struct Flusher {
    sync: Box<dyn CommitSync>,
    failed: Option<StoreError>,
    done: UnboundedSender<StoreDone>,
}

impl Flusher {
    /// One flush for `pending` (every batch committed before it started), then
    /// their answers, in order.
    fn flush_and_answer(&mut self, pending: Vec<Vec<StoreDone>>) {
        let any_ok = pending.iter().flatten().any(|(_, r, _)| r.is_ok());
        if any_ok && self.failed.is_none() {
            if let Err(e) = self.sync.sync_committed() {
                tracing::error!(error = %e, "store: flushing committed batches failed; no further write is acknowledged");
                self.failed = Some(StoreError::Failed {
                    reason: format!("flushing the commit failed: {e}"),
                });
            }
        }
        let mut durable = 0;
        for answers in pending {
            let answers: Vec<StoreDone> = answers
                .into_iter()
                .map(|(ticket, result, restored)| match (&self.failed, result) {
                    (Some(e), Ok(())) => (ticket, Err(e.clone()), None),
                    (_, result) => (ticket, result, restored),
                })
                .collect();
            durable += answers.iter().filter(|(_, r, _)| r.is_ok()).count();
            send_answers(&self.done, answers);
        }
        if durable > 0 {
            self.sync.answered(durable);
        }
    }
}

/// The flusher, shared by the writer and the sync thread (one flush at a time).
type SharedFlusher = Arc<Mutex<Flusher>>;

/// Locks the flusher; a panic elsewhere does not stop the answers (the state it
/// keeps, the fail-stop error, is only ever set whole).
fn lock(flusher: &SharedFlusher) -> MutexGuard<'_, Flusher> {
    flusher
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sync thread and what the writer shares with it.
pub(crate) struct Pipeline {
    /// Committed batches for the sync thread.
    batches: mpsc::Sender<Vec<StoreDone>>,
    thread: thread::JoinHandle<()>,
    flusher: SharedFlusher,
    /// Batches handed to the sync thread and not yet answered (decremented only
    /// after their answers are sent).
    in_flight: Arc<AtomicUsize>,
}

/// How the store task answers a batch once `write_batch` returned.
pub(crate) enum Answering {
    /// The commit was durable when it returned: answer at once.
    Direct(UnboundedSender<StoreDone>),
    /// Through the sync thread, or the writer's own flush when it is idle.
    Pipelined(Pipeline),
    /// The sync thread could not be started: flush on the writer's thread.
    Inline(SharedFlusher),
}

impl Answering {
    /// The answering stage for a backend that detached its sync (`sync`) or not.
    pub(crate) fn start(
        sync: Option<Box<dyn CommitSync>>,
        done: UnboundedSender<StoreDone>,
    ) -> Self {
        let Some(sync) = sync else {
            return Answering::Direct(done);
        };
        let flusher = Arc::new(Mutex::new(Flusher {
            sync,
            failed: None,
            done,
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (batches, committed) = mpsc::channel::<Vec<StoreDone>>();
        let (shared, counted) = (Arc::clone(&flusher), Arc::clone(&in_flight));
        let started = thread::Builder::new()
            .name("cpmd-store-sync".into())
            .spawn(move || {
                while let Ok(first) = committed.recv() {
                    // Every batch committed by now: one flush covers them all.
                    let mut pending = vec![first];
                    pending.extend(committed.try_iter());
                    let n = pending.len();
                    lock(&shared).flush_and_answer(pending);
                    counted.fetch_sub(n, Ordering::AcqRel);
                }
            });
        match started {
            Ok(thread) => Answering::Pipelined(Pipeline {
                batches,
                thread,
                flusher,
                in_flight,
            }),
            Err(e) => {
                tracing::error!(error = %e, "store: no sync thread; flushing on the writer's");
                Answering::Inline(flusher)
            }
        }
    }

    /// Answers a committed batch (after a flush covering it, if detached);
    /// `more_queued`: the writer has further jobs waiting.
    pub(crate) fn committed(&mut self, answers: Vec<StoreDone>, more_queued: bool) {
        match self {
            Answering::Direct(done) => send_answers(done, answers),
            // Idle, and every earlier batch answered: the writer's own flush.
            Answering::Pipelined(p) if !more_queued && p.in_flight.load(Ordering::Acquire) == 0 => {
                lock(&p.flusher).flush_and_answer(vec![answers])
            }
            Answering::Pipelined(p) => {
                p.in_flight.fetch_add(1, Ordering::AcqRel);
                if p.batches.send(answers).is_err() {
                    p.in_flight.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!("store sync thread gone; answers dropped");
                }
            }
            Answering::Inline(flusher) => lock(flusher).flush_and_answer(vec![answers]),
        }
    }

    /// Waits until every batch handed on is flushed and answered.
    pub(crate) fn finish(self) {
        if let Answering::Pipelined(p) = self {
            drop(p.batches);
            if p.thread.join().is_err() {
                tracing::error!("store sync thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use cpmd_core::server::{HistoryObject, Record};
    use cpmd_core::StoreTicket;
    use tokio::sync::mpsc;

    use super::CommitSync;
    use crate::store::sql::DbError;
    use crate::store::{spawn_store_task, HistoryStore, StoreError, StoreJob};

    /// Batches committed and batches flushed, shared by the fake store, its sync and
    /// the test.
    #[derive(Default)]
    struct Disk {
        committed: AtomicU64,
        flushed: AtomicU64,
        /// The batch number each ticket was committed in.
        batch_of: Mutex<Vec<(u64, u64)>>,
        fail_flush: std::sync::atomic::AtomicBool,
        /// The name of the thread each flush ran on.
        flushed_on: Mutex<Vec<String>>,
        /// The records each `answered` call reported, in order.
        answered: Mutex<Vec<usize>>,
    }

    struct FakeStore(Arc<Disk>);
    struct FakeSync(Arc<Disk>);

    impl CommitSync for FakeSync {
        fn sync_committed(&mut self) -> Result<(), DbError> {
            // What is committed when the flush starts is what it covers.
            let covered = self.0.committed.load(Ordering::SeqCst);
            let name = std::thread::current().name().unwrap_or("").to_owned();
            self.0.flushed_on.lock().unwrap().push(name);
            std::thread::sleep(std::time::Duration::from_millis(2));
            if self.0.fail_flush.load(Ordering::SeqCst) {
                return Err(DbError("disk gone".into()));
            }
            self.0.flushed.fetch_max(covered, Ordering::SeqCst);
            Ok(())
        }

        fn answered(&mut self, records: usize) {
            self.0.answered.lock().unwrap().push(records);
        }
    }

    impl HistoryStore for FakeStore {
        fn persist(&mut self, _: &Record) -> Result<(), StoreError> {
            Ok(())
        }
        fn seal(&mut self, _: &HistoryObject) -> Result<(), StoreError> {
            Ok(())
        }
        fn sync(&mut self) -> Result<(), StoreError> {
            Ok(())
        }
        fn write_batch(&mut self, batch: &[StoreJob]) -> Vec<Result<(), StoreError>> {
            let n = self.0.committed.load(Ordering::SeqCst) + 1;
            let mut of = self.0.batch_of.lock().unwrap();
            for job in batch {
                let (StoreJob::Persist(t, _) | StoreJob::Seal(t, _)) = job;
                of.push((t.get(), n));
            }
            self.0.committed.store(n, Ordering::SeqCst);
            vec![Ok(()); batch.len()]
        }
        fn detach_sync(&mut self) -> Option<Box<dyn CommitSync>> {
            Some(Box::new(FakeSync(Arc::clone(&self.0))))
        }
    }

    fn record() -> Record {
        Record::KnownUser(cpmd_core::UserUri::new_canonical("sip:a@example.com"))
    }

    /// Runs `count` jobs through the store task, sent in bursts; for each answer,
    /// whether a flush covering its batch had finished before it was received.
    fn run(disk: &Arc<Disk>, count: u64) -> Vec<(u64, bool, bool)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let disk = Arc::clone(disk);
        runtime.block_on(async move {
            let (jobs_tx, jobs) = mpsc::unbounded_channel();
            let (done, mut done_rx) = mpsc::unbounded_channel();
            let task = spawn_store_task(FakeStore(Arc::clone(&disk)), jobs, done);
            let mut seen = Vec::new();
            for t in 1..=count {
                jobs_tx
                    .send(StoreJob::Persist(StoreTicket::new(t), record()))
                    .unwrap();
                if t % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            drop(jobs_tx);
            while let Some((ticket, result, _)) = done_rx.recv().await {
                let flushed = disk.flushed.load(Ordering::SeqCst);
                let batch = disk
                    .batch_of
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(t, _)| *t == ticket.get())
                    .map(|(_, b)| *b)
                    .unwrap();
                seen.push((ticket.get(), result.is_ok(), flushed >= batch));
            }
            task.await.unwrap();
            seen
        })
    }

    /// STORE-12: with a detached sync, no record is answered `Ok` before a flush
    /// that started after its batch's commit finished; answers keep their order.
    #[test]
    fn store_12_answers_wait_for_a_flush_after_their_commit() {
        let disk = Arc::new(Disk::default());
        let seen = run(&disk, 300);
        assert_eq!(seen.len(), 300);
        let tickets: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(tickets, (1..=300).collect::<Vec<_>>(), "in order");
        for (ticket, ok, covered) in &seen {
            assert!(*ok, "ticket {ticket} failed");
            assert!(covered, "ticket {ticket} answered before its flush");
        }
        assert!(
            disk.committed.load(Ordering::SeqCst) > 1,
            "several batches, so the pipeline ran"
        );
        // After each flush's answers, the records it made durable (the WAL
        // checkpoints' trigger, `wal_sync.rs`): every record once.
        let answered = disk.answered.lock().unwrap();
        assert_eq!(answered.iter().sum::<usize>(), 300, "{answered:?}");
        assert!(answered.iter().all(|n| *n > 0), "{answered:?}");
    }

    /// An idle writer (nothing queued, nothing in flight) flushes its batch itself,
    /// with the same guarantee: each answer only after a flush covering its commit.
    #[test]
    fn store_12_an_idle_writer_flushes_its_own_batch() {
        let disk = Arc::new(Disk::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen = runtime.block_on({
            let disk = Arc::clone(&disk);
            async move {
                let (jobs_tx, jobs) = mpsc::unbounded_channel();
                let (done, mut done_rx) = mpsc::unbounded_channel();
                let task = spawn_store_task(FakeStore(Arc::clone(&disk)), jobs, done);
                let mut seen = Vec::new();
                // One job at a time, each answered before the next is sent.
                for t in 1..=5 {
                    jobs_tx
                        .send(StoreJob::Persist(StoreTicket::new(t), record()))
                        .unwrap();
                    let (ticket, result, _) = done_rx.recv().await.unwrap();
                    let flushed = disk.flushed.load(Ordering::SeqCst);
                    seen.push((ticket.get(), result.is_ok(), flushed >= t));
                }
                drop(jobs_tx);
                task.await.unwrap();
                seen
            }
        });
        for (ticket, ok, covered) in &seen {
            assert!(*ok && *covered, "ticket {ticket}: {ok} {covered}");
        }
        let on = disk.flushed_on.lock().unwrap();
        assert_eq!(on.len(), 5, "one flush per batch");
        assert!(
            on.iter().all(|name| name != "cpmd-store-sync"),
            "flushed on the writer's thread, not handed over: {on:?}"
        );
    }

    /// STORE-12: a failed flush fails its records and every later one (fail-stop).
    #[test]
    fn store_12_a_failed_flush_fails_everything_after_it() {
        let disk = Arc::new(Disk::default());
        disk.fail_flush.store(true, Ordering::SeqCst);
        let seen = run(&disk, 50);
        assert_eq!(seen.len(), 50);
        for (ticket, ok, _) in &seen {
            assert!(!ok, "ticket {ticket} acknowledged without a flush");
        }
        assert!(
            disk.answered.lock().unwrap().is_empty(),
            "nothing made durable, nothing reported"
        );
    }
}
