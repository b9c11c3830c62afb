//! SIP over UDP: the bound sockets, each with two threads of its own. The socket's
//! receive thread (`transport::udp_recv`) waits in `recvmmsg`, decodes what it took
//! and hands the event loop one batch per call on a bounded channel; the loop feeds
//! the core and queues what the core transmits ([`UdpListener::queue`]) until the
//! end of its wake-up, when [`UdpListener::flush`] hands it all to the socket's send
//! thread (`transport::udp_send`) in one batch; that thread encodes the messages and
//! calls `sendmmsg`. The loop thread makes no UDP system call.
//!
//! Why threads: the one loop thread ran the core and, for every datagram, the
//! kernel's receive and send paths, the decode and the encode, and set cpmd's
//! ceiling while the machine had a second core (bench/README.md, "Session 13: the
//! loop's second thread").
//!
//! Why batches: one `recvfrom` per datagram plus one more to find the socket empty,
//! and one `sendto` per datagram, were most of the loop thread's system calls
//! before (bench/README.md, "session 9"). A `recvmmsg` with `MSG_WAITFORONE` waits
//! for the first datagram and takes what else is queued; the datagrams a wake-up of
//! the loop sends leave in one call, and one channel operation each way per batch
//! keeps the hand-offs cheap. The syscalls come from `nix` (the workspace forbids
//! `unsafe`).
//!
//! While the loop is busy, datagrams wait in the socket's receive buffer (cpmd asks
//! for [`RECV_BUFFER_BYTES`]; the kernel caps it at `net.core.rmem_max`) once the
//! receive thread's queue is full. A datagram the socket buffer has no room for is
//! dropped (SIP over UDP retransmits), as before.

use std::io;
use std::net::SocketAddr;

use cpmd_core::wire::Limits;
use cpmd_core::ConnId;
use tokio::sync::mpsc;

use super::udp_recv::{UdpBatch, UdpReceiver};
use super::udp_send::{Datagram, Payload, UdpSender, SEND_BATCH};

/// The receive buffer cpmd asks the kernel for on each UDP socket: room for a few
/// thousand SIP datagrams while the loop is busy with a batch.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// A bound UDP socket, with its queue of datagrams to send and its two threads.
pub struct UdpListener {
    /// The connection number the core sees for this socket.
    pub conn: ConnId,
    /// The bound address (port 0 resolved).
    pub local: SocketAddr,
    /// The socket (blocking: only its threads use it, and sends pass
    /// `MSG_DONTWAIT`).
    socket: std::net::UdpSocket,
    /// Datagrams queued for the next [`UdpListener::flush`], in order.
    out: Vec<Datagram>,
    /// The socket's send thread.
    sender: UdpSender,
    /// The socket's receive thread, once started.
    receiver: Option<UdpReceiver>,
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
    /// Binds `addr` and starts the socket's send thread.
    pub fn bind(addr: SocketAddr, conn: ConnId) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(addr)?;
        // Best effort: a smaller buffer only drops more datagrams under a burst,
        // which SIP over UDP retransmits.
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER_BYTES) {
            tracing::debug!(%addr, error = %e, "udp receive buffer not enlarged");
        }
        let local = socket.local_addr()?;
        let sender = UdpSender::start(socket.try_clone()?, conn)?;
        Ok(Self {
            conn,
            local,
            socket,
            out: Vec::new(),
            sender,
            receiver: None,
        })
    }

    /// Starts the receive thread: datagrams go to `tx` decoded with `limits`, or as
    /// bytes when `limits` is `None` (the input trace records bytes).
    pub fn start_receiving(
        &mut self,
        limits: Option<Limits>,
        tx: mpsc::Sender<UdpBatch>,
    ) -> io::Result<()> {
        if self.receiver.is_none() {
            let socket = self.socket.try_clone()?;
            self.receiver = Some(UdpReceiver::start(socket, self.conn, limits, tx)?);
        }
        Ok(())
    }

    /// Queues one datagram for the next [`UdpListener::flush`].
    pub fn queue(&mut self, peer: SocketAddr, payload: Payload) {
        self.out.push((peer, payload));
    }

    /// Hands every queued datagram, in order, to the send thread (one channel
    /// operation); it encodes and sends them (`transport::udp_send`).
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.out, Vec::with_capacity(SEND_BATCH));
        // A full queue drops the batch (logged by the sender), as a full socket
        // buffer drops datagrams.
        let _ = self.sender.send(batch);
    }

    /// Stops the receive thread (shutdown). Close the channel's receiving end
    /// first: a thread waiting for room in it ends only then.
    pub fn stop_receiving(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.stop();
        }
    }

    /// Sends what is queued, closes the send thread's queue and waits until it has
    /// sent everything (shutdown).
    pub fn stop_sending(&mut self) {
        self.flush();
        self.sender.stop();
    }
}
