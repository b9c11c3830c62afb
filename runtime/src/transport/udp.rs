//! SIP over UDP: the bound sockets. The event loop reads them itself: it waits for
//! any of them to turn readable ([`ready`]), then takes what is queued with
//! [`UdpListener::recv_batch`] (up to [`RECV_BATCH`] datagrams in one `recvmmsg`,
//! into buffers the listener owns), and queues what it sends
//! ([`UdpListener::queue`]) until the end of its wake-up, when
//! [`UdpListener::flush`] sends it: a small batch while the socket's send thread
//! holds nothing is encoded and sent with `sendmmsg` on the loop; anything else goes
//! to that thread in one batch, which encodes the messages and calls `sendmmsg`
//! (`transport::udp_send`: why, and how the order is kept). The loop never waits to
//! send.
//!
//! Why the loop reads, not a task per socket: a receive task copied every datagram
//! into a fresh `Vec`, queued it on a channel and woke the loop's task, two task
//! switches and an allocation per datagram on the one thread that runs the core.
//! What the channel held (up to 4,096 datagrams while the loop was busy) the
//! socket's receive buffer now holds: cpmd asks for [`RECV_BUFFER_BYTES`] (the
//! kernel caps it at `net.core.rmem_max`).
//!
//! Why batches: one `recvfrom` per datagram plus one more to find the socket empty,
//! and one `sendto` per datagram, were most of the loop thread's system calls. A
//! `recvmmsg` that returns fewer datagrams than it had room for has found the
//! socket empty, so no extra call is needed to learn it; the datagrams a wake-up
//! sends (a 100 and the relayed INVITE, an ACK and the 200) leave in one call.
//! The syscalls come from `nix` (the workspace forbids `unsafe`).
//!
//! Why a socket is registered for read readiness only (not as a tokio `UdpSocket`,
//! which always asks for both): with write interest, epoll reports the socket
//! writable again each time the kernel frees a sent datagram, i.e. when the peer
//! reads it, so every wake-up that sent something was followed by a second one
//! with nothing to do (an `epoll_wait` and a context switch; five per 1-to-1
//! session at low rates, bench/README.md "session 9"). A datagram the socket
//! buffer has no room for is dropped (SIP over UDP retransmits), as before.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::task::Poll;

use cpmd_core::ConnId;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::udp_send::{self, Datagram, Encoded, Payload, UdpSender, QUEUE_BATCHES, SEND_BATCH};

/// The largest datagram we accept (the IPv4 UDP payload limit): the size of each
/// receive buffer.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

/// Most datagrams one `recvmmsg` takes (each into a buffer of its own).
pub const RECV_BATCH: usize = 16;

/// The receive buffer cpmd asks the kernel for on each UDP socket: room for a few
/// thousand SIP datagrams while the loop is busy with a batch.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// A bound UDP socket, with its receive buffers and its queue of datagrams to send.
pub struct UdpListener {
    /// The connection number the core sees for this socket.
    pub conn: ConnId,
    /// The socket (non-blocking), registered with the runtime for read readiness
    /// only. Never replaced: its descriptor stays the one registered.
    socket: AsyncFd<std::net::UdpSocket>,
    /// The bound address (port 0 resolved).
    pub local: SocketAddr,
    /// What the last [`UdpListener::recv_batch`] read: one buffer per datagram.
    bufs: [Vec<u8>; RECV_BATCH],
    /// The headers `recvmmsg` fills. This socket's own: the kernel leaves each
    /// source address's length in them, which is the same for every datagram of
    /// one socket (its address family).
    recv_headers: MultiHeaders<SockaddrStorage>,
    /// Length and source of each datagram the last receive kept, by buffer.
    got: Vec<(usize, usize, SocketAddr)>,
    /// Datagrams queued for the next [`UdpListener::flush`], in order.
    out: Vec<Datagram>,
    /// The socket's send thread.
    sender: UdpSender,
    /// Most datagrams a flush sends on the loop (while the thread is idle).
    inline_max: usize,
    /// The headers `sendmmsg` fills when the loop sends itself.
    send_headers: MultiHeaders<SockaddrStorage>,
    /// What the loop encoded to send itself (emptied by each flush, its buffer
    /// kept).
    encoded: Encoded,
}

