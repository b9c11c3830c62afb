//! The state machine: one [`Server`] value owns registrations, transactions,
//! dialogs (legs), 1-to-1 sessions, group sessions and pending history.
//!
//! # Call order
//!
//! The driver (the runtime, a test harness, or the model checker) repeats:
//!
//! 1. feed one input: [`Server::handle_bytes`] / [`Server::handle_message`] (SIP),
//!    [`Server::handle_chat`] (a typed chat message), [`Server::handle_msrp_bytes`]
//!    (bytes read from an MSRP connection), [`Server::handle_store_result`] (the
//!    store's answer to a `Persist`/`SealSession`; for a group restart's info
//!    first [`Server::handle_group_restored`], the members the store read),
//!    [`Server::handle_timeout`] (time passed) or [`Server::expire`] (fire one
//!    named timer: the model's way),
//!    [`Server::handle_closed`] (a connection went away);
//! 2. drain [`Server::poll_command`] until `None` and carry out each command in order;
//!    optionally drain [`Server::poll_event`];
//! 3. sleep until [`Server::poll_timeout`], or the next input.
//!
//! Inputs return nothing and never fail on peer input: misbehaviour becomes a SIP
//! response or an event. All state is `Clone + Eq + Hash` and ordered (`BTreeMap`),
//! so the same value is the model checker's state.

mod auth;
mod caps;
mod caps_config;
mod chat;
mod chat_log;
mod conference_events;
mod config;
mod connect_policy;
mod connections;
mod deferred;
mod deferred_config;
mod deferred_imdn;
mod deferred_queue;
mod deferred_session;
mod extension;
mod failure_answers;
mod failures;
#[cfg(test)]
mod footprint;
#[cfg(test)]
pub(crate) use footprint::inline_sizes;
mod fork;
mod group;
mod group_fork;
mod group_late_answer;
mod group_refer;
mod group_rejoin;
mod group_restart;
mod group_state;
mod group_subject;
mod id_gen;
mod is_composing;
mod keys;
mod leg;
mod location;
mod memo;
mod msrp_held;
mod msrp_leg;
pub(crate) mod msrp_media;
mod msrp_relay;
mod nonces;
mod one_to_one;
mod outbox;
mod output;
mod packed;
mod pager;
mod received;
mod refer_list;
mod refusal;
mod registrar;
mod registration_caps;
mod remote_locations;
mod response_origin;
mod sender_identity;
mod session;
mod sips;
pub mod table_sizes;
mod termination;
mod tickets;
mod timer;
pub(crate) mod token;
mod transaction;
mod validate;

pub use caps_config::CoreCaps;
pub use chat_log::ChatSend;
pub use config::{
    AuthConfig, Config, ConfigError, DigestAlgorithm, MsrpConfig, Mutation, RegistrationCaps, Seed,
    Timers,
};
pub use connect_policy::{Cidr, CidrError, TrustConfig};
pub use deferred_config::DeferredConfig;
pub use failures::{FailurePolicy, Failures, LoginVerdict};
pub use id_gen::CORE_CONN_BASE;
pub use output::{
    ChatFailure, ChatOutcome, Command, Event, Flow, RemoteBinding, SessionEnd, SessionOutcome,
    SharedBinding, Transport,
};
// The records moved to `crate::record`; their `server::` paths stay valid.
pub use crate::record::{
    DeferredDone, DeferredEnd, DeferredMessage, DeferredRecord, Disposition, DispositionRecord,
    GroupStateRecord, HistoryObject, ParticipantRecord, Record, SessionInfo, SessionKey,
    SessionType, StandaloneMessage, StoredMessage,
};
pub use keys::{LegKey, TxKey};
pub use refusal::{MsrpRefusal, Refusal};
pub use timer::Timer;
pub use transaction::LingerStats as TransactionStats;

use std::collections::BTreeMap;

