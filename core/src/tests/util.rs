//! The scenario harness: the real [`Server`] driven with virtual time, scripted user
//! agents on a pretend network, and a store that answers when told.
//!
//! Messages are typed (`handle_message`): the harness tests the state machine, the
//! corpus and property tests cover the bytes.

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};

use crate::ids::{CallId, ContributionId, ConversationId, MessageId, StoreTicket, Tag};
use crate::server::{
    ChatOutcome, ChatSend, Command, Config, Flow, HistoryObject, Record, Server, StoreError,
    StoredMessage, Transport,
};
use crate::shared::Shared;
use crate::sip::{Method, NameAddr, Request, Response, SipMessage, StatusCode, Via};
use crate::testing;
use crate::time::{Time, WallClock};
use crate::uri::{Uri, UserUri};
use crate::ConnId;

pub(crate) const DOMAIN: &str = "example.com";

/// A scripted terminal.
#[derive(Debug, Clone)]
pub(crate) struct Ua {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
    octet: u8,
    counter: u32,
}

impl Ua {
    pub(crate) fn new(name: &str, last_octet: u8, transport: Transport) -> Self {
        Self {
            name: name.to_owned(),
            addr: SocketAddr::from(([10, 0, 0, last_octet], 5060)),
            transport,
            octet: last_octet,
            counter: 0,
        }
    }

    pub(crate) fn flow(&self) -> Flow {
        Flow {
            transport: self.transport,
            // UDP terminals share the server's one socket; TCP ones get a connection each.
            conn: match self.transport {
                Transport::Udp => ConnId::new(1),
                Transport::Tcp | Transport::Tls => ConnId::new(100 + u64::from(self.octet)),
            },
            peer: self.addr,
        }
    }

    pub(crate) fn uri(&self) -> Uri {
        sip_uri(&self.name, DOMAIN)
    }

    pub(crate) fn user(&self) -> UserUri {
        UserUri::from_uri(&self.uri()).expect("sip uri with user")
    }

    pub(crate) fn contact(&self) -> NameAddr {
        testing::contact(&self.name, self.addr_v4())
    }

    fn addr_v4(&self) -> SocketAddrV4 {
        let SocketAddr::V4(v4) = self.addr else {
            unreachable!("harness terminals use IPv4")
        };
        v4
    }

    pub(crate) fn token(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{}-{what}-{}", self.name, self.counter)
    }

    fn via(&mut self) -> Via {
        let branch = self.token("br");
        testing::via(self.transport, self.addr_v4(), &branch)
    }

    /// An out-of-dialog request from this terminal.
    pub(crate) fn request(&mut self, method: Method, uri: Uri, to: Uri) -> Request {
        let sender = self.sender();
        testing::request(method, uri, to, sender)
    }

    /// This terminal as the sender of a new out-of-dialog request: a fresh tag,
    /// Call-ID and branch.
    pub(crate) fn sender(&mut self) -> testing::Sender {
        // Token order (tag, call, branch) keeps every identifier as it always was.
        let tag = Tag::new(self.token("tag"));
        let call_id = CallId::new(self.token("call"));
        testing::Sender::new(self.uri(), &tag, call_id, self.via(), self.contact())
    }

    /// A response from this terminal to a request it received; `tag` is its dialog tag.
    pub(crate) fn response(&self, req: &Request, status: StatusCode, tag: &Tag) -> Response {
        testing::response(req, status, Some(tag), self.contact())
    }

    /// An in-dialog request on a dialog this terminal holds.
    pub(crate) fn in_dialog(&mut self, d: &mut UaDialog, method: Method) -> Request {
        let via = self.via();
        testing::in_dialog(d, method, via)
    }

    /// The ACK for a 2xx on a dialog.
    pub(crate) fn ack(&mut self, d: &UaDialog, invite_cseq: u32) -> Request {
        testing::ack_2xx(d, invite_cseq, self.via())
    }
}

/// A terminal's view of a dialog (shared with the model and the end-to-end tests).
pub(crate) use crate::testing::Dialog as UaDialog;

pub(crate) use crate::testing::sip_uri;

/// How the pretend store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    /// Every Persist/Seal succeeds at once.
    Auto,
    /// Requests wait in `Harness::store_queue` until the test answers them.
    Manual,
}