impl std::fmt::Debug for UdpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpListener")
            .field("conn", &self.conn)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl UdpListener {
    /// Binds `addr` (inside a tokio runtime) and starts its send thread.
    pub async fn bind(addr: SocketAddr, conn: ConnId) -> io::Result<Self> {
        let (mut listener, rx) = Self::bind_unstarted(addr, conn, QUEUE_BATCHES)?;
        listener.start_sender(rx)?;
        Ok(listener)
    }

    /// Binds `addr` with the send thread's queue (room for `batches`) but not the
    /// thread yet (tests hold batches in it first).
    pub(crate) fn bind_unstarted(
        addr: SocketAddr,
        conn: ConnId,
        batches: usize,
    ) -> io::Result<(Self, std::sync::mpsc::Receiver<Vec<Datagram>>)> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        // Best effort: a smaller buffer only drops more datagrams under a burst,
        // which SIP over UDP retransmits.
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER_BYTES) {
            tracing::debug!(%addr, error = %e, "udp receive buffer not enlarged");
        }
        let local = socket.local_addr()?;
        let (sender, rx) = UdpSender::unstarted(conn, batches);
        // The safe constructor tokio deprecates because a caller could swap the
        // descriptor under the registration (`get_mut`): this module never does,
        // and the socket owns its descriptor until the listener is dropped.
        #[allow(deprecated)]
        let socket = AsyncFd::with_interest(socket, Interest::READABLE)?;
        let listener = Self {
            conn,
            socket,
            local,
            // Only the pages a datagram is written to are ever touched.
            bufs: std::array::from_fn(|_| vec![0; MAX_DATAGRAM_BYTES]),
            recv_headers: MultiHeaders::preallocate(RECV_BATCH, None),
            got: Vec::with_capacity(RECV_BATCH),
            out: Vec::new(),
            sender,
            inline_max: udp_send::INLINE_MAX,
            send_headers: MultiHeaders::preallocate(SEND_BATCH, None),
            encoded: Encoded::default(),
        };
        Ok((listener, rx))
    }

    /// Starts the send thread on `rx`, with a descriptor of its own of the same
    /// socket (sends need no registration: they never wait).
    pub(crate) fn start_sender(
        &mut self,
        rx: std::sync::mpsc::Receiver<Vec<Datagram>>,
    ) -> io::Result<()> {
        let socket = self.socket.get_ref().try_clone()?;
        self.sender.spawn(socket, rx)
    }

    /// Whether the send thread holds nothing (tests).
    #[cfg(test)]
    pub(crate) fn send_thread_idle(&self) -> bool {
        self.sender.idle()
    }

    /// Sets the most datagrams a flush sends on the loop (tests).
    #[cfg(test)]
    pub(crate) fn set_inline_max(&mut self, n: usize) {
        self.inline_max = n;
    }

    /// Takes up to `max` (at most [`RECV_BATCH`]) queued datagrams without waiting;
    /// read them with [`UdpListener::datagrams`]. Returns how many were taken and
    /// whether the socket was found empty (fewer than `max` queued; its readiness
    /// is then cleared, so [`ready`] waits for the next datagram).
    pub fn recv_batch(&mut self, max: usize) -> (usize, bool) {
        let max = max.min(RECV_BATCH);
        self.got.clear();
        if max == 0 {
            return (0, false);
        }
        let Self {
            socket,
            bufs,
            recv_headers,
            got,
            conn,
            ..
        } = self;
        let mut taken = 0;
        loop {
            let read = socket.try_io(Interest::READABLE, |s| {
                let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b.as_mut_slice())]);
                let results = recvmmsg(
                    s.as_raw_fd(),
                    recv_headers,
                    iovs[..max].iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                )?;
                taken = 0;
                for (k, msg) in results.enumerate() {
                    taken += 1;
                    let peer = msg.address.as_ref().and_then(std_addr);
                    match peer {
                        // Larger than any UDP payload: cannot happen; never
                        // handed on cut short.
                        Some(_) if msg.flags.contains(MsgFlags::MSG_TRUNC) => {}
                        Some(peer) => got.push((k, msg.bytes, peer)),
                        None => {}
                    }
                }
                if taken < max {
                    // Found empty: a `WouldBlock` clears the readiness. A datagram
                    // arriving after this call raises a new edge, so none waits
                    // unseen.
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            return match read {
                Ok(()) => (taken, false),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (taken, true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors of earlier sends are not reported on an unconnected
                // socket; anything else is not fatal for the socket, and nothing
                // was read. Readiness stays: the next wake-up reads again.
                Err(e) => {
                    tracing::debug!(conn = %conn, error = %e, "udp receive error");
                    (0, true)
                }
            };
        }
    }

    /// The datagrams the last [`UdpListener::recv_batch`] took, in arrival order:
    /// bytes and source.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        self.got
            .iter()
            .filter_map(|&(k, n, peer)| Some((self.bufs.get(k)?.get(..n)?, peer)))
    }

    /// Queues one datagram for the next [`UdpListener::flush`].
    pub fn queue(&mut self, peer: SocketAddr, payload: Payload) {
        self.out.push((peer, payload));
    }

    /// Sends every queued datagram, in order: on the loop when there are at most
    /// `inline_max` and the send thread holds nothing (so none can overtake what it
    /// still has to send), else handed to the thread in one channel operation.
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if self.out.len() <= self.inline_max && self.sender.idle() {
            self.encoded.extend(self.out.drain(..));
            udp_send::send_all(
                self.socket.get_ref(),
                self.conn,
                &mut self.send_headers,
                &self.encoded,
            );
            self.encoded.clear();
            return;
        }
        let batch = std::mem::replace(&mut self.out, Vec::with_capacity(SEND_BATCH));
        // A full queue drops the batch (logged by the sender), as a full socket
        // buffer drops datagrams.
        let _ = self.sender.send(batch);
    }

    /// Sends what is queued, closes the send thread's queue and waits until it has
    /// sent everything (shutdown).
    pub fn stop_sending(&mut self) {
        self.flush();
        self.sender.stop();
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

/// Resolves with the index in `socks` of a socket that has a datagram queued (or
/// an error to report); pending forever when `socks` is empty.
pub fn ready(socks: &[UdpListener]) -> impl Future<Output = usize> + '_ {
    std::future::poll_fn(move |cx| {
        for (i, s) in socks.iter().enumerate() {
            // The guard is dropped without clearing: readiness stays set until a
            // read finds the socket empty.
            if s.socket.poll_read_ready(cx).is_ready() {
                return Poll::Ready(i);
            }
        }
        Poll::Pending
    })
}
