//! The event loop: the one task that owns the [`Server`] by `&mut` (no mutex).
//!
//! Each wake-up reads the clock once, feeds one input (plus a bounded batch of
//! inputs already queued), drains every command and event, and re-arms the single
//! timer from `poll_timeout`. Priorities, highest first (`biased` select): shutdown,
//! store answers (they release responses the peers wait for), network input (the
//! socket tasks' events, then UDP datagrams, which the loop reads from its sockets
//! itself: `transport::udp`), the timer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cpmd_core::server::{Event, SessionEnd, SessionOutcome, SessionType};
use cpmd_core::{Command, ConnId, Flow, Server, Time, Transport, WallClock};
use tokio::sync::mpsc;

use crate::metrics::{Gauges, LoopCounters, Metrics};
use crate::store::{StoreDone, StoreError, StoreJob};
use crate::trace::InputTrace;
use crate::transport::tcp::{spawn_connect, Spare, TcpSettings};
use crate::transport::tls::ClientTls;
use crate::transport::udp::{self, UdpListener};
use crate::transport::udp_send::Payload;
use crate::transport::writer::{Refused, Writer};
use crate::transport::{ConnIds, NetEvent};

mod tables;

/// Most queued inputs handled in one wake-up before commands are drained and the
/// timer checked again, so a flood on one socket cannot starve the rest.
const INPUT_BUDGET: usize = 64;

/// Most datagrams one UDP socket's turn takes (one `recvmmsg`).
const UDP_TURN: usize = crate::transport::udp::RECV_BATCH;

/// Most store jobs waiting for the store task. A `Persist` beyond it is failed at
/// once (the core answers the peer with its store-failure response) instead of
/// queueing without bound while the store is slow (specs/limits.md, LIM-8). Seals
/// are always queued: there is at most one per session.
const MAX_STORE_JOBS: usize = 10_000;

/// Whether a job may join a store queue holding `pending` jobs.
fn store_admits(job: &StoreJob, pending: usize, max: usize) -> bool {
    match job {
        StoreJob::Persist(..) => pending < max,
        StoreJob::Seal(..) => true,
    }
}

/// MSRP messages up to this size are appended to the buffer of the messages
/// queued before them for the same connection; larger ones are queued as they are.
const MSRP_GATHER_BYTES: usize = 1024;

/// A gathering buffer takes no more once it holds this much.
const MSRP_GATHER_LIMIT: usize = 16 * 1024;

/// One connection's MSRP bytes of a drain: large messages as they were printed,
/// runs of small ones gathered into buffers of up to [`MSRP_GATHER_LIMIT`].
#[derive(Debug, Default)]
struct Gathered {
    chunks: Vec<Vec<u8>>,
    /// The last chunk is small messages (may take more), not a large one.
    last_small: bool,
}

impl Gathered {
    /// Queues one message. A large one is never copied; a small one joins the
    /// small ones before it, whose buffer grows at most once, to the gathering
    /// size, when a second message joins the first.
    fn push(&mut self, bytes: Vec<u8>) {
        let small = bytes.len() <= MSRP_GATHER_BYTES;
        match self.chunks.last_mut() {
            Some(last) if small && self.last_small && last.len() < MSRP_GATHER_LIMIT => {
                if last.capacity() - last.len() < bytes.len() {
                    last.reserve_exact(MSRP_GATHER_LIMIT + MSRP_GATHER_BYTES - last.len());
                }
                last.extend_from_slice(&bytes);
            }
            _ => {
                self.chunks.push(bytes);
                self.last_small = small;
            }
        }
    }
}

/// How often the metrics gauges are read from the core's tables (a walk of the
/// session table: not per input).
const GAUGE_PERIOD: Duration = Duration::from_secs(1);

/// How long shutdown waits for the store to answer what is in flight.
const SHUTDOWN_STORE_GRACE: Duration = Duration::from_secs(5);

/// A TCP connection as the loop knows it.
struct TcpConn {
    serial: u64,
    writer: Writer,
}

