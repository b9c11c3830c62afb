//! The UDP send thread: one per UDP socket, named `cpmd-udp-send`. The event loop
//! hands it, once per wake-up, the datagrams the core transmitted on that socket
//! (messages still as the core's shared values, or bytes the core printed itself);
//! the thread encodes them and hands them to the kernel with `sendmmsg`. Unless the
//! batch is small and the thread idle: then the loop encodes and sends it itself
//! (`UdpListener::flush`, with this module's [`Encoded`] and [`send_all`]).
//!
//! Why a thread: the loop thread set cpmd's ceiling, and a third of its time went to
//! sending: the encoding of each message and, in `sendmmsg`, the kernel's whole path
//! per datagram (UDP and IP output, the loopback delivery, waking the receiver;
//! bench/README.md, "profile.sh" and "Session 13: the loop's second thread"). The
//! machine has more than one core; this work needs nothing of the core's state.
//!
//! Why not always: each hand-off to a sleeping thread is a futex wake, a context
//! switch and the batch's memory crossing cores; at moderate rates, where a wake-up
//! of the loop sends one to three datagrams, that cost more CPU in all than the
//! sending it moved (bench/README.md, "Session 13"). So a batch of at most
//! [`INLINE_MAX`] datagrams is sent on the loop when the thread holds nothing
//! ([`UdpSender::idle`]); larger batches, and every batch while the thread holds
//! one, are handed over. At high rates the batches grow and the thread is busy, so
//! the sending leaves the loop where the loop is what limits.
//!
//! What it keeps:
//! - Order: one FIFO queue per socket and one thread draining it, so datagrams to
//!   one destination leave in the order the core emitted them. The loop sends
//!   inline only when the count of batches handed over and not yet sent
//!   ([`UdpSender::idle`]) is zero: the thread lowers it after its `sendmmsg` has
//!   returned, and only the loop hands over, so nothing can be queued between the
//!   loop's check and its own `sendmmsg`; the kernel has taken everything handed
//!   over before anything sent inline.
//! - Cheap hand-offs: one channel operation per wake-up of the loop (a batch), and
//!   a futex wake only when the thread sleeps on an empty queue; while it works it
//!   takes what was queued meanwhile into the same `sendmmsg`.
//! - Bounded memory: at most [`QUEUE_BATCHES`] batches wait. Past that the loop
//!   drops the batch, as the kernel drops a datagram its socket buffer has no room
//!   for (SIP over UDP retransmits); the loop never waits for this thread.
//! - Shutdown: [`UdpSender::stop`] closes the queue and joins the thread, which sends
//!   everything queued before it ends, so nothing the core sent is lost at stop.
//!
//! What it is not: a reader. The loop still reads the socket (`transport::udp`).
//! TCP and TLS are written by their connection tasks as before.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use cpmd_core::shared::Shared;
use cpmd_core::sip::SipMessage;
use cpmd_core::ConnId;
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

/// Most datagrams one `sendmmsg` hands over.
pub const SEND_BATCH: usize = 32;

/// Most batches (wake-ups of the loop) waiting for the thread.
pub const QUEUE_BATCHES: usize = 4096;

/// Most datagrams of a wake-up the loop sends itself while the thread is idle
/// (a wake-up sends 2–3 at moderate rates). Settled on the idle machine
/// (bench/README.md, "Session 13", step C): 0, 2, 4 and 8 cost the same CPU per
/// session at 3,000/s within the runs' noise, and 4 made the fewest syscalls and
/// context switches of the three that send inline at all.
pub const INLINE_MAX: usize = 4;

/// What the core transmitted: a message to encode, or bytes it printed itself.
#[derive(Debug)]
pub enum Payload {
    /// Encoded on the send thread.
    Message(Shared<SipMessage>),
    /// Sent as they are.
    Raw(Vec<u8>),
}

/// One datagram to send: destination and payload.
pub type Datagram = (SocketAddr, Payload);