use self::id_gen::IdGen;
use self::leg::Leg;
use self::outbox::Outbox;
use self::received::Received;
use self::registrar::{RegisterOutcome, Registrar};
use self::session::Session;
use self::tickets::TicketUse;
use self::transaction::{ServerRx, Transactions};
use crate::ids::{ConnId, ContributionId, SessionId, StoreTicket};
use crate::shared::Shared;
use crate::sip::{Method, Request, Response, SipMessage, StatusCode};
use crate::time::{Time, WallClock};
use crate::uri::UserUri;
use crate::wire::{self, StreamDecoder};

/// The store did not make a record durable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StoreError {
    /// The store failed (MSG-3: the sender gets a failure).
    #[error("store failed: {reason}")]
    Failed {
        /// What the store said.
        reason: String,
    },
    /// The record's sender has used up its stored-bytes quota (specs/limits.md,
    /// LIM-14): nothing of the record was written; the sender gets MSRP 413 or SIP
    /// 403 naming the quota.
    #[error("over quota: {user}")]
    OverQuota {
        /// The sender.
        user: String,
    },
    /// A group restart (the session info of an ended group: specs/group.md,
    /// GRP-24) by a user who was not in that group: nothing was written; the
    /// restarting INVITE gets 403.
    #[error("not a party of the ended group: {user}")]
    NotAParty {
        /// The requester.
        user: String,
    },
    /// A group info whose ids name no ended group of this instance to restart
    /// (specs/group.md): it names no one and no ended group has these ids
    /// (GRP-40), or the ids are those of an ended session that is no group, a
    /// sealed 1-to-1's (GRP-41). Nothing was written; the INVITE gets 404.
    #[error("no ended group to restart: {contribution_id}")]
    NoEndedGroup {
        /// The INVITE's Contribution-ID.
        contribution_id: String,
    },
}

impl StoreError {
    /// A plain failure saying `reason`.
    pub fn failed(reason: impl Into<String>) -> Self {
        StoreError::Failed {
            reason: reason.into(),
        }
    }
}

/// Counters of input the server refused without answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// Messages dropped without an answer: undecodable ones, and responses from a
    /// flow other than their request's (SEC-2).
    pub dropped: u64,
}

/// The cpmd protocol core. See the module documentation for the call order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
///
/// The model checker clones and hashes this value once per explored state, so what
/// rarely changes sits behind [`Shared`] (copied on write, hashed once): a clone of an
/// unchanged part is a reference-count increment (model/README.md, "Throughput").
pub struct Server {
    config: Shared<Config>,
    ids: IdGen,
    out: Outbox,
    tx: Shared<Transactions>,
    registrar: Shared<Registrar>,
    legs: Shared<BTreeMap<LegKey, Shared<Leg>>>,
    sessions: Shared<BTreeMap<SessionId, Session>>,
    by_contribution: Shared<BTreeMap<ContributionId, SessionId>>,
    tickets: Shared<BTreeMap<StoreTicket, TicketUse>>,
    decoders: Shared<BTreeMap<ConnId, StreamDecoder>>,
    /// TCP connections known to be up (bytes arrived, or the core opened them).
    live_tcp: Shared<std::collections::BTreeSet<ConnId>>,
    nonces: Shared<nonces::Nonces>,
    /// Password failures per (user, source), source and user (SEC-4f).
    failures: Shared<failures::Failures>,
    /// Failing answers held until their delay passed (SEC-4f), by transaction.
    held: Shared<BTreeMap<TxKey, Response>>,
    /// The server's MSRP endpoints, one per leg with MSRP media (specs/msrp.md).
    msrp: Shared<msrp_media::MsrpState>,
    /// Pager MESSAGEs relayed to several devices, by the sender's transaction
    /// (PAGER-6).
    pager_forks: BTreeMap<TxKey, tickets::PagerFork>,
    /// Deferred pager messages per recipient, and who may get any (specs/deferred.md).
    deferred: deferred_queue::DeferredQueues,
    /// Other nodes' bindings (specs/scale-out.md, SCALE-5).
    remote: Shared<remote_locations::RemoteLocations>,
    wall_clock: WallClock,
    counters: Counters,
}