/// Everything the loop owns.
pub struct EventLoop {
    server: Server,
    origin: Instant,
    /// The UDP sockets, read by the loop itself (each with its own receive
    /// buffers and send queue, flushed at the end of every drain).
    udp: Vec<UdpListener>,
    tcp: HashMap<ConnId, TcpConn>,
    /// The TCP connections that carry MSRP (accepted on an MSRP listener, or opened
    /// by `MsrpConnect`); every other one carries SIP.
    msrp: HashSet<ConnId>,
    /// The connections under TLS (accepted on a TLS listener or opened with TLS):
    /// SIP on them is `Transport::Tls` to the core.
    tls: HashSet<ConnId>,
    /// The client configuration for outbound TLS, when `[tls]` is configured.
    client_tls: Option<ClientTls>,
    ids: ConnIds,
    tcp_settings: TcpSettings,
    net_tx: mpsc::Sender<NetEvent>,
    net_rx: mpsc::Receiver<NetEvent>,
    store_tx: Option<mpsc::UnboundedSender<StoreJob>>,
    store_rx: mpsc::UnboundedReceiver<StoreDone>,
    /// Store jobs sent and not yet answered.
    store_pending: usize,
    /// The input trace, when enabled.
    trace: Option<InputTrace>,
    /// The push hook announcing deferred messages (specs/deferred.md), if set.
    push: Option<crate::push::PushHook>,
    /// Where this node's binding changes go to be written as location rows
    /// (`[cluster]`, specs/scale-out.md).
    locations: Option<std::sync::mpsc::Sender<crate::cluster::LocationChange>>,
    /// The metrics, when the metrics listener is on.
    metrics: Option<Observed>,
    /// MSRP bytes of this drain not yet handed to their connection's writer, per
    /// connection in first-use order: small messages (responses, short SENDs)
    /// gathered into one buffer, large ones kept as they were printed (copying a
    /// relayed 4 KiB SEND into a growing buffer cost more than queueing it); the
    /// connection task writes them all with one vectored write.
    msrp_out: Vec<(ConnId, Gathered)>,
    /// When the table sizes are logged next (`tables.rs`).
    tables_at: Instant,
    /// Connections whose connect the kernel refused at once in this drain: the
    /// core hears `handle_closed` for each once the drain's commands are done.
    refused: Vec<ConnId>,
    /// A refused connect's socket, kept for the next connect (`transport::tcp`).
    spare: Spare,
}

/// What the metrics need beyond the core: when each store job left, and the IMAP
/// listeners' connection counts.
struct Observed {
    metrics: Arc<Metrics>,
    /// The loop's handles on the counters it bumps per message and per session.
    counters: LoopCounters,
    /// Store jobs in flight, in the order they were handed over (the store
    /// answers in that order): ticket, when, and whether it is a seal.
    store_sent: VecDeque<(cpmd_core::StoreTicket, Instant, bool)>,
    imap_open: Vec<Arc<AtomicUsize>>,
    next_gauges: Instant,
}

/// One input, as taken from a channel or a socket.
enum Input {
    Net(NetEvent),
    /// A datagram is queued on the UDP socket of this index.
    Udp(usize),
    Store(StoreDone),
    Timer,
    Shutdown,
}

/// The channels and sockets the loop is built from.
pub struct Parts {
    /// The core.
    pub server: Server,
    /// UDP sockets (the loop reads them).
    pub udp: Vec<UdpListener>,
    /// Connection numbering shared with the TCP acceptors.
    pub ids: ConnIds,
    /// TCP budget and idle timeout.
    pub tcp_settings: TcpSettings,
    /// Socket tasks' sender (for outbound connections) and the loop's receiver.
    pub net: (mpsc::Sender<NetEvent>, mpsc::Receiver<NetEvent>),
    /// Jobs to the store task.
    pub store_tx: mpsc::UnboundedSender<StoreJob>,
    /// Answers from the store task.
    pub store_rx: mpsc::UnboundedReceiver<StoreDone>,
    /// Where network input is recorded (`--trace-input`), if anywhere.
    pub trace: Option<InputTrace>,
    /// The client configuration for outbound TLS (`[tls]` configured).
    pub client_tls: Option<ClientTls>,
    /// The metrics, when the metrics listener is on.
    pub metrics: Option<Arc<Metrics>>,
    /// Open connections of each IMAP listener (for the metrics).
    pub imap_open: Vec<Arc<AtomicUsize>>,
}

impl EventLoop {
    /// Builds the loop; `origin` is time zero of the core's clock.
    pub fn new(parts: Parts, origin: Instant) -> Self {
        Self {
            server: parts.server,
            origin,
            udp: parts.udp,
            tcp: HashMap::new(),
            msrp: HashSet::new(),
            tls: HashSet::new(),
            client_tls: parts.client_tls,
            ids: parts.ids,
            tcp_settings: parts.tcp_settings,
            net_tx: parts.net.0,
            net_rx: parts.net.1,
            store_tx: Some(parts.store_tx),
            store_rx: parts.store_rx,
            store_pending: 0,
            trace: parts.trace,
            metrics: parts.metrics.map(|metrics| Observed {
                counters: LoopCounters::new(&metrics),
                metrics,
                store_sent: VecDeque::new(),
                imap_open: parts.imap_open,
                next_gauges: origin,
            }),
            push: None,
            locations: None,
            msrp_out: Vec::new(),
            tables_at: origin,
            refused: Vec::new(),
            spare: Spare::default(),
        }
    }

    /// Announces deferred messages through `push` (DEF-11).
    pub fn with_push(mut self, push: Option<crate::push::PushHook>) -> Self {
        self.push = push;
        self
    }