/// The loop's handle on one socket's send thread.
#[derive(Debug)]
pub struct UdpSender {
    conn: ConnId,
    tx: Option<SyncSender<Vec<Datagram>>>,
    thread: Option<JoinHandle<()>>,
    /// Batches handed over whose `sendmmsg` has not returned yet (queued, or taken
    /// by the thread and being sent). Raised by the loop before it queues a batch,
    /// lowered by the thread after sending.
    held: Arc<AtomicUsize>,
}

impl UdpSender {
    /// The queue (room for `batches`) without its thread yet: [`UdpSender::spawn`]
    /// starts it (tests fill the queue first).
    pub(crate) fn unstarted(conn: ConnId, batches: usize) -> (Self, Receiver<Vec<Datagram>>) {
        let (tx, rx) = mpsc::sync_channel(batches);
        let sender = Self {
            conn,
            tx: Some(tx),
            thread: None,
            held: Arc::new(AtomicUsize::new(0)),
        };
        (sender, rx)
    }

    /// Starts the thread draining `rx` onto `socket` (a descriptor of the listener's
    /// own socket; sends never wait: `MSG_DONTWAIT`).
    pub(crate) fn spawn(
        &mut self,
        socket: std::net::UdpSocket,
        rx: Receiver<Vec<Datagram>>,
    ) -> io::Result<()> {
        let conn = self.conn;
        let held = Arc::clone(&self.held);
        let thread = std::thread::Builder::new()
            .name("cpmd-udp-send".to_owned())
            .spawn(move || run(&socket, conn, &rx, &held))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Queues one wake-up's datagrams, in order. Never waits: with the queue full
    /// (the thread far behind) the batch is dropped, as datagrams the socket buffer
    /// has no room for are. Returns whether the batch was queued.
    pub fn send(&self, batch: Vec<Datagram>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        // Raised first: the thread may send the batch and lower the count before
        // `try_send` returns here.
        self.held.fetch_add(1, Ordering::Relaxed);
        let refused = match tx.try_send(batch) {
            Ok(()) => return true,
            Err(e) => e,
        };
        // Never queued: the thread will not lower the count for it.
        self.held.fetch_sub(1, Ordering::Relaxed);
        match refused {
            TrySendError::Full(batch) => {
                tracing::warn!(conn = %self.conn, datagrams = batch.len(), "udp send queue full; dropped");
            }
            TrySendError::Disconnected(batch) => {
                tracing::error!(conn = %self.conn, datagrams = batch.len(), "udp send thread gone; dropped");
            }
        }
        false
    }

    /// Whether the loop may send on the socket itself without overtaking the
    /// thread: the queue is open and every batch handed over has left in a
    /// `sendmmsg` that returned. Only the loop hands over, so the answer stays true
    /// until its next [`UdpSender::send`].
    pub fn idle(&self) -> bool {
        // Acquire: pairs with the thread's release after its `sendmmsg` returned.
        self.tx.is_some() && self.held.load(Ordering::Acquire) == 0
    }

    /// Batches handed over and not yet sent (tests).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Closes the queue and waits until the thread has sent everything queued.
    pub fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(conn = %self.conn, "udp send thread panicked");
            }
        }
    }
}