impl Server {
    /// A server with no registrations and no sessions.
    pub fn new(config: Config) -> Self {
        Self {
            ids: IdGen::new(config.seed),
            config: Shared::new(config),
            out: Outbox::default(),
            tx: Default::default(),
            registrar: Default::default(),
            legs: Default::default(),
            sessions: Default::default(),
            by_contribution: Default::default(),
            tickets: Default::default(),
            decoders: Default::default(),
            live_tcp: Default::default(),
            nonces: Default::default(),
            failures: Default::default(),
            held: Default::default(),
            msrp: Default::default(),
            pager_forks: BTreeMap::new(),
            deferred: Default::default(),
            remote: Default::default(),
            wall_clock: WallClock::default(),
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of refused input.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Input: the wall-clock time, used for the `Date` of stored sessions whose
    /// INVITE carried none. The runtime sets it once per wake-up.
    pub fn set_wall_clock(&mut self, now: WallClock) {
        self.wall_clock = now;
    }

    /// Input: bytes received on `flow`. Over UDP `bytes` is one datagram; over TCP it
    /// is whatever one read returned: the core frames the stream itself, keeping one
    /// decode buffer per connection.
    pub fn handle_bytes(&mut self, now: Time, flow: Flow, bytes: &[u8]) {
        match flow.transport {
            Transport::Udp => match wire::decode_datagram(bytes, &self.config.limits) {
                Ok(msg) => self.handle_message(now, flow, msg),
                Err(bad) => self.refuse(flow, bad),
            },
            Transport::Tcp | Transport::Tls => self.handle_stream(now, flow, bytes),
        }
    }

    fn handle_stream(&mut self, now: Time, flow: Flow, bytes: &[u8]) {
        self.tcp_alive(flow.conn);
        self.decoders.entry(flow.conn).or_default().push(bytes);
        loop {
            let Some(decoder) = self.decoders.get_mut(&flow.conn) else {
                return;
            };
            match decoder.next_frame(&self.config.limits) {
                None => return,
                Some(Ok(frame)) => match wire::decode_message(&frame, &self.config.limits) {
                    Ok(msg) => self.handle_message(now, flow, msg),
                    Err(bad) => self.refuse(flow, bad),
                },
                Some(Err(error)) => {
                    // The stream cannot be resynchronised: answer the request when it
                    // can be answered (CONF-3), say why, and close it.
                    let head = decoder.take_rejected();
                    if let Some(ctx) = wire::reply_context_of(&head) {
                        let bytes =
                            wire::encode_error_reply(&ctx, error.status(), &error.to_string());
                        self.out.command(Command::TransmitRaw { flow, bytes });
                    }
                    self.counters.dropped += 1;
                    self.out.event(Event::Dropped {
                        flow,
                        reason: error.to_string(),
                    });
                    self.decoders.remove(&flow.conn);
                    self.out.command(Command::Close { conn: flow.conn });
                    return;
                }
            }
        }
    }

    /// Answers (or drops) a message that did not decode (ONE-8).
    fn refuse(&mut self, flow: Flow, bad: wire::BadMessage) {
        match &bad.reply {
            Some(ctx) => {
                let bytes =
                    wire::encode_error_reply(ctx, bad.error.status(), &bad.error.to_string());
                self.out.command(Command::TransmitRaw { flow, bytes });
            }
            None => {
                self.counters.dropped += 1;
                self.out.event(Event::Dropped {
                    flow,
                    reason: bad.error.to_string(),
                });
            }
        }
    }

    /// Input: a decoded SIP message received on `flow` (tests and the model skip
    /// bytes and call this directly).
    pub fn handle_message(&mut self, now: Time, flow: Flow, message: SipMessage) {
        if flow.transport.is_reliable() {
            // A message arrived on it, so the connection is up (drivers that skip bytes
            // call this directly).
            self.tcp_alive(flow.conn);
        }
        if let SipMessage::Response(resp) = &message {
            if let Err(reason) = validate::check_response(resp) {
                self.counters.dropped += 1;
                return self.out.event(Event::Dropped { flow, reason });
            }
        }
        match message {
            SipMessage::Request(req) => self.on_request(now, flow, req),
            SipMessage::Response(resp) => {
                if self.response_from_elsewhere(&flow, &resp) {
                    return;
                }
                self.on_response(now, resp)
            }
        }
    }

    fn on_request(&mut self, now: Time, flow: Flow, mut req: Request) {
        stamp_via(&mut req, &flow);
        if self.transaction_table_full(&req) {
            return self.refuse_without_transaction(flow, &req);
        }
        if self.config.mutation == Mutation::NoRetransmissionAbsorb && req.method != Method::Ack {
            self.tx.forget_server(&req);
        }
        // One shared request for the transaction and the handler (no copy each).
        let req = Received::new(req);
        match self
            .tx
            .receive_request(now, flow, &req, &self.config.timers, &mut self.out)
        {
            ServerRx::Absorbed => {}
            ServerRx::AckFor2xx => self.on_ack(now, &req),
            ServerRx::New(key) => self.on_new_request(now, flow, key, req),
        }
    }

    fn on_new_request(&mut self, now: Time, flow: Flow, key: TxKey, req: Received) {
        if let Err(refusal) = validate::check(&req, &self.config) {
            return self.refuse_request(now, &key, &req, refusal);
        }
        if sips::insecure_hop(&req.uri, &flow) {
            return self.refuse_request(now, &key, &req, Refusal::SipsOverInsecureHop);
        }
        // GRP-10/11: SUBSCRIBE (in and out of its dialog) is the focus's own.
        let own_dialog = matches!(req.method, Method::Cancel | Method::Subscribe);
        if req.headers.to.tag().is_some() && !own_dialog {
            return self.on_in_dialog(now, flow, key, req);
        }
        match req.method {
            Method::Register => self.on_register(now, flow, key, req.into_request()),
            Method::Invite => self.on_invite(now, flow, key, req),
            Method::Cancel => self.on_cancel(now, key, req.into_request()),
            Method::Options => self.reply(now, &key, &req, StatusCode::OK),
            Method::Bye | Method::Update | Method::Info | Method::Prack | Method::Ack => {
                self.refuse_request(now, &key, &req, Refusal::NoDialog)
            }
            Method::Message => self.on_message(now, flow, key, req.into_request()),
            Method::Subscribe => self.on_subscribe(now, flow, key, req.into_request()),
            Method::Refer => self.on_refer(now, flow, key, req.into_request()),
            Method::Notify | Method::Publish => {
                self.refuse_request(now, &key, &req, Refusal::MethodNotAllowed)
            }
            Method::Other(_) => self.refuse_request(now, &key, &req, Refusal::UnknownMethod),
        }
    }

    fn on_response(&mut self, now: Time, resp: Response) {
        let timers = self.config.timers;
        if let Some((owner, rx)) = self.tx.receive_response(now, resp, &timers, &mut self.out) {
            self.on_client_rx(now, owner, rx);
        }
    }

    fn on_client_rx(&mut self, now: Time, owner: transaction::Owner, rx: transaction::ClientRx) {
        use transaction::Owner;
        match owner {
            Owner::CalleeInvite(sid, fork) => self.on_callee_answer(now, sid, &fork, rx),
            Owner::Bye(sid, leg) => self.on_bye_answer(now, sid, &leg, rx),
            Owner::Relay(server_tx) => self.on_relay_answer(now, &server_tx, rx),
            Owner::GroupInvite(gid, user, fork) => {
                self.on_group_invite_answer(now, gid, &user, &fork, rx)
            }
            Owner::Pager(server_tx) => self.on_pager_answer(now, &server_tx, rx),
            Owner::Deferred(user, id) => self.on_deferred_answer(now, &user, &id, rx),
            Owner::Nobody => {}
        }
    }

    fn on_register(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        let Some(aor) = UserUri::from_uri(&req.headers.to.uri) else {
            return self.refuse_request(now, &key, &req, Refusal::RegisterNotAUser);
        };
        if !self.is_local_user(&aor) {
            return self.refuse_request(now, &key, &req, Refusal::RegisterForeignUser);
        }
        if !self.register_allowed(now, &key, &req, &flow, &aor) {
            return;
        }
        if let Some(why) = self.registration_refusal(&aor, &req) {
            return self.refuse_request(now, &key, &req, why);
        }
        let timers = self.config.timers;
        match self
            .registrar
            .register(now, &aor, &req, flow, &timers, &mut self.out)
        {
            RegisterOutcome::Invalid => {
                self.refuse_request(now, &key, &req, Refusal::RegisterInvalid)
            }
            RegisterOutcome::Bindings(bindings) => {
                self.share_bindings(now, &aor);
                let bound = !bindings.is_empty();
                let mut resp = Response::to_request(&req, StatusCode::OK);
                self.add_to_tag(&mut resp);
                resp.headers.contact = bindings.into_iter().map(|(c, _)| c).collect();
                self.tx.respond(now, &key, resp, &timers, &mut self.out);
                if bound {
                    // DEF-3: after the 200, what waits for the user goes out.
                    self.on_device_registered(now, &aor);
                }
            }
        }
    }

    /// Whether `user` belongs to this server (its domain, and the configured user list
    /// when there is one).
    fn is_local_user(&self, user: &UserUri) -> bool {
        if !self.config.users.is_empty() {
            return self.config.users.contains(user);
        }
        user.as_str().starts_with("tel:")
            || user
                .as_str()
                .rsplit('@')
                .next()
                .is_some_and(|host| host.eq_ignore_ascii_case(&self.config.domain))
    }

    /// Answers a server transaction with a body-less response; dialog-creating
    /// requests get a To tag so the ACK of a failure matches.
    pub(crate) fn reply(&mut self, now: Time, key: &TxKey, req: &Request, status: StatusCode) {
        self.send_reply(now, key, Response::to_request(req, status));
    }

    /// [`Self::reply`] to the request the server transaction `key` holds, built from
    /// it where it lies (no copy of the whole request); nothing when it holds none.
    pub(crate) fn reply_to_tx(&mut self, now: Time, key: &TxKey, status: StatusCode) {
        if let Some(resp) = self
            .tx
            .request(key)
            .map(|req| Response::to_request(req, status))
        {
            self.send_reply(now, key, resp);
        }
    }

    /// Sends `resp` through the server transaction `key`: a To-tag on every answer but
    /// 100, `Allow` where RFC 3261 §20.5 wants it.
    pub(crate) fn send_reply(&mut self, now: Time, key: &TxKey, mut resp: Response) {
        let status = resp.status;
        if status != StatusCode::TRYING {
            self.add_to_tag(&mut resp);
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = crate::sip::allow_without(&resp.headers.cseq.method);
            resp.headers.other.push(("Allow".into(), allow));
        } else if status == StatusCode::OK || status == StatusCode::NOT_IMPLEMENTED {
            resp.headers
                .other
                .push(("Allow".into(), crate::sip::ALLOW.into()));
        }
        let timers = self.config.timers;
        self.tx.respond(now, key, resp, &timers, &mut self.out);
    }

    /// Refuses a request for `why`: a debug event names the rule, the answer carries
    /// its status.
    pub(crate) fn refuse_request(&mut self, now: Time, key: &TxKey, req: &Request, why: Refusal) {
        let mut resp = refusal_response(req, why);
        // LIM-11/12: a refusal for load says when to come back.
        resp.headers.other.extend(self.cap_headers(why));
        self.send_reply(now, key, resp);
    }

    /// The To-tag of an answer to a request outside any dialog: a fresh one for a
    /// 2xx (which may make a dialog), else the request's own keyed tag
    /// ([`IdGen::answer_tag`]), which takes no number of the server-wide counter.
    fn add_to_tag(&mut self, resp: &mut Response) {
        if resp.headers.to.tag().is_none() {
            let tag = if resp.status.is_success() {
                self.ids.tag()
            } else {
                self.ids.answer_tag(resp)
            };
            resp.headers.to.set_tag(&tag);
        }
    }

    /// Input: the store's answer to a `Persist` or `SealSession`.
    pub fn handle_store_result(
        &mut self,
        now: Time,
        ticket: StoreTicket,
        result: Result<(), StoreError>,
    ) {
        let Some(usage) = self.tickets.remove(&ticket) else {
            return;
        };
        let ok = result.is_ok();
        // LIM-14: a sender over its quota is told so; any other failure is MSG-3's.
        let over_quota = matches!(result, Err(StoreError::OverQuota { .. }));
        match usage {
            TicketUse::Message(sid, seq) => {
                let answer = match result {
                    Ok(()) => Ok(()),
                    Err(StoreError::OverQuota { .. }) => Err(ChatFailure::OverQuota),
                    Err(
                        StoreError::Failed { .. }
                        | StoreError::NotAParty { .. }
                        | StoreError::NoEndedGroup { .. },
                    ) => Err(ChatFailure::StoreFailed),
                };
                self.on_message_stored(now, sid, seq, answer)
            }
            TicketUse::GroupInfo(gid) => {
                // GRP-24: a restart by one who was not in the ended group.
                let answer = match result {
                    Ok(()) => Ok(()),
                    Err(StoreError::NotAParty { .. }) => Err(Refusal::NotAParty),
                    // GRP-40, GRP-41: no ended group under these ids to restart.
                    Err(StoreError::NoEndedGroup { .. }) => Err(Refusal::NoEndedGroup),
                    Err(StoreError::OverQuota { .. } | StoreError::Failed { .. }) => {
                        Err(Refusal::StoreFailed)
                    }
                };
                self.on_group_info_stored(now, gid, answer)
            }
            TicketUse::Seal(sid) => self.on_sealed(now, sid, ok),
            TicketUse::Pager(pending) => {
                let answer = match (ok, over_quota) {
                    (true, _) => Ok(()),
                    (false, true) => Err(Refusal::OverQuota),
                    (false, false) => Err(Refusal::StoreFailed),
                };
                self.on_pager_stored(now, *pending, answer)
            }
            TicketUse::Deferred(pending) => {
                let answer = match (ok, over_quota) {
                    (true, _) => Ok(()),
                    (false, true) => Err(Refusal::OverQuota),
                    (false, false) => Err(Refusal::StoreFailed),
                };
                self.on_deferred_stored(now, *pending, answer)
            }
            TicketUse::Disposition | TicketUse::Bookkeeping => {}
        }
    }

    /// Input: time passed; fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(timer) = self.out.pop_due(now) {
            self.fire(now, timer);
        }
    }

