//! A TCP connection's write queue, bounded in bytes (specs/limits.md, LIM-6).
//!
//! The event loop queues bytes with [`Writer::send`] and never waits; the
//! connection task takes them with [`Queue::recv`] and writes them with a timeout.
//! When a peer does not read, bytes pile up: past the cap, `send` refuses them and
//! tells the connection task to close, which reports `Closed` to the loop, and the
//! core applies its rules for a connection that broke (for MSRP: the recipient's
//! leg fails, specs/msrp.md MSRP-9). Not here: the socket, framing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

/// What the queue and its connection task share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes queued and not yet taken by the connection task.
    queued: AtomicUsize,
    /// Set once the cap was hit: the connection must close.
    overflowed: AtomicBool,
    /// Wakes the connection task when `overflowed` is set.
    wake: Notify,
}

/// Why bytes were not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The connection task is gone; the bytes come back.
    Closed(Vec<u8>),
    /// The queue holds its cap already; the connection is being closed.
    Full,
}

/// The event loop's end.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    shared: Arc<Shared>,
    cap: usize,
}

/// The connection task's end.
#[derive(Debug)]
pub struct Queue {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
}

/// A write queue holding at most `cap` bytes.
pub fn bounded(cap: usize) -> (Writer, Queue) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    (
        Writer {
            tx,
            shared: Arc::clone(&shared),
            cap,
        },
        Queue { rx, shared },
    )
}

impl Writer {
    /// Queues `bytes`, or refuses them when the task is gone or the queue would go
    /// past its cap (then the connection closes).
    pub fn send(&self, bytes: Vec<u8>) -> Result<(), Refused> {
        let len = bytes.len();
        let before = self.shared.queued.fetch_add(len, Ordering::SeqCst);
        if self.shared.overflowed.load(Ordering::SeqCst) || before.saturating_add(len) > self.cap {
            self.shared.queued.fetch_sub(len, Ordering::SeqCst);
            self.shared.overflowed.store(true, Ordering::SeqCst);
            self.shared.wake.notify_one();
            return Err(Refused::Full);
        }
        self.tx.send(bytes).map_err(|e| {
            self.shared.queued.fetch_sub(len, Ordering::SeqCst);
            Refused::Closed(e.0)
        })
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }
}

impl Queue {
    /// The next bytes to write; `None` when the loop dropped the writer.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let bytes = self.rx.recv().await?;
        self.shared.queued.fetch_sub(bytes.len(), Ordering::SeqCst);
        Some(bytes)
    }

    /// The next chunks to write: the first queued and every further one already
    /// queued (up to about `max` bytes in all), to be written with one vectored
    /// write, so a burst of small MSRP or SIP messages for one connection costs
    /// one syscall, not one per message, and no chunk is copied into another (a
    /// relayed 4 KiB message was, with the buffer's regrowth); `None` when the loop
    /// dropped the writer. Order is kept: chunks come out as they were queued.
    pub async fn recv_batch(&mut self, max: usize) -> Option<Vec<Vec<u8>>> {
        let first = self.rx.recv().await?;
        let mut taken = first.len();
        let mut chunks = vec![first];
        while taken < max {
            match self.rx.try_recv() {
                Ok(more) => {
                    taken += more.len();
                    chunks.push(more);
                }
                Err(_) => break,
            }
        }
        self.shared.queued.fetch_sub(taken, Ordering::SeqCst);
        Some(chunks)
    }

    /// A handle that tells when the cap was hit (usable while `recv` is pending).
    pub fn overflow(&self) -> Overflow {
        Overflow(Arc::clone(&self.shared))
    }
}

/// Tells the connection task that its queue went past the cap.
#[derive(Debug, Clone)]
pub struct Overflow(Arc<Shared>);

impl Overflow {
    /// Returns once the cap was hit (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.0.wake.notified();
            if self.0.overflowed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LIM-6: the queue refuses bytes past its cap and flags the connection.
    #[tokio::test]
    async fn refuses_past_the_cap_and_flags_the_connection() {
        let (w, mut q) = bounded(10);
        assert_eq!(w.send(vec![0; 6]), Ok(()));
        assert_eq!(w.send(vec![0; 4]), Ok(()));
        assert_eq!(w.queued(), 10);
        assert_eq!(w.send(vec![0; 1]), Err(Refused::Full));
        assert_eq!(q.recv().await.map(|b| b.len()), Some(6));
        assert_eq!(w.queued(), 4);
        // Once over, always over: the connection is closing.
        assert_eq!(w.send(vec![0; 1]), Err(Refused::Full));
        q.overflow().wait().await;
        drop(q);
        // A batch takes every queued chunk (in order) and gives their bytes back.
        let (w, mut q) = bounded(100);
        for b in [b"ab".to_vec(), b"cd".to_vec(), b"e".to_vec()] {
            assert_eq!(w.send(b), Ok(()));
        }
        assert_eq!(
            q.recv_batch(3).await,
            Some(vec![b"ab".to_vec(), b"cd".to_vec()])
        );
        assert_eq!(w.queued(), 1);
        assert_eq!(q.recv_batch(3).await, Some(vec![b"e".to_vec()]));
        assert_eq!(w.queued(), 0);
        drop(w);
        assert_eq!(q.recv_batch(3).await, None);
        let (w, q) = bounded(10);
        drop(q);
        assert_eq!(w.send(vec![1]), Err(Refused::Closed(vec![1])));
    }
}