impl Drop for UdpSender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: waits for a batch, takes what else is queued up to a `sendmmsg`'s
/// worth, encodes and sends; ends when the queue is closed and empty.
/// After each `sendmmsg` round it lowers `held` by the batches it took.
fn run(
    socket: &std::net::UdpSocket,
    conn: ConnId,
    rx: &Receiver<Vec<Datagram>>,
    held: &AtomicUsize,
) {
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(SEND_BATCH, None);
    let mut out = Encoded::default();
    while let Ok(batch) = rx.recv() {
        out.extend(batch);
        let mut taken = 1;
        while out.len() < SEND_BATCH {
            match rx.try_recv() {
                Ok(batch) => {
                    out.extend(batch);
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        send_all(socket, conn, &mut headers, &out);
        out.clear();
        // Release: the loop that reads zero sends after these `sendmmsg`s returned.
        held.fetch_sub(taken, Ordering::Release);
    }
}

/// Most bytes an [`Encoded`] keeps between rounds: a round that encoded more (large
/// MESSAGE bodies, many datagrams) gives the rest back.
pub(crate) const KEPT_BYTES: usize = 256 << 10;

/// Datagrams encoded for one round of `sendmmsg`, in order, all in one buffer that
/// is kept from round to round: the core's encoder appends each message to it
/// (`wire::encode_message_into`), where a buffer per message was an allocation and
/// a free each (bench/README.md, "Session 15").
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    /// The datagrams' bytes, one after the other.
    bytes: Vec<u8>,
    /// Each datagram's destination and where its bytes end (they start where the
    /// previous datagram's end).
    ends: Vec<(SocketAddr, usize)>,
}

impl Encoded {
    /// Encodes one datagram after the others: a message with the core's encoder,
    /// raw bytes copied as they are.
    pub(crate) fn push(&mut self, peer: SocketAddr, payload: Payload) {
        let start = self.bytes.len();
        match payload {
            Payload::Message(message) => {
                cpmd_core::wire::encode_message_into(&message, &mut self.bytes);
            }
            Payload::Raw(bytes) => self.bytes.extend_from_slice(&bytes),
        }
        tracing::trace!(%peer, text = %String::from_utf8_lossy(self.bytes.get(start..).unwrap_or_default()), "send");
        self.ends.push((peer, self.bytes.len()));
    }

    /// Encodes `batch` after what is there, in order.
    pub(crate) fn extend(&mut self, batch: impl IntoIterator<Item = Datagram>) {
        for (peer, payload) in batch {
            self.push(peer, payload);
        }
    }

    /// How many datagrams are encoded.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The room the byte buffer keeps (tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Forgets the datagrams, keeping the buffers (up to [`KEPT_BYTES`]).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.bytes.shrink_to(KEPT_BYTES);
    }

    /// The datagrams from the `from`th on: destination and bytes.
    pub(crate) fn datagrams_from(
        &self,
        from: usize,
    ) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        let start = |i: usize| match i.checked_sub(1) {
            Some(before) => self.ends.get(before).map_or(0, |&(_, end)| end),
            None => 0,
        };
        let first = start(from);
        self.ends
            .get(from..)
            .unwrap_or_default()
            .iter()
            .scan(first, |start, &(peer, end)| {
                let bytes = self.bytes.get(*start..end).unwrap_or_default();
                *start = end;
                Some((peer, bytes))
            })
    }
}

/// Sends `out`, in order, without waiting: one `sendmmsg` per [`SEND_BATCH`]. One
/// the kernel refuses (no room in the socket buffer, no route) is dropped, as a
/// `sendto` of it would be; the rest still go.
pub(crate) fn send_all(
    socket: &std::net::UdpSocket,
    conn: ConnId,
    headers: &mut MultiHeaders<SockaddrStorage>,
    out: &Encoded,
) {
    let fd = socket.as_raw_fd();
    let mut next = 0;
    while next < out.len() {
        // On the stack: two `Vec`s per flush were an allocation and a free each.
        let mut slices: [[IoSlice<'_>; 1]; SEND_BATCH] =
            std::array::from_fn(|_| [IoSlice::new(&[])]);
        let mut addrs: [Option<SockaddrStorage>; SEND_BATCH] = [None; SEND_BATCH];
        let mut n = 0;
        let mut first = None;
        for ((slice, addr), (peer, bytes)) in slices
            .iter_mut()
            .zip(&mut addrs)
            .zip(out.datagrams_from(next))
        {
            *slice = [IoSlice::new(bytes)];
            *addr = Some(SockaddrStorage::from(peer));
            first.get_or_insert(peer);
            n += 1;
        }
        let sent = sendmmsg(
            fd,
            headers,
            &slices[..n],
            &addrs[..n],
            [],
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        )
        .map(|results| results.count());
        match sent {
            Ok(n) if n > 0 => next += n,
            Ok(_) => next += 1,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                // The first of the chunk failed (a later failure shows as a short
                // count, and is reported by the retry from there).
                if let Some(peer) = first {
                    tracing::warn!(conn = %conn, %peer, error = %e, "udp send failed");
                }
                next += 1;
            }
        }
    }
}