    /// Sends this node's binding changes to the cluster thread (SCALE-4).
    pub fn with_locations(
        mut self,
        locations: Option<std::sync::mpsc::Sender<crate::cluster::LocationChange>>,
    ) -> Self {
        self.locations = locations;
        self
    }

    /// Runs until `shutdown` resolves, then lets the store finish what is in flight
    /// (answering the peers that wait for it) and returns.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        // The shutdown future waits in a task of its own and the loop polls only
        // its oneshot: polled in the loop's `select!`, the signal streams' own
        // polls cost about 900 instructions per wake-up (7k per session at low
        // rates, bench/README.md "session 9").
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(());
        });
        let mut shutdown = stopped;
        // One timer, moved only when the deadline moves (a new one per wake-up cost
        // an insertion into tokio's timer wheel and a removal).
        let sleep =
            tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            let core = self
                .server
                .poll_timeout()
                .map(|t| self.origin + Duration::from_millis(t.as_ms()));
            // With metrics on, wake at least once per GAUGE_PERIOD so the gauges stay
            // fresh while nothing happens (an early `handle_timeout` fires nothing).
            let gauges = self.metrics.as_ref().map(|o| o.next_gauges);
            let deadline = match (core, gauges) {
                (Some(c), Some(g)) => Some(c.min(g)),
                (c, g) => c.or(g),
            };
            if let Some(d) = deadline.map(tokio::time::Instant::from_std) {
                if sleep.deadline() != d {
                    sleep.as_mut().reset(d);
                }
            }
            let input = tokio::select! {
                biased;
                // A dropped sender (cannot happen: the task holds it) stops too.
                _ = &mut shutdown => Input::Shutdown,
                Some(done) = self.store_rx.recv() => Input::Store(done),
                Some(ev) = self.net_rx.recv() => Input::Net(ev),
                i = udp::ready(&self.udp) => Input::Udp(i),
                () = &mut sleep, if deadline.is_some() => Input::Timer,
            };
            if matches!(input, Input::Shutdown) {
                break;
            }
            // What this wake-up logs leaves in one write when it ends (the
            // `session ended` lines of the sessions it ends; `logging::held`).
            let _held = crate::logging::hold();
            let (now, at) = self.wake();
            // The budget counts inputs: a datagram is one, as a channel's item is.
            let mut budget = INPUT_BUDGET;
            // Sockets found empty in this wake-up (bit i: socket i), not read again.
            let mut emptied = 0u64;
            if let Input::Udp(i) = input {
                let (read, empty) = self.read_udp(now, i, UDP_TURN);
                if empty {
                    emptied |= bit(i);
                }
                budget -= read.clamp(1, budget);
            } else {
                self.feed(now, input);
                budget -= 1;
            }
            // Then what is already queued, in turns: a store answer, a socket task's
            // event, a batch of datagrams (the UDP sockets in turn, up to UDP_TURN
            // each), so a flood on one kind cannot hold the others back for the
            // whole budget.
            let mut sock = 0;
            while budget > 0 {
                let mut took = false;
                if let Ok(done) = self.store_rx.try_recv() {
                    self.feed(now, Input::Store(done));
                    budget -= 1;
                    took = true;
                }
                if budget > 0 {
                    if let Ok(ev) = self.net_rx.try_recv() {
                        self.feed(now, Input::Net(ev));
                        budget -= 1;
                        took = true;
                    }
                }
                let n = self.udp.len();
                for _ in 0..n {
                    if budget == 0 {
                        break;
                    }
                    let i = sock % n;
                    sock = sock.wrapping_add(1);
                    if emptied & bit(i) != 0 {
                        continue;
                    }
                    let (read, empty) = self.read_udp(now, i, budget.min(UDP_TURN));
                    if empty {
                        emptied |= bit(i);
                    }
                    if read > 0 {
                        budget -= read.min(budget);
                        took = true;
                        break;
                    }
                }
                if !took {
                    break;
                }
            }
            self.flush_trace();
            self.drain(now);
            // The wake-up's clock reading, not a new one per check (each cost a
            // clock read per wake-up; they are due at most once a second).
            self.publish_gauges(at);
            self.log_tables(at);
        }
        self.finish().await;
    }

    /// Reads the clocks once for this wake-up: the core's time, and the same
    /// instant for the loop's own periodic checks (gauges, table sizes).
    fn wake(&mut self) -> (Time, Instant) {
        let at = Instant::now();
        let elapsed = at.saturating_duration_since(self.origin);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.server.set_wall_clock(WallClock::from_unix_secs(unix));
        (Time::from_ms(ms), at)
    }

    fn feed(&mut self, now: Time, input: Input) {
        match input {
            Input::Net(ev) => self.on_net(now, ev),
            Input::Store((ticket, result, restored)) => {
                self.store_pending = self.store_pending.saturating_sub(1);
                if let Some(o) = self.metrics.as_mut() {
                    if let Some((sent, seal)) = take_sent(&mut o.store_sent, ticket) {
                        let word = match &result {
                            Ok(()) => "ok",
                            Err(StoreError::Failed { .. }) => "failed",
                            Err(StoreError::OverQuota { .. }) => "over_quota",
                            Err(StoreError::NotAParty { .. }) => "not_a_party",
                            Err(StoreError::NoEndedGroup { .. }) => "no_ended_group",
                        };
                        o.counters
                            .store_answered(&o.metrics, seal, word, sent.elapsed());
                    }
                }
                if let Some(members) = restored {
                    // GRP-40: whom the restart invites, before its answer.
                    self.server.handle_group_restored(ticket, members);
                }
                self.server.handle_store_result(now, ticket, result);
            }
            Input::Udp(i) => {
                self.read_udp(now, i, UDP_TURN);
            }
            Input::Timer => self.server.handle_timeout(now),
            Input::Shutdown => {}
        }
    }

    /// Hands the core up to `budget` datagrams queued on UDP socket `i`, read in
    /// one call; returns how many, and whether the socket was found empty.
    fn read_udp(&mut self, now: Time, i: usize, budget: usize) -> (usize, bool) {
        let Some(sock) = self.udp.get_mut(i) else {
            return (0, true);
        };
        let (read, empty) = sock.recv_batch(budget);
        let conn = sock.conn;
        for (bytes, peer) in sock.datagrams() {
            let flow = Flow {
                transport: Transport::Udp,
                conn,
                peer,
            };
            if let Some(trace) = self.trace.as_mut() {
                if let Err(e) = trace.bytes(now, Transport::Udp, conn, peer, bytes) {
                    tracing::error!(path = %trace.path().display(), error = %e, "input trace write failed; trace stopped");
                    self.trace = None;
                }
            }
            self.server.handle_bytes(now, flow, bytes);
        }
        (read, empty)
    }

    fn on_net(&mut self, now: Time, ev: NetEvent) {
        match ev {
            NetEvent::Accepted {
                conn,
                serial,
                peer,
                writer,
                msrp,
                tls,
            } => {
                tracing::debug!(%conn, %peer, msrp, tls, "tcp connection accepted");
                self.tcp.insert(conn, TcpConn { serial, writer });
                if msrp {
                    self.msrp.insert(conn);
                }
                if tls {
                    self.tls.insert(conn);
                }
            }
            NetEvent::Data { conn, peer, bytes } if self.msrp.contains(&conn) => {
                // MSRP input is not in the input trace (its replay feeds SIP only).
                self.server.handle_msrp_read(now, conn, peer, bytes);
            }
            NetEvent::Data { conn, peer, bytes } => {
                let transport = if self.tls.contains(&conn) {
                    Transport::Tls
                } else {
                    Transport::Tcp
                };
                let flow = Flow {
                    transport,
                    conn,
                    peer,
                };
                self.record(|t| t.bytes(now, transport, conn, peer, &bytes));
                self.server.handle_bytes(now, flow, &bytes);
            }
            NetEvent::RemoteBinding(b) => {
                tracing::debug!(aor = %b.aor, contact = %b.contact_key, left_ms = b.left_ms, "location row of another node");
                self.record(|t| t.remote_binding(now, &b));
                self.server.handle_remote_binding(now, b);
            }
            NetEvent::Login(q) => {
                // SEC-4f: IMAP attempts count in the core's table, with SIP's.
                self.record(|t| t.login(now, &q.user, q.source, q.password_ok));
                let verdict = self
                    .server
                    .login_attempt(now, &q.user, q.source, q.password_ok);
                let _ = q.reply.send(verdict);
            }
            NetEvent::Closed {
                conn,
                serial,
                reason,
            } => {
                if self.tcp.get(&conn).is_some_and(|c| c.serial == serial) {
                    tracing::debug!(%conn, %reason, "tcp connection closed");
                    self.tcp.remove(&conn);
                    self.msrp.remove(&conn);
                    self.tls.remove(&conn);
                    self.record(|t| t.closed(now, conn));
                    self.server.handle_closed(now, conn);
                }
            }
        }
    }

    /// Appends one input to the trace; a write error ends the trace (logged once).
    fn record(&mut self, write: impl FnOnce(&mut InputTrace) -> std::io::Result<()>) {
        if let Some(trace) = self.trace.as_mut() {
            if let Err(e) = write(trace) {
                tracing::error!(path = %trace.path().display(), error = %e, "input trace write failed; trace stopped");
                self.trace = None;
            }
        }
    }

    fn flush_trace(&mut self) {
        self.record(InputTrace::flush);
    }

    /// Drains commands and events until the core has nothing more to say.
    fn drain(&mut self, now: Time) {
        loop {
            while let Some(cmd) = self.server.poll_command() {
                self.execute(now, cmd);
            }
            if self.refused.is_empty() {
                break;
            }
            // Connects refused at once: the input a failed connect task reported.
            for conn in std::mem::take(&mut self.refused) {
                self.record(|t| t.closed(now, conn));
                self.server.handle_closed(now, conn);
            }
        }
        self.flush_msrp();
        for sock in &mut self.udp {
            sock.flush();
        }
        while let Some(ev) = self.server.poll_event() {
            if let Some(o) = self.metrics.as_mut() {
                o.counters.event(&o.metrics, &ev);
            }
            log_event(&ev);
            if let (Some(tx), Event::BindingsChanged { aor, bindings }) = (&self.locations, &ev) {
                let change = crate::cluster::LocationChange {
                    aor: aor.as_str().to_owned(),
                    bindings: bindings.clone(),
                };
                if tx.send(change).is_err() {
                    tracing::warn!("cluster thread gone; location change dropped");
                }
            }
            if let (
                Some(push),
                Event::MessageDeferred {
                    recipient,
                    sender,
                    conversation_id,
                    content_type,
                    body,
                    in_session,
                },
            ) = (&self.push, &ev)
            {
                push.announce(&crate::push::Deferral {
                    recipient: recipient.as_str(),
                    sender: sender.as_str(),
                    conversation_id: conversation_id.as_ref().map(|c| c.as_str()),
                    content_type,
                    body,
                    kind: if *in_session { "session" } else { "pager" },
                });
            }
        }
    }

    fn execute(&mut self, now: Time, cmd: Command) {
        match cmd {
            Command::Transmit { flow, message } => {
                if let Some(o) = self.metrics.as_mut() {
                    o.counters.transmitted(&message);
                }
                self.send(flow, Payload::Message(message));
            }
            Command::TransmitRaw { flow, bytes } => {
                if let Some(o) = &self.metrics {
                    o.metrics.transmitted_raw(&bytes);
                }
                self.send(flow, Payload::Raw(bytes))
            }
            Command::Connect {
                conn,
                peer,
                transport,
                server_name,
            } => self.connect(conn, peer, transport, server_name),
            Command::Close { conn } => {
                // What this drain queued for it goes out first, as it would have
                // without the batching.
                self.flush_msrp();
                // Dropping the writer ends the connection task, which reports Closed.
                self.tcp.remove(&conn);
                self.msrp.remove(&conn);
                self.tls.remove(&conn);
            }
            Command::MsrpConnect { conn, peer, tls } => {
                tracing::debug!(%conn, %peer, tls, "msrp connect");
                self.flush_msrp();
                self.msrp.insert(conn);
                let transport = if tls { Transport::Tls } else { Transport::Tcp };
                self.connect(conn, peer, transport, None);
            }
            Command::MsrpSend { conn, bytes } => {
                tracing::trace!(%conn, text = %String::from_utf8_lossy(&bytes), "msrp send");
                if let Some(o) = &self.metrics {
                    o.metrics.msrp_sent(&bytes);
                }
                match self.msrp_out.iter_mut().find(|(c, _)| *c == conn) {
                    Some((_, out)) => out.push(bytes),
                    None => {
                        let mut out = Gathered::default();
                        out.push(bytes);
                        self.msrp_out.push((conn, out));
                    }
                }
            }
            Command::Persist { ticket, record } => {
                self.store(now, StoreJob::Persist(ticket, record))
            }
            Command::SealSession { ticket, history } => {
                self.store(now, StoreJob::Seal(ticket, history))
            }
            Command::ChatDeliver { recipient, message } => {
                tracing::info!(%recipient, seq = message.seq, session = %message.key.contribution_id,
                    "chat deliver to a leg without MSRP media: dropped");
            }
            Command::ChatResult {
                contribution_id,
                sender,
                message_id,
                outcome,
            } => {
                tracing::info!(%contribution_id, %sender, %message_id, ?outcome,
                    "chat result of a typed message");
            }
        }
    }

    /// Hands what this drain queued for MSRP connections to their writers.
    fn flush_msrp(&mut self) {
        // Called at the end of every drain; most have sent no MSRP.
        if self.msrp_out.is_empty() {
            return;
        }
        // `drain`, not `take`: the list keeps its allocation for the next drain's
        // sends (taking it freed it, and the next `MsrpSend` allocated it again).
        for (conn, Gathered { chunks, .. }) in self.msrp_out.drain(..) {
            // An MSRP connection is never reopened by the runtime: the core heard
            // (or will hear) `handle_closed` and queues for the leg.
            let sent = self.tcp.get(&conn).map(|c| {
                chunks
                    .into_iter()
                    .try_for_each(|bytes| c.writer.send(bytes))
            });
            match sent {
                Some(Ok(())) => {}
                // LIM-6: the connection closes; the core hears `Closed` from its task.
                Some(Err(Refused::Full)) => {
                    tracing::warn!(%conn, "msrp write queue full; closing the connection")
                }
                Some(Err(Refused::Closed(_))) | None => {
                    tracing::debug!(%conn, "msrp send on a closed connection; dropped")
                }
            }
        }
    }

    fn send(&mut self, flow: Flow, payload: Payload) {
        match flow.transport {
            // Sent at the end of this drain with the rest of its datagrams: on the
            // loop when few and the socket's send thread is idle, else by that
            // thread (`UdpListener::flush`).
            Transport::Udp => match self.udp.iter_mut().find(|u| u.conn == flow.conn) {
                Some(sock) => sock.queue(flow.peer, payload),
                None => {
                    tracing::warn!(conn = %flow.conn, "transmit on an unknown udp socket; dropped")
                }
            },
            Transport::Tcp | Transport::Tls => {
                let bytes = match payload {
                    Payload::Message(message) => {
                        let bytes = cpmd_core::wire::encode_message(&message);
                        tracing::trace!(%flow.peer, text = %String::from_utf8_lossy(&bytes), "send");
                        bytes
                    }
                    Payload::Raw(bytes) => bytes,
                };
                let bytes = match self.tcp.get(&flow.conn) {
                    Some(c) => match c.writer.send(bytes) {
                        Ok(()) => return,
                        // LIM-6: a peer that does not read loses its connection (its
                        // task reports `Closed`); not reopened for these bytes.
                        Err(Refused::Full) => {
                            tracing::warn!(conn = %flow.conn, "sip write queue full; closing");
                            return;
                        }
                        Err(Refused::Closed(bytes)) => bytes,
                    },
                    None => bytes,
                };
                // The connection is gone (the terminal closed it, e.g. after
                // registering). RFC 3261 §18: open a new one to the flow's address,
                // under the same number so the core's flow stays valid. Only the
                // address is known here: a TLS peer is verified by its IP address.
                tracing::info!(conn = %flow.conn, peer = %flow.peer, "connection gone; reconnecting");
                self.connect(flow.conn, flow.peer, flow.transport, None);
                if let Some(c) = self.tcp.get(&flow.conn) {
                    let _ = c.writer.send(bytes);
                }
            }
        }
    }

    /// Reads the gauges from the core and the connection maps, at most once per
    /// [`GAUGE_PERIOD`] (`now`: the wake-up's instant).
    fn publish_gauges(&mut self, now: Instant) {
        let Some(o) = self.metrics.as_mut() else {
            return;
        };
        if now < o.next_gauges {
            return;
        }
        o.next_gauges = now + GAUGE_PERIOD;
        let (one_to_one, groups) = self.server.session_counts();
        o.metrics.publish(Gauges {
            bindings: self.server.binding_count(),
            one_to_one,
            groups,
            sip_connections: self.tcp.len().saturating_sub(self.msrp.len()),
            msrp_connections: self.msrp.len(),
            imap_connections: o.imap_open.iter().map(|n| n.load(Ordering::Relaxed)).sum(),
            store_queue: self.store_pending,
        });
    }

    /// Opens connection `conn` to `peer`, with TLS when `transport` is `Tls` (the
    /// peer's certificate verified per `[tls]`, specs/tls.md TLS-9, for
    /// `server_name` when the core gave one, TLS-15).
    fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        transport: Transport,
        server_name: Option<String>,
    ) {
        let tls = match transport {
            Transport::Tls => match &self.client_tls {
                Some(tls) => Some((Arc::clone(tls), server_name)),
                None => {
                    // Cannot happen: TLS flows exist only with a TLS listener, which
                    // needs `[tls]`. Never fall back to plaintext.
                    tracing::error!(%conn, %peer, "tls connect without [tls]; not connecting");
                    return;
                }
            },
            Transport::Udp | Transport::Tcp => None,
        };
        let serial = self.ids.next();
        let with_tls = tls.is_some();
        match spawn_connect(
            conn,
            serial,
            peer,
            &self.tcp_settings,
            self.net_tx.clone(),
            tls,
            &mut self.spare,
        ) {
            Ok(writer) => {
                if with_tls {
                    self.tls.insert(conn);
                } else {
                    self.tls.remove(&conn);
                }
                self.tcp.insert(conn, TcpConn { serial, writer });
            }
            Err(e) => {
                // Refused at once (no task was started): the core hears `Closed`
                // at the end of this drain, as it would have from the task.
                tracing::debug!(%conn, %peer, error = %e, "connect refused");
                self.tcp.remove(&conn);
                self.msrp.remove(&conn);
                self.tls.remove(&conn);
                self.refused.push(conn);
            }
        }
    }

    fn store(&mut self, now: Time, job: StoreJob) {
        let (ticket, seal) = match &job {
            StoreJob::Persist(t, _) => (*t, false),
            StoreJob::Seal(t, _) => (*t, true),
        };
        if !store_admits(&job, self.store_pending, MAX_STORE_JOBS) {
            tracing::warn!(%ticket, pending = self.store_pending, "store queue full; record refused");
            if let Some(o) = &self.metrics {
                o.metrics.refused("store_overloaded");
            }
            let reason = "store overloaded".to_owned();
            return self.server.handle_store_result(
                now,
                ticket,
                Err(StoreError::Failed { reason }),
            );
        }
        let sent = self
            .store_tx
            .as_ref()
            .is_some_and(|tx| tx.send(job).is_ok());
        if sent {
            self.store_pending += 1;
            if let Some(o) = self.metrics.as_mut() {
                o.store_sent.push_back((ticket, Instant::now(), seal));
            }
        } else {
            if let Some(o) = &self.metrics {
                // `/ready` turns 503: nothing can be stored any more.
                o.metrics.set_ready(false);
            }
            // The core must hear about every ticket: a failure makes it answer the
            // waiting peer (500) instead of leaving it hanging.
            tracing::error!(%ticket, "store task gone; record not stored");
            let reason = "store unavailable".to_owned();
            self.server
                .handle_store_result(now, ticket, Err(StoreError::Failed { reason }));
        }
    }

    /// Shutdown: stop reading the network, let the store answer what is in flight
    /// (and send the responses that depended on it), then close the store.
    async fn finish(mut self) {
        tracing::info!(pending = self.store_pending, "shutting down");
        // What finished transactions keep while they linger (LIM-16; read by
        // bench/calls.sh).
        let txs = self.server.transaction_stats();
        tracing::info!(
            lingering = txs.lingering,
            lingering_bytes = txs.bytes,
            bytes_each = txs.bytes.checked_div(txs.lingering).unwrap_or(0),
            pending = txs.pending,
            "transactions at shutdown"
        );
        let give_up = tokio::time::Instant::now() + SHUTDOWN_STORE_GRACE;
        while self.store_pending > 0 {
            let Ok(Some(done)) = tokio::time::timeout_at(give_up, self.store_rx.recv()).await
            else {
                tracing::warn!(
                    pending = self.store_pending,
                    "store did not answer before shutdown"
                );
                break;
            };
            let (now, _) = self.wake();
            self.feed(now, Input::Store(done));
            self.drain(now);
        }
        self.store_tx = None;
        self.flush_trace();
        // What the last drains queued on UDP leaves before the process ends.
        for sock in &mut self.udp {
            sock.stop_sending();
        }
        // Give connection tasks a moment to flush what the last drain queued.
        tokio::task::yield_now().await;
    }
}

