//! SIP and MSRP over TCP: an accept task per listener and one task per connection
//! that copies bytes both ways. The core frames the stream; these tasks never look
//! at the bytes (an MSRP listener only marks its connections as MSRP). A listener
//! or an outbound connection may put TLS under the pump (the handshake is in
//! [`super::tls`]); the pump itself only sees plaintext.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpmd_core::ConnId;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::per_ip::{IpSlot, PerIp};
use super::tls::{ClientTls, ServerTls};
use super::writer::{self, Queue, Writer};
use super::{ConnIds, NetEvent};

/// How long an outbound connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of one read.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Most bytes gathered from the write queue into one write (a burst of queued
/// messages goes out in one syscall; a single larger message is written whole).
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Shared TCP settings: the connection budget, the idle timeout and the write
/// limits.
#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// Connections currently open (inbound and outbound).
    pub open: Arc<AtomicUsize>,
    /// The most connections allowed at once.
    pub max_connections: usize,
    /// A connection silent in both directions for this long is closed.
    pub idle_timeout: Duration,
    /// Most bytes queued for one connection; past it the connection closes
    /// (specs/limits.md, LIM-6).
    pub write_queue_bytes: usize,
    /// A write the peer does not take within this long closes the connection.
    pub write_timeout: Duration,
    /// Most inbound connections from one source address, per listener (LIM-7).
    pub max_per_ip: usize,
    /// An inbound connection that sends nothing for this long after it is
    /// accepted is closed (before any request; LIM-7). Outbound ones are exempt.
    pub first_bytes_timeout: Duration,
}

/// Counts a connection while its task lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A bound TCP listener.
#[derive(Debug)]
pub struct TcpSipListener {
    listener: TcpListener,
    /// The bound address (port 0 resolved).
    pub local: SocketAddr,
}

impl TcpSipListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok(Self { listener, local })
    }

    /// Starts the accept task; `msrp` marks its connections as MSRP ones; with
    /// `tls`, each connection completes a TLS handshake before it is announced.
    pub fn spawn_acceptor(
        self,
        ids: ConnIds,
        settings: TcpSettings,
        events: mpsc::Sender<NetEvent>,
        msrp: bool,
        tls: Option<ServerTls>,
    ) {
        // LIM-7: each listener has its own budget and its own per-address counts.
        let listener_open = Arc::new(AtomicUsize::new(0));
        let per_ip = PerIp::new(settings.max_per_ip);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match self.listener.accept().await {
                    Ok(accepted) => {
                        let _ = accepted.0.set_nodelay(true);
                        accepted
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "tcp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if listener_open.load(Ordering::Relaxed) >= settings.max_connections {
                    tracing::warn!(%peer, max = settings.max_connections, "connection limit reached; closing");
                    drop(stream);
                    continue;
                }
                let Some(ip_slot) = per_ip.take(peer.ip()) else {
                    tracing::warn!(%peer, max = settings.max_per_ip, "connections per address reached; closing");
                    drop(stream);
                    continue;
                };
                let conn = ids.conn();
                let serial = ids.next();
                let (writer, queue) = writer::bounded(settings.write_queue_bytes);
                let event = NetEvent::Accepted {
                    conn,
                    serial,
                    peer,
                    writer,
                    msrp,
                    tls: tls.is_some(),
                };
                let slot = (Slot::take(&listener_open), Some(ip_slot));
                let task = Connection {
                    conn,
                    serial,
                    peer,
                    idle: settings.idle_timeout,
                    write_timeout: settings.write_timeout,
                    first_bytes: Some(settings.first_bytes_timeout),
                };
                match &tls {
                    None => {
                        if events.send(event).await.is_err() {
                            return;
                        }
                        tokio::spawn(task.run(stream, queue, events.clone(), slot));
                    }
                    Some(tls) => {
                        // The handshake runs in the connection's own task: a slow
                        // client holds its slot, not the accept loop. The core hears
                        // of the connection only once it is up.
                        let acceptor = tls.acceptor();
                        let events = events.clone();
                        tokio::spawn(async move {
                            let Some(stream) = super::tls::accept(acceptor, stream, peer).await
                            else {
                                return;
                            };
                            if events.send(event).await.is_err() {
                                return;
                            }
                            task.run_tls(stream, queue, events, slot).await;
                        });
                    }
                }
            }
        });
    }
}