    /// Input (model checking): fire one armed timer now, whatever its deadline. Does
    /// nothing if the timer is not armed.
    pub fn expire(&mut self, now: Time, timer: &Timer) {
        if self.out.disarm(timer) {
            self.fire(now, timer.clone());
        }
    }

    /// Armed timers and their deadlines, in timer order.
    pub fn armed_timers(&self) -> impl Iterator<Item = (&Timer, Time)> + '_ {
        self.out.armed()
    }

    fn fire(&mut self, now: Time, timer: Timer) {
        match &timer {
            Timer::Retransmit(_) | Timer::Timeout(_) | Timer::Linger(_) => {
                let timers = self.config.timers;
                if let Some((owner, rx)) = self.tx.on_timer(now, &timer, &timers, &mut self.out) {
                    self.on_client_rx(now, owner, rx);
                }
            }
            Timer::Retransmit2xx(leg) => self.retransmit_2xx(now, leg),
            Timer::ByeWait(sid) => self.on_bye_wait_expired(now, *sid),
            Timer::ReplacedBye(sid) => self.on_replaced_bye_missing(now, *sid),
            Timer::BindingExpiry(aor, contact) => {
                self.registrar.expire(aor, contact);
                self.share_bindings(now, aor);
            }
            Timer::HeldAnswer(key) => self.release_held(now, key),
            Timer::SubscriptionExpiry(dialog) => self.on_subscription_expired(now, dialog),
            Timer::DeferredExpiry(user, id) => self.on_deferred_expired(now, user, id),
        }
    }

    /// Input: a connection closed (SIP or MSRP, or an `MsrpConnect` that failed).
    /// Its decode buffer is dropped; bindings over it stay until they expire (the
    /// terminal may reconnect and re-register); MSRP legs bound to it are unbound
    /// (messages for them wait until a connection is bound again, MSRP-9).
    pub fn handle_closed(&mut self, now: Time, conn: ConnId) {
        let _ = now;
        self.decoders.remove(&conn);
        self.live_tcp.remove(&conn);
        self.msrp_conn_gone(conn);
    }

    /// Output: the next command to carry out.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.commands.pop_front()
    }

    /// Output: the next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Whether a command or an event waits to be polled. Read-only: the model
    /// checker (which keeps the server behind a copy-on-write `Shared`) asks before
    /// polling, so that draining an empty outbox does not copy the server.
    #[must_use]
    pub fn has_output(&self) -> bool {
        !self.out.commands.is_empty() || !self.out.events.is_empty()
    }

    /// Output: when the next timer is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.out.next_deadline()
    }

    /// Number of live sessions (1-to-1 and group).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The transaction table: finished transactions lingering (and the bytes they
    /// keep) and unfinished ones (LIM-16).
    pub fn transaction_stats(&self) -> TransactionStats {
        self.tx.linger_stats()
    }

    /// Number of live legs (dialogs).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Live sessions by kind: (1-to-1, group). For the runtime's metrics gauges; walks
    /// the session table, so call it now and then, not per input.
    pub fn session_counts(&self) -> (usize, usize) {
        let groups = self
            .sessions
            .values()
            .filter(|s| matches!(s, Session::Group(_)))
            .count();
        (self.sessions.len() - groups, groups)
    }

    /// Number of registered contacts (bindings) of all users.
    pub fn binding_count(&self) -> usize {
        self.registrar.total()
    }
}