/// Takes the store job `ticket` from the jobs in flight: when it was handed over
/// and whether it is a seal. Answers come in the order the jobs went (the front),
/// unless the store answered out of order (then it is searched for).
fn take_sent(
    sent: &mut VecDeque<(cpmd_core::StoreTicket, Instant, bool)>,
    ticket: cpmd_core::StoreTicket,
) -> Option<(Instant, bool)> {
    let at = match sent.front() {
        Some((t, ..)) if *t == ticket => 0,
        _ => sent.iter().position(|(t, ..)| *t == ticket)?,
    };
    sent.remove(at).map(|(_, when, seal)| (when, seal))
}

/// Socket `i`'s bit in a wake-up's set of emptied sockets (sockets past the 64th
/// share the last bit: they may wait for the next wake-up, as their readiness
/// stays set).
fn bit(i: usize) -> u64 {
    1 << i.min(63)
}

fn log_event(ev: &Event) {
    match ev {
        Event::Dropped { flow, reason } => {
            tracing::info!(peer = %flow.peer, %reason, "dropped input")
        }
        // Debug: a session's one info line is `session ended` (which names how it
        // went); a second per session cost a write per session at full rate.
        Event::SessionEstablished(s) => tracing::debug!(session = %s, "session established"),
        Event::GroupCreated { group, replaces } => {
            tracing::info!(%group, ?replaces, "group created")
        }
        // The session's one line is `session ended` below, outcome included.
        Event::SessionSealed(s) => tracing::debug!(session = %s, "session sealed"),
        Event::SealFailed(s) => tracing::debug!(session = %s, "session seal failed"),
        Event::SessionEnded(end) => log_session_end(end),
        Event::MsrpRefused { conn, reason } => {
            tracing::info!(?conn, %reason, "msrp input refused or not sent")
        }
        Event::ConnectRefused { target, terminal } => {
            tracing::warn!(%target, %terminal, "not connecting to a host the terminal named (SEC-6)")
        }
        Event::MessageDeferred {
            recipient, sender, ..
        } => tracing::info!(%recipient, %sender, "message deferred"),
        Event::BindingsChanged { aor, bindings } => {
            tracing::debug!(%aor, bindings = bindings.len(), "bindings changed")
        }
        Event::DeferredDropped { id } => {
            tracing::warn!(%id, "stored deferred message unreadable: dropped")
        }
    }
}