/// Opens an outbound connection numbered `conn` to `peer` (with TLS on top when
/// `tls` is given: the peer's certificate is checked, see [`super::tls`]); bytes
/// queued on the returned sender go out once it is up. The connect starts here,
/// on the caller's thread (a non-blocking `connect`, which never waits), and a
/// connect the kernel refuses at once is returned as `Err` without a task: on
/// loopback, and to a host that answers at once, the refusal (RST) is already
/// known when `connect` returns. Otherwise a task waits for the connection; a
/// connect that fails or times out later, or a failed handshake, reports `Closed`.
///
/// Why not `TcpStream::connect` in the task, as before: each session with a
/// passive terminal whose MSRP port refuses (every `bench/calls.sh` session)
/// paid a task, a timer, the socket's epoll registration and removal and a
/// `Closed` event through the channel, 6 syscalls and about 10k instructions on
/// the loop's thread; a refusal now costs `socket`, `connect`, `getsockopt` and
/// `close` (bench/README.md "Session 10: the loop").
pub fn spawn_connect(
    conn: ConnId,
    serial: u64,
    peer: SocketAddr,
    settings: &TcpSettings,
    events: mpsc::Sender<NetEvent>,
    tls: Option<(ClientTls, Option<String>)>,
    spare: &mut Spare,
) -> std::io::Result<Writer> {
    let socket = start_connect(peer, spare)?;
    let (writer, queue) = writer::bounded(settings.write_queue_bytes);
    let slot = (Slot::take(&settings.open), None);
    let idle = settings.idle_timeout;
    let write_timeout = settings.write_timeout;
    tokio::spawn(async move {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connected(socket)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                stream
            }
            Ok(Err(e)) => {
                return report_closed(&events, conn, serial, format!("connect: {e}")).await
            }
            Err(_) => {
                return report_closed(&events, conn, serial, "connect timed out".into()).await
            }
        };
        let task = Connection {
            conn,
            serial,
            peer,
            idle,
            write_timeout,
            first_bytes: None,
        };
        match tls {
            None => task.run(stream, queue, events, slot).await,
            Some((tls, name)) => match super::tls::connect(&tls, stream, peer, name).await {
                Ok(stream) => task.run_tls(stream, queue, events, slot).await,
                Err(reason) => report_closed(&events, conn, serial, reason).await,
            },
        }
    });
    Ok(writer)
}

/// A non-blocking socket with its connect to `peer` started: `Err` when the
/// kernel refused it already. The socket is `spare`'s when it holds one of
/// `peer`'s family (a fresh one if that one cannot start the connect); a socket
/// refused here goes back to `spare`.
fn start_connect(peer: SocketAddr, spare: &mut Spare) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    if let Some(socket) = spare.take(peer) {
        if let Some(started) = connect_now(socket, peer, spare, true) {
            return started;
        }
    }
    let socket = Socket::new(
        Domain::for_address(peer),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    connect_now(socket, peer, spare, false).unwrap_or_else(|| Err(std::io::ErrorKind::Other.into()))
}

/// Starts `socket`'s connect to `peer` and learns at once whether the kernel
/// refused it (on loopback the RST of a closed port is processed before
/// `connect` returns). `None` (the socket closed) when the first `connect` of a
/// `reused` socket failed: the caller tries a fresh one, which reports the
/// error if it was the peer's.
///
/// The second `connect` is the check (Linux): on a socket still connecting it
/// fails with `EALREADY`, on a connected one it succeeds (or `EISCONN`), and on
/// one whose connect failed it returns that failure (`ECONNREFUSED`, as
/// `SO_ERROR` would have) and leaves the socket unconnected, ready for another
/// connect: kept in `spare`.
fn connect_now(
    socket: socket2::Socket,
    peer: SocketAddr,
    spare: &mut Spare,
    reused: bool,
) -> Option<std::io::Result<socket2::Socket>> {
    use nix::libc::{EALREADY, EINPROGRESS, EISCONN};
    let addr = peer.into();
    match socket.connect(&addr) {
        Ok(()) => return Some(Ok(socket)),
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(_) if reused => return None,
        Err(e) => return Some(Err(e)),
    }
    match socket.connect(&addr) {
        Ok(()) => Some(Ok(socket)),
        Err(e) if matches!(e.raw_os_error(), Some(EALREADY | EINPROGRESS | EISCONN)) => {
            Some(Ok(socket))
        }
        Err(e) => {
            spare.keep(peer, socket);
            Some(Err(e))
        }
    }
}