/// The harness.
pub(crate) struct Harness {
    pub(crate) server: Server,
    pub(crate) now: Time,
    pub(crate) inboxes: BTreeMap<SocketAddr, VecDeque<SipMessage>>,
    pub(crate) store_mode: StoreMode,
    pub(crate) store_queue: VecDeque<(StoreTicket, String)>,
    /// Every durable record, in the order the store made them durable.
    pub(crate) stored: Vec<Record>,
    pub(crate) sealed: Vec<HistoryObject>,
    /// Every durable record with the length of `log` at the moment the store made it
    /// durable (for "durable before" order checks against log lines).
    pub(crate) stored_log: Vec<(usize, Record)>,
    /// Chat deliveries per recipient.
    pub(crate) delivered: BTreeMap<UserUri, Vec<StoredMessage>>,
    /// Chat results per sender: (message id, outcome).
    pub(crate) chat_results: BTreeMap<UserUri, Vec<(MessageId, ChatOutcome)>>,
    /// Every command, in order, as a short line (for order assertions).
    pub(crate) log: Vec<String>,
    /// Raw answers to undecodable input: (peer, bytes).
    pub(crate) raw: Vec<(SocketAddr, Vec<u8>)>,
    /// Outbound connections the server asked for.
    pub(crate) connects: Vec<(ConnId, SocketAddr)>,
    /// The transport of each `Connect`, in order.
    pub(crate) connect_transports: Vec<Transport>,
    /// The certificate name of each `Connect` (TLS-15), in order.
    pub(crate) connect_names: Vec<Option<String>>,
    /// The flow of every message the server sent, in order.
    pub(crate) sent_flows: Vec<crate::server::Flow>,
    /// MSRP connections the server opened (`MsrpConnect`).
    pub(crate) msrp_connects: Vec<(ConnId, SocketAddr)>,
    /// Whether each `MsrpConnect` asked for TLS, in order.
    pub(crate) msrp_connect_tls: Vec<bool>,
    /// MSRP bytes the server wrote, per connection, not yet read by the test.
    pub(crate) msrp_out: BTreeMap<ConnId, crate::wire::msrp::MsrpDecoder>,
    /// Connections the server closed.
    pub(crate) closed: Vec<ConnId>,
    /// Every `Event::SessionEnded`, in order.
    pub(crate) ended: Vec<crate::server::SessionEnd>,
    /// `KnownUser` and `DeferredDone` records, in order (answered ok at once).
    pub(crate) bookkeeping: Vec<Record>,
    /// Every group state version (GRP-20), in order (its ticket is unawaited:
    /// answered ok at once, which the core ignores).
    pub(crate) group_states: Vec<crate::server::GroupStateRecord>,
    /// Every `Event::MessageDeferred`'s (recipient, sender), in order.
    pub(crate) deferred_events: Vec<(UserUri, UserUri)>,
    /// Every `Event::BindingsChanged` (SCALE-4), in order.
    pub(crate) bindings_changed: Vec<(UserUri, Vec<crate::server::SharedBinding>)>,
    pending_records: BTreeMap<StoreTicket, PendingRecord>,
}