/// One line per session, whatever its end, with what an operator searches by: the
/// Conversation-ID and Contribution-ID, the kind and the outcome. A failed seal is
/// an error (the history is not stored); every other end is info.
fn log_session_end(end: &SessionEnd) {
    let kind = match end.kind {
        SessionType::OneToOne => "1-to-1",
        SessionType::AdHoc => "group",
    };
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                session = %end.key.session,
                conversation_id = %end.key.conversation_id,
                contribution_id = %end.key.contribution_id,
                kind,
                outcome = end.outcome.as_str(),
                replaced_by = end.replaced_by.map(tracing::field::display),
                messages = end.messages,
                "session ended"
            )
        };
    }
    match end.outcome {
        SessionOutcome::SealFailed => line!(error),
        SessionOutcome::Failed | SessionOutcome::Cancelled | SessionOutcome::Sealed => {
            line!(info)
        }
    }
}

#[cfg(test)]
mod tests {
    use cpmd_core::server::{HistoryObject, Record, SessionInfo, SessionKey, SessionType};
    use cpmd_core::{ContributionId, ConversationId, SessionId, StoreTicket, UserUri};

    use super::*;

    #[test]
    fn a_store_answer_finds_its_job_in_order_or_out_of_it() {
        let t = StoreTicket::new;
        let now = Instant::now();
        let mut sent: VecDeque<_> = [(t(1), now, false), (t(2), now, true), (t(3), now, false)]
            .into_iter()
            .collect();
        assert_eq!(take_sent(&mut sent, t(1)), Some((now, false)));
        assert_eq!(take_sent(&mut sent, t(3)), Some((now, false)));
        assert_eq!(take_sent(&mut sent, t(3)), None);
        assert_eq!(take_sent(&mut sent, t(9)), None);
        assert_eq!(take_sent(&mut sent, t(2)), Some((now, true)));
        assert!(sent.is_empty());
    }