/// The answer refusing `req` for `why` (logged at debug level, naming the rule).
fn refusal_response(req: &Request, why: Refusal) -> Response {
    tracing::debug!(
        method = %req.method,
        call_id = %req.headers.call_id,
        status = %why.status(),
        reason = why.reason(),
        "request refused"
    );
    let mut resp = Response::to_request(req, why.status());
    if let Some(phrase) = why.phrase() {
        resp.reason = phrase.to_owned();
    }
    resp.headers
        .other
        .extend(validate::refusal_headers(why, req));
    resp
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: the server notes where a request really came
/// from in its top Via (`received`, and `rport` when the client asked for it), so
/// every response, which copies the Via, says so too. Responses are always sent back
/// to the source address and port (symmetric response routing), which NATed
/// clients rely on.
fn stamp_via(req: &mut Request, flow: &Flow) {
    let Some(via) = req.headers.via.first_mut() else {
        return;
    };
    let ip = flow.peer.ip();
    let host_is_source = match &via.host {
        crate::uri::Host::V4(a) => std::net::IpAddr::V4(*a) == ip,
        crate::uri::Host::V6(a) => std::net::IpAddr::V6(*a) == ip,
        crate::uri::Host::Name(_) => false,
    };
    // Printed inline (`CompactString`), not through `to_string`'s formatting
    // machinery and heap (`IpAddr`'s `Display` was ~1,300 instructions a call).
    let received = || {
        let mut text = compact_str::CompactString::default();
        crate::decimal::push_ip(&mut text, ip);
        text
    };
    if via.has_rport() {
        let mut port = compact_str::CompactString::default();
        crate::decimal::push_decimal(&mut port, u64::from(flow.peer.port()));
        via.set_param("rport", Some(port));
        via.set_param("received", Some(received()));
    } else if !host_is_source {
        via.set_param("received", Some(received()));
    }
}