enum PendingRecord {
    Record(Record),
    Seal(HistoryObject),
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(Config::new(DOMAIN))
    }

    pub(crate) fn with_config(config: Config) -> Self {
        let mut server = Server::new(config);
        server.set_wall_clock(WallClock::from_unix_secs(1_795_694_400));
        Self {
            server,
            now: Time::from_ms(1_000),
            inboxes: BTreeMap::new(),
            store_mode: StoreMode::Auto,
            store_queue: VecDeque::new(),
            stored: Vec::new(),
            sealed: Vec::new(),
            stored_log: Vec::new(),
            delivered: BTreeMap::new(),
            chat_results: BTreeMap::new(),
            log: Vec::new(),
            raw: Vec::new(),
            connects: Vec::new(),
            connect_transports: Vec::new(),
            connect_names: Vec::new(),
            sent_flows: Vec::new(),
            msrp_connects: Vec::new(),
            msrp_connect_tls: Vec::new(),
            msrp_out: BTreeMap::new(),
            closed: Vec::new(),
            ended: Vec::new(),
            bookkeeping: Vec::new(),
            group_states: Vec::new(),
            deferred_events: Vec::new(),
            bindings_changed: Vec::new(),
            pending_records: BTreeMap::new(),
        }
    }

    /// Delivers a message from a terminal to the server and runs the server.
    pub(crate) fn send(&mut self, ua: &Ua, msg: impl Into<SipMessage>) {
        let msg = msg.into();
        self.log
            .push(format!("{} -> server: {}", ua.name, describe(&msg)));
        self.server.handle_message(self.now, ua.flow(), msg);
        self.drain();
    }

    /// Sends raw bytes from a terminal.
    pub(crate) fn send_bytes(&mut self, ua: &Ua, bytes: &[u8]) {
        self.server.handle_bytes(self.now, ua.flow(), bytes);
        self.drain();
    }

    pub(crate) fn chat(&mut self, from: &Ua, contribution: &ContributionId, id: &str, text: &str) {
        self.server.handle_chat(
            self.now,
            ChatSend {
                contribution_id: contribution.clone(),
                sender: from.user(),
                message_id: MessageId::new(id),
                content_type: "text/plain".into(),
                body: text.as_bytes().to_vec(),
            },
        );
        self.drain();
    }

    /// Moves virtual time and fires due timers.
    pub(crate) fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_ms(ms);
        self.server.handle_timeout(self.now);
        self.drain();
    }

    /// Answers the oldest waiting store request.
    pub(crate) fn store_answer(&mut self, ok: bool) {
        let (ticket, _) = self
            .store_queue
            .pop_front()
            .expect("a store request is waiting");
        self.answer_ticket(ticket, ok);
        self.drain();
    }

    /// Answers the waiting store request at `index` of `store_queue` (0 = oldest), so
    /// tests can answer out of order.
    pub(crate) fn store_answer_at(&mut self, index: usize, ok: bool) {
        let (ticket, _) = self
            .store_queue
            .remove(index)
            .expect("a store request is waiting at that index");
        self.answer_ticket(ticket, ok);
        self.drain();
    }

    fn answer_ticket(&mut self, ticket: StoreTicket, ok: bool) {
        if let Some(rec) = self.pending_records.remove(&ticket) {
            if ok {
                match rec {
                    PendingRecord::Record(r) => {
                        self.stored_log.push((self.log.len(), r.clone()));
                        self.stored.push(r);
                    }
                    PendingRecord::Seal(h) => self.sealed.push(h),
                }
            }
        }
        let result = if ok {
            Ok(())
        } else {
            Err(StoreError::Failed {
                reason: "disk full".into(),
            })
        };
        self.log.push(format!(
            "store -> server: {ticket} {}",
            if ok { "ok" } else { "failed" }
        ));
        self.server.handle_store_result(self.now, ticket, result);
    }

    /// Runs every command the server has queued.
    pub(crate) fn drain(&mut self) {
        while let Some(cmd) = self.server.poll_command() {
            self.carry_out(cmd);
        }
        while let Some(event) = self.server.poll_event() {
            match event {
                crate::server::Event::SessionEnded(end) => self.ended.push(end),
                crate::server::Event::MessageDeferred {
                    recipient, sender, ..
                } => self.deferred_events.push((recipient, sender)),
                crate::server::Event::BindingsChanged { aor, bindings } => {
                    self.bindings_changed.push((aor, bindings))
                }
                crate::server::Event::Dropped { .. }
                | crate::server::Event::SessionEstablished(_)
                | crate::server::Event::GroupCreated { .. }
                | crate::server::Event::SessionSealed(_)
                | crate::server::Event::SealFailed(_)
                | crate::server::Event::MsrpRefused { .. }
                | crate::server::Event::ConnectRefused { .. }
                | crate::server::Event::DeferredDropped { .. } => {}
            }
        }
    }

    fn carry_out(&mut self, cmd: Command) {
        match cmd {
            Command::Transmit { flow, message } => {
                self.log
                    .push(format!("server -> {}: {}", flow.peer, describe(&message)));
                self.sent_flows.push(flow);
                self.inboxes
                    .entry(flow.peer)
                    .or_default()
                    .push_back(Shared::unwrap_or_clone(message));
            }
            Command::TransmitRaw { flow, bytes } => {
                let text = String::from_utf8_lossy(&bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                self.log
                    .push(format!("server -> {} raw: {text}", flow.peer));
                self.raw.push((flow.peer, bytes));
            }
            Command::Connect {
                conn,
                peer,
                transport,
                server_name,
            } => {
                self.log.push(format!("connect {conn} {peer}"));
                self.connects.push((conn, peer));
                self.connect_transports.push(transport);
                self.connect_names.push(server_name);
            }
            Command::Close { conn } => {
                self.log.push(format!("close {conn}"));
                self.closed.push(conn);
            }
            Command::MsrpConnect { conn, peer, tls } => {
                self.msrp_connect_tls.push(tls);
                self.log.push(format!("msrp connect {conn} {peer}"));
                self.msrp_connects.push((conn, peer));
            }
            Command::MsrpSend { conn, bytes } => {
                let first = String::from_utf8_lossy(&bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                self.log.push(format!("msrp {conn}: {first}"));
                self.msrp_out.entry(conn).or_default().push(&bytes);
            }
            Command::Persist { ticket, record }
                if matches!(record, Record::KnownUser(_) | Record::DeferredDone(_)) =>
            {
                // The deferred queues' bookkeeping: kept apart and answered at once,
                // so the stored-record and store-queue checks of other tests stay
                // about the records they name.
                self.log.push(format!("bookkeep {ticket}"));
                self.bookkeeping.push(record);
                self.server.handle_store_result(self.now, ticket, Ok(()));
            }
            Command::Persist {
                ticket,
                record: Record::GroupState(g),
            } => {
                self.group_states.push(g);
                self.server.handle_store_result(self.now, ticket, Ok(()));
            }
            Command::Persist { ticket, record } => {
                self.log.push(format!("persist {ticket}"));
                self.pending_records
                    .insert(ticket, PendingRecord::Record(record));
                self.queue_store(ticket, "persist");
            }
            Command::SealSession { ticket, history } => {
                self.log.push(format!(
                    "seal {ticket} {}",
                    history.info.key.contribution_id
                ));
                self.pending_records
                    .insert(ticket, PendingRecord::Seal(history));
                self.queue_store(ticket, "seal");
            }
            Command::ChatDeliver { recipient, message } => {
                self.log
                    .push(format!("deliver {} to {recipient}", message.message_id));
                self.delivered.entry(recipient).or_default().push(message);
            }
            Command::ChatResult {
                sender,
                message_id,
                outcome,
                ..
            } => {
                self.log.push(format!("result {message_id} {outcome:?}"));
                self.chat_results
                    .entry(sender)
                    .or_default()
                    .push((message_id, outcome));
            }
        }
    }

    fn queue_store(&mut self, ticket: StoreTicket, what: &str) {
        match self.store_mode {
            StoreMode::Auto => self.answer_ticket(ticket, true),
            StoreMode::Manual => self.store_queue.push_back((ticket, what.to_owned())),
        }
    }

    /// The next message to `ua` that is not a 100 Trying.
    pub(crate) fn next(&mut self, ua: &Ua) -> Option<SipMessage> {
        let inbox = self.inboxes.entry(ua.addr).or_default();
        while let Some(msg) = inbox.pop_front() {
            if let SipMessage::Response(r) = &msg {
                if r.status == StatusCode::TRYING {
                    continue;
                }
            }
            return Some(msg);
        }
        None
    }

    pub(crate) fn expect_request(&mut self, ua: &Ua, method: Method) -> Request {
        match self.next(ua) {
            Some(SipMessage::Request(r)) if r.method == method => r,
            other => panic!(
                "{} expected a {method} request, got {other:?}\nlog:\n{}",
                ua.name,
                self.log.join("\n")
            ),
        }
    }

    pub(crate) fn expect_response(&mut self, ua: &Ua, status: StatusCode) -> Response {
        match self.next(ua) {
            Some(SipMessage::Response(r)) if r.status == status => r,
            other => panic!(
                "{} expected a {status} response, got {other:?}\nlog:\n{}",
                ua.name,
                self.log.join("\n")
            ),
        }
    }

    pub(crate) fn expect_nothing(&mut self, ua: &Ua) {
        if let Some(m) = self.next(ua) {
            panic!(
                "{} expected nothing, got {}\nlog:\n{}",
                ua.name,
                describe(&m),
                self.log.join("\n")
            );
        }
    }

    /// Registers a terminal and checks the 200.
    pub(crate) fn register(&mut self, ua: &mut Ua) {
        let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
        req.headers.expires = Some(3600);
        self.send(ua, req);
        let ok = self.expect_response(ua, StatusCode::OK);
        let contact = ua.contact().uri;
        assert!(
            ok.headers.contact.iter().any(|c| c.uri == contact),
            "REG-3: the 200 lists the new binding"
        );
    }

    /// Index of the first log line containing `needle`.
    pub(crate) fn log_index(&self, needle: &str) -> usize {
        self.log
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no log line contains {needle:?}; log:\n{}",
                    self.log.join("\n")
                )
            })
    }
}