/// A TCP socket per address family whose connect the kernel refused at once,
/// kept for the next outbound connect instead of closing it and making a new
/// one. A 1-to-1 session whose callee offers a passive MSRP endpoint nobody
/// listens on (MSRP-2: the server connects to it) costs one refused connect;
/// `socket` and `close` were two of its four system calls (with
/// `connect_now`'s check, two are left) and, in the kernel, a socket's
/// allocation and release: about 2% of the loop thread's time at 2,000
/// sessions/s (bench/README.md, "Session 11: the loop").
///
/// Why it is sound (Linux): the `connect` that reports a refusal
/// (`connect_now`'s second) also marks the socket unconnected; closed at the
/// TCP level and unbound, it then connects like a new socket (its next connect
/// binds a fresh ephemeral port). A kept socket that cannot start a connect is
/// closed and replaced by a fresh one.
#[derive(Debug, Default)]
pub struct Spare {
    v4: Option<socket2::Socket>,
    v6: Option<socket2::Socket>,
}

impl Spare {
    fn slot(&mut self, peer: SocketAddr) -> &mut Option<socket2::Socket> {
        match peer {
            SocketAddr::V4(_) => &mut self.v4,
            SocketAddr::V6(_) => &mut self.v6,
        }
    }

    fn take(&mut self, peer: SocketAddr) -> Option<socket2::Socket> {
        self.slot(peer).take()
    }

    /// Keeps `socket`, whose connect to `peer` was just refused.
    fn keep(&mut self, peer: SocketAddr, socket: socket2::Socket) {
        *self.slot(peer) = Some(socket);
    }

    /// Whether a socket of `peer`'s family is kept.
    pub fn holds(&self, peer: SocketAddr) -> bool {
        match peer {
            SocketAddr::V4(_) => self.v4.is_some(),
            SocketAddr::V6(_) => self.v6.is_some(),
        }
    }
}

/// Waits until the connect `start_connect` began is done (the socket turns
/// writable) and returns the stream, or the connect's error.
async fn connected(socket: socket2::Socket) -> std::io::Result<TcpStream> {
    let stream = TcpStream::from_std(socket.into())?;
    stream.writable().await?;
    match stream.take_error()? {
        Some(e) => Err(e),
        None => Ok(stream),
    }
}

/// Writes every chunk, in order, with as few vectored writes as the socket takes
/// (a partial write resumes where it stopped).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    wr: &mut W,
    chunks: &[Vec<u8>],
) -> std::io::Result<()> {
    /// Slices per write (Linux takes up to 1,024).
    const MAX_SLICES: usize = 64;
    let (mut at, mut offset) = (0, 0);
    while at < chunks.len() {
        let first = chunks
            .get(at)
            .and_then(|c| c.get(offset..))
            .unwrap_or_default();
        let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(first))
            .chain(chunks.iter().skip(at + 1).map(|c| IoSlice::new(c)))
            .take(MAX_SLICES)
            .collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        // Past the chunks the write took whole, into the one it took part of.
        while let Some(chunk) = chunks.get(at) {
            let left = chunk.len() - offset;
            if n < left {
                offset += n;
                break;
            }
            n -= left;
            at += 1;
            offset = 0;
        }
    }
    Ok(())
}

/// The bytes of a read (`buf` holds just them), for the loop: a large read is handed
/// over as it is and `buf` starts afresh (the MSRP decoder takes it as its buffer:
/// a relayed 4 KiB message's bytes were copied here once more); a small one is
/// copied out at its size, so a queued event does not hold a 16 KiB buffer for a
/// few hundred bytes, and `buf` is kept.
fn handed_over(buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    debug_assert_eq!(buf.len(), n);
    if n >= READ_CHUNK_BYTES / 4 {
        std::mem::replace(buf, Vec::with_capacity(READ_CHUNK_BYTES))
    } else {
        let bytes = buf.clone();
        buf.clear();
        bytes
    }
}

async fn report_closed(events: &mpsc::Sender<NetEvent>, conn: ConnId, serial: u64, reason: String) {
    let _ = events
        .send(NetEvent::Closed {
            conn,
            serial,
            reason,
        })
        .await;
}

