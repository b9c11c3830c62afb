//! The UDP receive thread: one per UDP socket, named `cpmd-udp-recv`. It waits in
//! `recvmmsg` for datagrams (up to [`RECV_BATCH`] per call), decodes each with the
//! core's pure decoder (`cpmd_core::wire::decode_datagram`, the server's limits) and
//! hands the event loop the decoded messages of one call as one batch.
//!
//! Why a thread: the loop thread set cpmd's ceiling, and the receive side's kernel
//! path and the SIP decode are work that needs nothing of the core's state
//! (bench/README.md, "Session 13: the loop's second thread"). The loop then only
//! feeds decoded messages to the core (`Server::handle_datagram`).
//!
//! What it keeps:
//! - Order: one thread per socket reads it in arrival order and the loop takes its
//!   batches in the order they were queued.
//! - Refusals: a truncated datagram (larger than any UDP payload) is never handed
//!   on; what does not decode (oversized, malformed) reaches the core as the
//!   decoder's error, which the core answers or drops exactly as for bytes
//!   (`handle_bytes`).
//! - Bounded memory: at most [`QUEUE_BATCHES`] batches wait for the loop; when they
//!   do the thread waits, and datagrams queue in the socket's receive buffer (and
//!   are dropped by the kernel past it), as they did while the loop read itself.
//! - The input trace: with `--trace-input` the thread hands the loop the bytes, not
//!   the decoded message, so the loop records them and the core decodes them as it
//!   did before (the trace replays bytes).
//! - Shutdown: [`UdpReceiver::stop`] sets a flag and shuts the socket's read side
//!   down (on Linux this wakes a `recvmmsg` waiting on an unconnected UDP socket,
//!   and every later one returns at once), then joins the thread. Sending is not
//!   affected.
//!
//! What it is not: a sender (`transport::udp_send`), or a reader of TCP.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use cpmd_core::sip::SipMessage;
use cpmd_core::wire::{BadMessage, Limits};
use cpmd_core::ConnId;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::sync::mpsc;

/// The largest datagram we accept (the IPv4 UDP payload limit): the size of each
/// receive buffer.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

/// Most datagrams one `recvmmsg` takes (each into a buffer of its own).
pub const RECV_BATCH: usize = 16;

/// Most batches waiting for the loop (all sockets' threads share the queue).
pub const QUEUE_BATCHES: usize = 64;

/// One datagram as the thread hands it on.
// Not boxed: a box per datagram would be an allocation and a cross-thread free per
// datagram; the small variant is only used with the input trace on.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Received {
    /// Decoded with the server's limits: a message, or why it was refused.
    Decoded(Result<SipMessage, BadMessage>),
    /// The bytes (the input trace is on: the loop records them, the core decodes).
    Bytes(Vec<u8>),
}

/// What one `recvmmsg` on one socket took, in arrival order.
#[derive(Debug)]
pub struct UdpBatch {
    /// The socket's connection number.
    pub conn: ConnId,
    /// Source and datagram, in arrival order.
    pub datagrams: Vec<(SocketAddr, Received)>,
}

/// The loop's handle on one socket's receive thread.
#[derive(Debug)]
pub struct UdpReceiver {
    conn: ConnId,
    /// A descriptor of the socket, to shut its read side down at stop.
    socket: std::net::UdpSocket,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpReceiver {
    /// Starts the thread reading `socket` (a descriptor of the listener's socket, in
    /// blocking mode) into `tx`: decoded with `limits`, or as bytes when `limits` is
    /// `None`.
    pub fn start(
        socket: std::net::UdpSocket,
        conn: ConnId,
        limits: Option<Limits>,
        tx: mpsc::Sender<UdpBatch>,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = socket.try_clone()?;
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("cpmd-udp-recv".to_owned())
            .spawn(move || run(&reader, conn, limits.as_ref(), &tx, &flag))?;
        Ok(Self {
            conn,
            socket,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops reading: the thread ends at its next `recvmmsg` (which returns at once
    /// now) or, waiting for room on a closed queue, at once; joined.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        // On an unconnected UDP socket Linux answers ENOTCONN and still marks the
        // read side shut and wakes its waiters: expected, not reported.
        let _ = socket2::SockRef::from(&self.socket).shutdown(std::net::Shutdown::Read);
        if thread.join().is_err() {
            tracing::error!(conn = %self.conn, "udp receive thread panicked");
        }
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: `recvmmsg` waiting for the first datagram and taking what else is
/// queued (`MSG_WAITFORONE`), decoded, handed on as one batch; ends when stopped or
/// when the loop is gone.
fn run(
    socket: &std::net::UdpSocket,
    conn: ConnId,
    limits: Option<&Limits>,
    tx: &mpsc::Sender<UdpBatch>,
    stop: &AtomicBool,
) {
    // Only the pages a datagram is written to are ever touched.
    let mut bufs: [Vec<u8>; RECV_BATCH] = std::array::from_fn(|_| vec![0; MAX_DATAGRAM_BYTES]);
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(RECV_BATCH, None);
    let mut got: Vec<(usize, usize, SocketAddr)> = Vec::with_capacity(RECV_BATCH);
    let fd = socket.as_raw_fd();
    loop {
        got.clear();
        let read = {
            let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b.as_mut_slice())]);
            recvmmsg(
                fd,
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )
            .map(|results| {
                for (k, msg) in results.enumerate() {
                    match msg.address.as_ref().and_then(std_addr) {
                        // Larger than any UDP payload: cannot happen; never
                        // handed on cut short.
                        Some(_) if msg.flags.contains(MsgFlags::MSG_TRUNC) => {}
                        Some(peer) => got.push((k, msg.bytes, peer)),
                        // No source: what a shut-down socket returns.
                        None => {}
                    }
                }
            })
        };
        if stop.load(Ordering::Acquire) {
            return;
        }
        match read {
            Ok(()) => {}
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(e) => {
                // ICMP errors of earlier sends are not reported on an unconnected
                // socket; anything else is not fatal for the socket. Not a busy
                // loop if it repeats.
                tracing::debug!(conn = %conn, error = %e, "udp receive error");
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
        }
        if got.is_empty() {
            continue;
        }
        let datagrams = got
            .iter()
            .filter_map(|&(k, n, peer)| {
                let bytes = bufs.get(k)?.get(..n)?;
                let received = match limits {
                    Some(limits) => {
                        Received::Decoded(cpmd_core::wire::decode_datagram(bytes, limits))
                    }
                    None => Received::Bytes(bytes.to_vec()),
                };
                Some((peer, received))
            })
            .collect();
        if tx.blocking_send(UdpBatch { conn, datagrams }).is_err() {
            // The loop is gone (shutdown).
            return;
        }
    }
}

/// A source address as std's type (IPv4 or IPv6; `None` for any other family).
fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