/// The session info a stored record carries, if it is one (`find_map` over
/// `Harness::stored`).
pub(crate) fn stored_info(record: &crate::server::Record) -> Option<crate::record::SessionInfo> {
    record.session_info().cloned()
}

pub(crate) fn sip_uri_host(host: &str) -> Uri {
    testing::host_uri(host)
}

/// A one-line description of a message for the harness log.
pub(crate) fn describe(msg: &SipMessage) -> String {
    match msg {
        SipMessage::Request(r) => format!(
            "{} {} cseq={}",
            r.method, r.headers.call_id, r.headers.cseq.seq
        ),
        SipMessage::Response(r) => format!(
            "{} {} {}",
            r.status, r.headers.cseq.method, r.headers.call_id
        ),
    }
}

impl From<Request> for SipMessage {
    fn from(r: Request) -> Self {
        SipMessage::Request(r)
    }
}

impl From<Response> for SipMessage {
    fn from(r: Response) -> Self {
        SipMessage::Response(r)
    }
}

/// An MSRP offer as terminals send it.
pub(crate) fn msrp_sdp(host: &str, port: u16, session: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=message {port} TCP/MSRP *\r\n\
         a=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain message/imdn+xml\r\n\
         a=path:msrp://{host}:{port}/{session};tcp\r\na=setup:active\r\na=sendrecv\r\n"
    )
}

pub(crate) use crate::testing::with_sdp;

pub(crate) fn conversation(id: &str) -> ConversationId {
    ConversationId::new(id)
}