/// One connection's byte pump.
struct Connection {
    conn: ConnId,
    serial: u64,
    peer: SocketAddr,
    idle: Duration,
    write_timeout: Duration,
    /// For inbound connections: how long the peer may stay silent at first.
    first_bytes: Option<Duration>,
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        queue: Queue,
        events: mpsc::Sender<NetEvent>,
        slot: (Slot, Option<IpSlot>),
    ) {
        // The owned halves of a TcpStream need no lock between reader and writer.
        let (rd, wr) = stream.into_split();
        self.pump(rd, wr, queue, events, slot).await;
    }

    async fn run_tls<S>(
        self,
        stream: S,
        queue: Queue,
        events: mpsc::Sender<NetEvent>,
        slot: (Slot, Option<IpSlot>),
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(stream);
        self.pump(rd, wr, queue, events, slot).await;
    }

    async fn pump<R, W>(
        self,
        mut rd: R,
        mut wr: W,
        mut queue: Queue,
        events: mpsc::Sender<NetEvent>,
        _slot: (Slot, Option<IpSlot>),
    ) where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = Vec::with_capacity(READ_CHUNK_BYTES);
        let overflow = queue.overflow();
        let mut silent_so_far = self.first_bytes.is_some();
        let reason = loop {
            let wait = match self.first_bytes {
                Some(first) if silent_so_far => first,
                Some(_) | None => self.idle,
            };
            tokio::select! {
                read = tokio::time::timeout(wait, rd.read_buf(&mut buf)) => match read {
                    Err(_) if silent_so_far => break "nothing sent after connecting".to_owned(),
                    Err(_) => break "idle timeout".to_owned(),
                    Ok(Ok(0)) => break "closed by peer".to_owned(),
                    Ok(Ok(n)) => {
                        silent_so_far = false;
                        let event = NetEvent::Data { conn: self.conn, peer: self.peer, bytes: handed_over(&mut buf, n) };
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    Ok(Err(e)) => break format!("read: {e}"),
                },
                bytes = queue.recv_batch(WRITE_BATCH_BYTES) => match bytes {
                    // The event loop dropped the sender: a `Close` command or shutdown.
                    None => {
                        let _ = wr.shutdown().await;
                        break "closed by server".to_owned();
                    }
                    Some(chunks) => {
                        // LIM-6: a peer that does not read is not waited for forever.
                        let write = tokio::select! {
                            w = tokio::time::timeout(self.write_timeout, write_all_vectored(&mut wr, &chunks)) => w,
                            () = overflow.wait() => break "write queue full".to_owned(),
                        };
                        match write {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => break format!("write: {e}"),
                            Err(_) => break "write timed out".to_owned(),
                        }
                    }
                },
                () = overflow.wait() => break "write queue full".to_owned(),
            }
        };
        tracing::debug!(conn = %self.conn, peer = %self.peer, %reason, "tcp connection ended");
        report_closed(&events, self.conn, self.serial, reason).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read's bytes reach the loop whole, small or large, and the next read
    /// starts with an empty buffer of the full read size.
    #[test]
    fn reads_are_handed_over_whole_and_the_buffer_starts_afresh() {
        for n in [0, 1, 300, READ_CHUNK_BYTES / 4, READ_CHUNK_BYTES] {
            let mut buf = Vec::with_capacity(READ_CHUNK_BYTES);
            let bytes: Vec<u8> = (0..n).map(|i| i as u8).collect();
            buf.extend_from_slice(&bytes);
            assert_eq!(handed_over(&mut buf, n), bytes, "{n}");
            assert!(buf.is_empty(), "{n}");
            assert!(buf.capacity() >= READ_CHUNK_BYTES, "{n}");
        }
    }

    /// Chunks written through a pipe that takes a few bytes per write arrive
    /// whole and in order (partial writes resume inside a chunk; empty chunks are
    /// skipped).
    #[tokio::test]
    async fn vectored_writes_resume_after_partial_ones() {
        let chunks = vec![
            b"abc".to_vec(),
            Vec::new(),
            b"defghij".to_vec(),
            vec![b'k'; 20],
            b"z".to_vec(),
        ];
        let expected = chunks.concat();
        let (mut wr, mut rd) = tokio::io::duplex(5);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.map(|_| got)
        });
        write_all_vectored(&mut wr, &chunks).await.unwrap();
        drop(wr);
        assert_eq!(reader.await.unwrap().unwrap(), expected);
    }
}
