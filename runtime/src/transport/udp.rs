//! SIP over UDP: the bound sockets. The event loop reads them itself (it waits for
//! any of them to turn readable, [`ready`], then takes what is queued with
//! [`UdpListener::try_recv`] into one buffer of its own) and sends on them without
//! waiting ([`UdpListener::send`]).
//!
//! Why the loop reads, not a task per socket: a receive task copied every datagram
//! into a fresh `Vec`, queued it on a channel and woke the loop's task, two task
//! switches and an allocation per datagram on the one thread that runs the core.
//! What the channel held (up to 4,096 datagrams while the loop was busy) the
//! socket's receive buffer now holds: cpmd asks for [`RECV_BUFFER_BYTES`] (the
//! kernel caps it at `net.core.rmem_max`).
//!
//! Why a socket is registered for read readiness only (not as a tokio `UdpSocket`,
//! which always asks for both): with write interest, epoll reports the socket
//! writable again each time the kernel frees a sent datagram, i.e. when the peer
//! reads it, so every wake-up that sent something was followed by a second one
//! with nothing to do (an `epoll_wait` and a context switch; five per 1-to-1
//! session at low rates, bench/README.md "session 9"). The loop never waits to
//! send: a datagram the socket buffer has no room for is dropped (SIP over UDP
//! retransmits), as before.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use cpmd_core::ConnId;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The largest datagram we accept (the IPv4 UDP payload limit): the size of the
/// loop's receive buffer.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

/// The receive buffer cpmd asks the kernel for on each UDP socket: room for a few
/// thousand SIP datagrams while the loop is busy with a batch.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// A bound UDP socket.
#[derive(Debug, Clone)]
pub struct UdpListener {
    /// The connection number the core sees for this socket.
    pub conn: ConnId,
    /// The socket (non-blocking), registered with the runtime for read readiness
    /// only. Never replaced: its descriptor stays the one registered.
    socket: Arc<AsyncFd<std::net::UdpSocket>>,
    /// The bound address (port 0 resolved).
    pub local: SocketAddr,
}

impl UdpListener {
    /// Binds `addr` (inside a tokio runtime).
    pub async fn bind(addr: SocketAddr, conn: ConnId) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        // Best effort: a smaller buffer only drops more datagrams under a burst,
        // which SIP over UDP retransmits.
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER_BYTES) {
            tracing::debug!(%addr, error = %e, "udp receive buffer not enlarged");
        }
        let local = socket.local_addr()?;
        // The safe constructor tokio deprecates because a caller could swap the
        // descriptor under the registration (`get_mut`): this module never does,
        // and the socket owns its descriptor until the listener is dropped.
        #[allow(deprecated)]
        let socket = AsyncFd::with_interest(socket, Interest::READABLE)?;
        Ok(Self {
            conn,
            socket: Arc::new(socket),
            local,
        })
    }

    /// Takes one queued datagram into `buf` without waiting: its length and source,
    /// or `None` once nothing is queued (the socket's readiness is then cleared, so
    /// [`ready`] waits for the next one).
    pub fn try_recv(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        loop {
            match self
                .socket
                .try_io(Interest::READABLE, |s| s.recv_from(&mut *buf))
            {
                Ok(got) => return Some(got),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port-unreachable from an earlier send surfaces here on some
                // systems: not fatal for the socket, and nothing was read.
                Err(e) => {
                    tracing::debug!(conn = %self.conn, error = %e, "udp receive error");
                    return None;
                }
            }
        }
    }

    /// Sends one datagram without waiting; a full socket buffer drops it (the SIP
    /// transaction layer retransmits over UDP).
    pub fn send(&self, peer: SocketAddr, bytes: &[u8]) {
        match self.socket.get_ref().send_to(bytes, peer) {
            Ok(_) => {}
            Err(e) => tracing::warn!(conn = %self.conn, %peer, error = %e, "udp send failed"),
        }
    }
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