    /// A drain's MSRP bytes for one connection: the same bytes in the same order;
    /// a large message stays its own chunk (never copied), runs of small ones
    /// share one up to the gathering size.
    #[test]
    fn msrp_out_gathers_small_messages_and_keeps_large_ones() {
        let small = |b: u8| vec![b; 200];
        let large = vec![b'L'; MSRP_GATHER_BYTES + 1];
        let mut out = Gathered::default();
        let mut sent = Vec::new();
        let mut push = |out: &mut Gathered, bytes: Vec<u8>| {
            sent.extend_from_slice(&bytes);
            out.push(bytes);
        };
        push(&mut out, small(b'a'));
        push(&mut out, small(b'b'));
        push(&mut out, large.clone());
        push(&mut out, small(b'c'));
        for _ in 0..100 {
            push(&mut out, small(b'd'));
        }
        let lens: Vec<usize> = out.chunks.iter().map(Vec::len).collect();
        assert_eq!(lens[..2], [400, large.len()]);
        assert!(lens[2..].iter().all(|&n| n <= MSRP_GATHER_LIMIT + 200));
        assert!(lens.len() > 3, "gathering stops at the limit: {lens:?}");
        assert_eq!(out.chunks.concat(), sent);
    }

    /// LIM-8: a record beyond the cap is refused; seals always get in.
    #[test]
    fn the_store_queue_refuses_records_past_its_cap() {
        let alice = UserUri::new_canonical("sip:alice@example.com");
        let info = SessionInfo {
            key: SessionKey {
                session: SessionId::new(1),
                conversation_id: ConversationId::new("c"),
                contribution_id: ContributionId::new("k"),
            },
            session_type: SessionType::OneToOne,
            from: alice.clone(),
            to: "sip:bob@example.com".into(),
            date: "Thu, 26 Nov 2026 12:00:00 GMT".into(),
            subject: None,
            in_reply_to: None,
            sdp: String::new(),
            media_attributes: Vec::new(),
            invited: vec![alice],
        };
        let persist = StoreJob::Persist(StoreTicket::new(1), Record::SessionInfo(info.clone()));
        let seal = StoreJob::Seal(
            StoreTicket::new(2),
            HistoryObject {
                info,
                messages: Vec::new(),
                participants: Vec::new(),
                focus: None,
            },
        );
        assert!(store_admits(&persist, 9, 10));
        assert!(!store_admits(&persist, 10, 10));
        assert!(store_admits(&seal, 10, 10));
    }
}
