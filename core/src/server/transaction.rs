//! The RFC 3261 §17 transaction layer, with RFC 6026's Accepted state.
//!
//! Server transactions absorb retransmitted requests and repeat their last response,
//! so a retransmission never reaches the transaction user twice (ONE-7; the RFC 6026
//! bug class: a retransmitted INVITE after a 2xx must not start a second call).
//! Client transactions retransmit over UDP, time out with 408 semantics, and ACK
//! non-2xx final responses themselves. Over TCP no retransmission timer is armed
//! and completed transactions are forgotten at once (Timers I, J, K, D are zero).
//!
//! ```text
//! INVITE server:  Proceeding --1xx--> Proceeding --2xx--> Accepted --L--> gone
//!                            --3xx-6xx--> Completed --ACK--> Confirmed --I--> gone
//!                                         Completed --H--> gone (ACK never came)
//! INVITE client:  Calling --1xx--> Proceeding --2xx--> Accepted --M--> gone
//!                 Calling/Proceeding --3xx-6xx (send ACK)--> Completed --D--> gone
//!                 Calling --B--> gone (owner told: timeout)
//! non-INVITE:     Trying/Proceeding --final--> Completed --J/K--> gone; F: timeout
//! ```

use std::collections::BTreeMap;

use super::config::Timers;
use super::keys::{LegKey, TxKey};
use super::outbox::Outbox;
use super::output::Flow;
use super::received::Received;
use super::timer::Timer;
use crate::ids::SessionId;
use crate::shared::Shared;
use crate::sip::{CSeq, Headers, Method, Request, Response, SipMessage};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::{self, Limits};

/// Who is waiting for a client transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// The INVITE to one device (fork) of the callee of a 1-to-1 session.
    CalleeInvite(SessionId, LegKey),
    /// A BYE the server sent on a leg.
    Bye(SessionId, LegKey),
    /// An in-dialog request relayed from the other leg's server transaction.
    Relay(TxKey),
    /// A pager-mode MESSAGE relayed for the sender's server transaction.
    Pager(TxKey),
    /// A deferred message (recipient, queue id) delivered to one device.
    Deferred(UserUri, String),
    /// A group INVITE to one device (fork) of one participant (GRP-31).
    GroupInvite(SessionId, UserUri, LegKey),
    /// A request whose answer nobody needs (CANCEL).
    Nobody,
}

/// What a client transaction tells its owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientRx {
    /// A provisional or the first final response.
    Response(Response),
    /// A retransmitted 2xx to an INVITE: the owner must repeat its ACK.
    Retransmitted2xx(Response),
    /// Timer B/F fired: no final response came.
    TimedOut,
}

/// What a received request means for the transaction user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerRx {
    /// A new transaction: the TU must answer it through [`Transactions::respond`].
    New(TxKey),
    /// A retransmission, or an ACK for a non-2xx: handled here.
    Absorbed,
    /// An ACK matching no transaction: the ACK for a 2xx, which belongs to the dialog.
    AckFor2xx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum State {
    /// Client INVITE before any response; server non-INVITE before any response.
    Initial,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Transaction {
    flow: Flow,
    invite: bool,
    /// The request (always a [`SipMessage::Request`]), while the transaction is
    /// unfinished: a client one retransmits and CANCELs it, the TU answers a server
    /// one from it. Dropped at the final response. Shared, as is the response: a
    /// client transaction's is the message it transmitted (not a copy), and the
    /// table's B-tree moves its values around on every insert, where a parsed
    /// message inline would be large.
    request: Option<Shared<SipMessage>>,
    state: State,
    /// The provisional response of an unfinished server transaction, repeated for a
    /// retransmitted request (the message transmitted).
    last_response: Option<Shared<SipMessage>>,
    /// What a finished transaction repeats, encoded: the final response of a server
    /// transaction (not after a 2xx to an INVITE: the dialog repeats that), the ACK of
    /// an INVITE client transaction's non-2xx. A busy server holds tens of thousands
    /// of finished transactions lingering 64·T1, so they keep these bytes and the key,
    /// not the parsed messages (specs/limits.md, LIM-16).
    repeat: Option<Box<[u8]>>,
    retransmit_ms: u64,
    owner: Owner,
    /// The server CANCELled this INVITE (Timer C); its owner was already told.
    cancelled: bool,
}

impl Transaction {
    /// `request` must be a [`SipMessage::Request`].
    fn new(
        flow: Flow,
        request: Shared<SipMessage>,
        state: State,
        timers: &Timers,
        owner: Owner,
    ) -> Self {
        let invite = matches!(&*request, SipMessage::Request(r) if r.method == Method::Invite);
        Self {
            flow,
            invite,
            request: Some(request),
            state,
            last_response: None,
            repeat: None,
            retransmit_ms: timers.t1_ms,
            owner,
            cancelled: false,
        }
    }

    fn is_invite(&self) -> bool {
        self.invite
    }

    /// The request, while the transaction keeps it.
    fn request(&self) -> Option<&Request> {
        match self.request.as_deref()? {
            SipMessage::Request(r) => Some(r),
            SipMessage::Response(_) => None,
        }
    }

    /// Finished: keeps `repeat` (encoded) for retransmissions, forgets the rest.
    fn finish(&mut self, repeat: Option<&SipMessage>) {
        self.request = None;
        self.last_response = None;
        self.repeat = repeat.map(|m| wire::encode_message(m).into_boxed_slice());
    }

    /// What the transaction repeats: decoded again from its own encoding, which only
    /// happens when a peer retransmits or Timer G fires (rare, unlike lingering).
    fn repeated(&self) -> Option<SipMessage> {
        let bytes = self.repeat.as_deref()?;
        wire::decode_datagram(bytes, &Limits::default()).ok()
    }

    /// Bytes this transaction keeps on the heap (B-tree node slack aside): its table
    /// entry and key, its request while unfinished (roughly: the encoded size), its
    /// repeat, and the two entries of the one timer a finished transaction has armed.
    fn retained_bytes(&self, key: &TxKey) -> usize {
        let request = self
            .request
            .as_ref()
            .map_or(0, |r| wire::encode_message(r).len());
        let response = self
            .last_response
            .as_ref()
            .map_or(0, |r| wire::encode_message(r).len());
        std::mem::size_of::<Self>()
            + std::mem::size_of::<TxKey>()
            + 2 * (std::mem::size_of::<Timer>() + std::mem::size_of::<Time>())
            + request
            + response
            + self.repeat.as_ref().map_or(0, |r| r.len())
            + key.retained_bytes()
    }
}

/// How many transactions are finished and lingering, and what they keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LingerStats {
    /// Finished transactions still in the table (absorbing retransmissions).
    pub lingering: usize,
    /// Bytes they keep: each one's table entry, key and encoded repeat.
    pub bytes: usize,
    /// Unfinished transactions.
    pub pending: usize,
}

/// Every live transaction, client and server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Transactions {
    txs: BTreeMap<TxKey, Transaction>,
}

impl Transactions {
    /// How many transactions (server and client) the table holds (LIM-11).
    pub(crate) fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether `req` matches a server transaction already in the table (a
    /// retransmission, which adds no entry).
    pub(crate) fn knows_request(&self, req: &Request) -> bool {
        self.txs.contains_key(&TxKey::for_server(req))
    }

    /// Matches a received request (RFC 3261 §17.2.3) and absorbs retransmissions.
    pub(crate) fn receive_request(
        &mut self,
        now: Time,
        flow: Flow,
        req: &Received,
        timers: &Timers,
        out: &mut Outbox,
    ) -> ServerRx {
        let key = TxKey::for_server(req);
        if let Some(tx) = self.txs.get_mut(&key) {
            if req.method == Method::Ack {
                return ack_in_server_tx(&key, tx, now, timers, out);
            }
            // A retransmitted request: repeat the last response, if any (RFC 6026
            // Accepted: the 2xx is repeated by the dialog's own timer, not here).
            match tx.state {
                State::Initial | State::Proceeding => {
                    if let Some(resp) = &tx.last_response {
                        out.transmit_shared(tx.flow, resp.clone());
                    }
                }
                State::Completed | State::Confirmed => {
                    if let Some(message) = tx.repeated() {
                        out.transmit(tx.flow, message);
                    }
                }
                State::Accepted => {}
            }
            return ServerRx::Absorbed;
        }
        if req.method == Method::Ack {
            return ServerRx::AckFor2xx;
        }
        let state = if req.method == Method::Invite {
            State::Proceeding
        } else {
            State::Initial
        };
        // The very request the handler gets (shared), not a copy of it.
        let tx = Transaction::new(flow, req.message().clone(), state, timers, Owner::Nobody);
        self.txs.insert(key.clone(), tx);
        if req.method == Method::Invite {
            // §17.2.1: answer 100 at once so the client stops retransmitting.
            let trying = Response::to_request(req, crate::sip::StatusCode::TRYING);
            self.respond(now, &key, trying, timers, out);
        }
        ServerRx::New(key)
    }

    /// Forgets a server transaction (only for `Mutation::NoRetransmissionAbsorb`).
    pub(crate) fn forget_server(&mut self, req: &Request) {
        self.txs.remove(&TxKey::for_server(req));
    }

    /// Whether a server transaction is still waiting for its final response.
    pub(crate) fn is_pending(&self, key: &TxKey) -> bool {
        self.txs
            .get(key)
            .is_some_and(|tx| matches!(tx.state, State::Initial | State::Proceeding))
    }

    /// The request that created a transaction.
    pub(crate) fn request(&self, key: &TxKey) -> Option<&Request> {
        self.txs.get(key).and_then(Transaction::request)
    }

    /// Whether the table holds `key` (finished or not).
    #[cfg(test)]
    fn contains(&self, key: &TxKey) -> bool {
        self.txs.contains_key(key)
    }

    /// The finished transactions lingering and the bytes they keep, and how many are
    /// unfinished (the figure `bench/calls.sh` reports, LIM-16).
    pub(crate) fn linger_stats(&self) -> LingerStats {
        let mut stats = LingerStats::default();
        for (key, tx) in &self.txs {
            match tx.state {
                State::Initial | State::Proceeding => stats.pending += 1,
                State::Completed | State::Confirmed | State::Accepted => {
                    stats.lingering += 1;
                    stats.bytes += tx.retained_bytes(key);
                }
            }
        }
        stats
    }

    /// The flow of a transaction.
    pub(crate) fn flow(&self, key: &TxKey) -> Option<Flow> {
        self.txs.get(key).map(|tx| tx.flow)
    }

    /// Sends a response through a server transaction. A transaction that no longer
    /// exists (it timed out) swallows the response.
    pub(crate) fn respond(
        &mut self,
        now: Time,
        key: &TxKey,
        resp: Response,
        timers: &Timers,
        out: &mut Outbox,
    ) {
        self.respond_shared(
            now,
            key,
            Shared::new(SipMessage::Response(resp)),
            timers,
            out,
        );
    }

    /// [`Self::respond`] with a response the caller keeps too (a 2xx to an INVITE,
    /// which the dialog repeats). A request in `message` is ignored.
    pub(crate) fn respond_shared(
        &mut self,
        now: Time,
        key: &TxKey,
        message: Shared<SipMessage>,
        timers: &Timers,
        out: &mut Outbox,
    ) {
        let SipMessage::Response(resp) = &*message else {
            return;
        };
        let status = resp.status;
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        if !matches!(tx.state, State::Initial | State::Proceeding) {
            return;
        }
        let reliable = tx.flow.transport.is_reliable();
        let invite = tx.is_invite();
        if status.is_provisional() {
            out.transmit_shared(tx.flow, message.clone());
            tx.last_response = Some(message);
            tx.state = State::Proceeding;
            return;
        }
        // A finished transaction only absorbs retransmissions for a while (64·T1 on
        // UDP): it keeps the encoded response, never the request again. Accepted
        // repeats nothing itself (the dialog repeats its 2xx); over TCP nothing is
        // repeated.
        let keep = if invite {
            !status.is_success()
        } else {
            !reliable
        };
        tx.finish(keep.then_some(&*message));
        out.transmit_shared(tx.flow, message);
        if invite && status.is_success() {
            tx.state = State::Accepted;
            out.arm(Timer::Linger(key.clone()), now.plus_ms(timers.t64_ms()));
        } else if invite {
            tx.state = State::Completed;
            if !reliable {
                out.arm(Timer::Retransmit(key.clone()), now.plus_ms(timers.t1_ms));
            }
            out.arm(Timer::Timeout(key.clone()), now.plus_ms(timers.t64_ms()));
        } else {
            tx.state = State::Completed;
            if reliable {
                self.txs.remove(key);
            } else {
                out.arm(Timer::Linger(key.clone()), now.plus_ms(timers.t64_ms()));
            }
        }
    }

    /// Starts a client transaction and sends its request.
    pub(crate) fn send_request(
        &mut self,
        now: Time,
        flow: Flow,
        req: Request,
        owner: Owner,
        timers: &Timers,
        out: &mut Outbox,
    ) -> TxKey {
        let branch = req
            .headers
            .via
            .first()
            .and_then(|v| v.branch())
            .expect("the server puts a Via with a branch on every request it sends")
            .to_owned();
        let key = TxKey::for_client(&branch, &req.method);
        let message = Shared::new(SipMessage::Request(req));
        out.transmit_shared(flow, message.clone());
        if !flow.transport.is_reliable() {
            out.arm(Timer::Retransmit(key.clone()), now.plus_ms(timers.t1_ms));
        }
        out.arm(Timer::Timeout(key.clone()), now.plus_ms(timers.t64_ms()));
        let tx = Transaction::new(flow, message, State::Initial, timers, owner);
        self.txs.insert(key.clone(), tx);
        key
    }

    /// The flow the request a response answers went out on: `None` when the response
    /// matches no client transaction (RFC 3261 §17.1.3 branch and method).
    pub(crate) fn request_flow(&self, resp: &Response) -> Option<Flow> {
        let branch = resp.headers.via.first()?.branch()?;
        let key = TxKey::for_client(branch, &resp.headers.cseq.method);
        self.txs.get(&key).map(|tx| tx.flow)
    }

    /// Matches a response to its client transaction (RFC 3261 §17.1.3). Returns the
    /// owner and what it must see; `None` for a stray or absorbed response. Takes
    /// the response: the owner gets it as it is, not a copy.
    pub(crate) fn receive_response(
        &mut self,
        now: Time,
        resp: Response,
        timers: &Timers,
        out: &mut Outbox,
    ) -> Option<(Owner, ClientRx)> {
        let branch = resp.headers.via.first()?.branch()?;
        let key = TxKey::for_client(branch, &resp.headers.cseq.method);
        let tx = self.txs.get_mut(&key)?;
        let status = resp.status;
        let reliable = tx.flow.transport.is_reliable();
        match tx.state {
            State::Initial | State::Proceeding => {}
            State::Accepted if status.is_success() => {
                return Some((tx.owner.clone(), ClientRx::Retransmitted2xx(resp)));
            }
            State::Completed if tx.is_invite() && !status.is_success() => {
                // A retransmitted non-2xx final: repeat our ACK.
                if let Some(ack) = tx.repeated() {
                    out.transmit(tx.flow, ack);
                }
                return None;
            }
            State::Accepted | State::Completed | State::Confirmed => return None,
        }
        let owner = tx.owner.clone();
        if status.is_provisional() {
            tx.state = State::Proceeding;
            if tx.is_invite() {
                // Proceeding: no more retransmissions; Timer C replaces Timer B.
                out.disarm(&Timer::Retransmit(key.clone()));
                out.arm(Timer::Timeout(key.clone()), now.plus_ms(timers.timer_c_ms));
            }
            return Some((owner, ClientRx::Response(resp)));
        }
        out.disarm(&Timer::Retransmit(key.clone()));
        out.disarm(&Timer::Timeout(key.clone()));
        // Finished: only the ACK of a non-2xx is kept (encoded), for a repeated non-2xx.
        if tx.is_invite() && status.is_success() {
            tx.finish(None);
            tx.state = State::Accepted;
            out.arm(Timer::Linger(key.clone()), now.plus_ms(timers.t64_ms()));
        } else if tx.is_invite() {
            tx.state = State::Completed;
            let ack = tx
                .request()
                .map(|invite| SipMessage::Request(ack_for_non2xx(invite, &resp)));
            tx.finish(ack.as_ref().filter(|_| !reliable));
            if let Some(ack) = ack {
                out.transmit(tx.flow, ack);
            }
            self.linger_or_drop(now, key, reliable, timers.t64_ms() / 2, out);
        } else {
            tx.finish(None);
            tx.state = State::Completed;
            self.linger_or_drop(now, key, reliable, timers.t4_ms, out);
        }
        Some((owner, ClientRx::Response(resp)))
    }

    fn linger_or_drop(&mut self, now: Time, key: TxKey, reliable: bool, ms: u64, out: &mut Outbox) {
        if reliable {
            self.txs.remove(&key);
        } else {
            out.arm(Timer::Linger(key), now.plus_ms(ms));
        }
    }

    /// Fires a transaction timer. Returns the owner to tell when a client transaction
    /// timed out.
    pub(crate) fn on_timer(
        &mut self,
        now: Time,
        timer: &Timer,
        timers: &Timers,
        out: &mut Outbox,
    ) -> Option<(Owner, ClientRx)> {
        match timer {
            Timer::Retransmit(key) => {
                self.retransmit(now, key, timers, out);
                None
            }
            Timer::Timeout(key) => {
                if self.ring_timeout(now, key, timers, out) {
                    let owner = self.txs.get(key).map(|tx| tx.owner.clone())?;
                    return Some((owner, ClientRx::TimedOut));
                }
                let tx = self.txs.remove(key)?;
                if tx.cancelled {
                    return None;
                }
                out.disarm(&Timer::Retransmit(key.clone()));
                let client_waiting =
                    !key.is_server() && matches!(tx.state, State::Initial | State::Proceeding);
                client_waiting.then_some((tx.owner, ClientRx::TimedOut))
            }
            Timer::Linger(key) => {
                self.txs.remove(key);
                None
            }
            Timer::Retransmit2xx(_)
            | Timer::ByeWait(_)
            | Timer::ReplacedBye(_)
            | Timer::BindingExpiry(..)
            | Timer::HeldAnswer(_)
            | Timer::SubscriptionExpiry(_) => None,
            Timer::DeferredExpiry(..) => None,
        }
    }

    /// Timer C: an INVITE of ours that only rang is CANCELled (RFC 3261 §9.1); the
    /// transaction stays to ACK the 487 and is dropped 64·T1 later at the latest.
    fn ring_timeout(&mut self, now: Time, key: &TxKey, timers: &Timers, out: &mut Outbox) -> bool {
        let Some(tx) = self.txs.get_mut(key) else {
            return false;
        };
        if key.is_server() || !tx.is_invite() || tx.state != State::Proceeding || tx.cancelled {
            return false;
        }
        tx.cancelled = true;
        out.arm(Timer::Timeout(key.clone()), now.plus_ms(timers.t64_ms()));
        let key = key.clone();
        self.cancel(now, &key, timers, out);
        true
    }

    /// Sends a CANCEL for a pending INVITE client transaction (RFC 3261 §9.1: the
    /// INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via).
    pub(crate) fn cancel(&mut self, now: Time, invite: &TxKey, timers: &Timers, out: &mut Outbox) {
        let Some(req) = self.txs.get(invite).and_then(Transaction::request) else {
            return;
        };
        let flow = self.txs[invite].flow;
        let mut headers = Headers::new(
            req.headers.from.clone(),
            req.headers.to.clone(),
            req.headers.call_id.clone(),
            CSeq {
                seq: req.headers.cseq.seq,
                method: Method::Cancel,
            },
        );
        headers.via = req.headers.via.iter().take(1).cloned().collect();
        headers.route = req.headers.route.clone();
        headers.max_forwards = Some(70);
        let cancel = Request {
            method: Method::Cancel,
            uri: req.uri.clone(),
            headers,
            body: Vec::new(),
        };
        self.send_request(now, flow, cancel, Owner::Nobody, timers, out);
    }

    fn retransmit(&mut self, now: Time, key: &TxKey, timers: &Timers, out: &mut Outbox) {
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let message = if key.is_server() {
            // Timer G: only a Completed INVITE server transaction retransmits.
            match (tx.state, tx.repeated()) {
                (State::Completed, Some(resp)) => Shared::new(resp),
                _ => return,
            }
        } else if matches!(tx.state, State::Initial)
            || (!tx.is_invite() && tx.state == State::Proceeding)
        {
            match &tx.request {
                Some(req) => req.clone(),
                None => return,
            }
        } else {
            return;
        };
        out.transmit_shared(tx.flow, message);
        // Timer A doubles without bound; E and G are capped at T2 (§17.1.2.2, §17.2.1).
        let doubled = tx.retransmit_ms.saturating_mul(2);
        tx.retransmit_ms = if tx.is_invite() && !key.is_server() {
            doubled
        } else {
            doubled.min(timers.t2_ms)
        };
        out.arm(
            Timer::Retransmit(key.clone()),
            now.plus_ms(tx.retransmit_ms),
        );
    }
}

/// ACK received for an INVITE server transaction.
fn ack_in_server_tx(
    key: &TxKey,
    tx: &mut Transaction,
    now: Time,
    timers: &Timers,
    out: &mut Outbox,
) -> ServerRx {
    match tx.state {
        State::Completed => {
            tx.state = State::Confirmed;
            out.disarm(&Timer::Retransmit(key.clone()));
            out.disarm(&Timer::Timeout(key.clone()));
            let linger = if tx.flow.transport.is_reliable() {
                0
            } else {
                timers.t4_ms
            };
            out.arm(Timer::Linger(key.clone()), now.plus_ms(linger));
            ServerRx::Absorbed
        }
        // An ACK with the INVITE's branch after a 2xx: some clients reuse the branch;
        // it still acknowledges the 2xx, which is the dialog's business.
        State::Accepted => ServerRx::AckFor2xx,
        State::Initial | State::Proceeding | State::Confirmed => ServerRx::Absorbed,
    }
}

/// RFC 3261 §17.1.1.3: the ACK a client transaction sends for a non-2xx final response.
fn ack_for_non2xx(invite: &Request, resp: &Response) -> Request {
    let h = &invite.headers;
    let mut headers = Headers::new(
        h.from.clone(),
        resp.headers.to.clone(),
        h.call_id.clone(),
        CSeq {
            seq: h.cseq.seq,
            method: Method::Ack,
        },
    );
    headers.via = h.via.iter().take(1).cloned().collect();
    headers.route = h.route.clone();
    headers.max_forwards = Some(70);
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    //! The RFC 3261 §17 rules of this layer, one test per rule, driven by hand: the
    //! timers are fired by name at their armed deadline, as the runtime would.

    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

    use super::*;
    use crate::ids::{CallId, ConnId, Tag};
    use crate::server::output::Command;
    use crate::sip::StatusCode;
    use crate::testing;

    /// `receive_request` of a request as the server hands it over (shared).
    fn receive(
        txs: &mut Transactions,
        now: Time,
        flow: Flow,
        req: &Request,
        timers: &Timers,
        out: &mut Outbox,
    ) -> ServerRx {
        txs.receive_request(now, flow, &Received::new(req.clone()), timers, out)
    }
    use crate::Transport;

    const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5060);

    fn flow(transport: Transport) -> Flow {
        Flow {
            transport,
            conn: ConnId::new(1),
            peer: SocketAddr::V4(PEER),
        }
    }

    fn request(method: Method, transport: Transport, branch: &str) -> Request {
        let bob = testing::sip_uri("bob", "example.com");
        let sender = testing::Sender::new(
            testing::sip_uri("alice", "example.com"),
            &Tag::new("a-tag"),
            CallId::new("call-1"),
            testing::via(transport, PEER, branch),
            testing::contact("alice", PEER),
        );
        testing::request(method, bob.clone(), bob, sender)
    }

    /// The SIP messages queued for transmission since the last call, in order.
    fn sent(out: &mut Outbox) -> Vec<SipMessage> {
        out.commands
            .drain(..)
            .filter_map(|c| {
                if let Command::Transmit { message, .. } = c {
                    Some(Shared::unwrap_or_clone(message))
                } else {
                    None
                }
            })
            .collect()
    }

    fn statuses(out: &mut Outbox) -> Vec<u16> {
        sent(out)
            .into_iter()
            .map(|m| match m {
                SipMessage::Response(r) => r.status.get(),
                SipMessage::Request(r) => panic!("expected a response, sent {:?}", r.method),
            })
            .collect()
    }

    fn deadline(out: &Outbox, timer: &Timer) -> Option<u64> {
        out.armed()
            .find(|(t, _)| *t == timer)
            .map(|(_, at)| at.as_ms())
    }

    /// Fires `timer` at its deadline (removed from the table first, as `pop_due` does).
    fn fire(
        txs: &mut Transactions,
        out: &mut Outbox,
        timer: &Timer,
    ) -> (u64, Option<(Owner, ClientRx)>) {
        let at = deadline(out, timer).unwrap_or_else(|| panic!("{timer} is not armed"));
        out.disarm(timer);
        let told = txs.on_timer(Time::from_ms(at), timer, &Timers::default(), out);
        (at, told)
    }

    /// A server transaction for `method` over `transport`, already answered `status`.
    fn answered(
        method: Method,
        transport: Transport,
        status: StatusCode,
    ) -> (Transactions, Outbox, Request, TxKey) {
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(method, transport, "s1");
        let t = Timers::default();
        let ServerRx::New(key) = receive(&mut txs, Time::ZERO, flow(transport), &req, &t, &mut out)
        else {
            panic!("a first request starts a transaction");
        };
        let resp = Response::to_request(&req, status);
        txs.respond(Time::ZERO, &key, resp, &t, &mut out);
        (txs, out, req, key)
    }

    /// The server transaction keeps the very request the handler gets (shared, not
    /// a copy of it).
    #[test]
    fn a_server_transaction_shares_the_received_request() {
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = Received::new(request(Method::Invite, Transport::Udp, "s1"));
        let rx = txs.receive_request(
            Time::ZERO,
            flow(Transport::Udp),
            &req,
            &Timers::default(),
            &mut out,
        );
        let ServerRx::New(key) = rx else {
            panic!("expected a new transaction, got {rx:?}");
        };
        let kept = txs
            .request(&key)
            .expect("an unfinished transaction keeps it");
        assert!(std::ptr::eq(kept, &*req), "one request, not a copy");
    }

    /// A handler's own copy of a shared request leaves the transaction's as it was;
    /// a request nothing else holds is moved out, not copied.
    #[test]
    fn a_received_request_is_copied_only_while_shared() {
        let original = request(Method::Bye, Transport::Udp, "s1");
        assert_eq!(Received::new(original.clone()).into_request(), original);
        let shared = Received::new(original.clone());
        let kept = shared.clone();
        let mut copy = shared.into_request();
        copy.method = Method::Info;
        assert_eq!(*kept, original, "the holder's request is untouched");
    }

    #[test]
    fn invite_server_transaction_answers_100_at_once() {
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Udp, "s1");
        let rx = receive(
            &mut txs,
            Time::ZERO,
            flow(Transport::Udp),
            &req,
            &Timers::default(),
            &mut out,
        );
        let ServerRx::New(key) = rx else {
            panic!("expected a new transaction, got {rx:?}");
        };
        assert_eq!(statuses(&mut out), [100]);
        assert!(
            txs.is_pending(&key),
            "100 is provisional: the TU still answers"
        );
    }

    #[test]
    fn retransmitted_request_is_absorbed_and_answered_with_the_last_response() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Message, Transport::Udp, "s1");
        let f = flow(Transport::Udp);
        let ServerRx::New(key) = receive(&mut txs, Time::ZERO, f, &req, &t, &mut out) else {
            panic!("new transaction");
        };
        // Before any response: absorbed, nothing to repeat.
        let again = receive(&mut txs, Time::from_ms(500), f, &req, &t, &mut out);
        assert_eq!(again, ServerRx::Absorbed);
        assert!(sent(&mut out).is_empty());
        txs.respond(
            Time::from_ms(600),
            &key,
            Response::to_request(&req, StatusCode::OK),
            &t,
            &mut out,
        );
        assert_eq!(statuses(&mut out), [200]);
        // After it: the same response again, and the TU never sees the request.
        let again = receive(&mut txs, Time::from_ms(1000), f, &req, &t, &mut out);
        assert_eq!(again, ServerRx::Absorbed);
        assert_eq!(statuses(&mut out), [200]);
    }

    /// LIM-16: the lingering transaction keeps the encoded 200, not the BYE; a
    /// retransmitted BYE still gets exactly that 200.
    #[test]
    fn lim_16_a_finished_transaction_keeps_only_its_encoded_response() {
        let t = Timers::default();
        let (mut txs, mut out, req, _key) = answered(Method::Bye, Transport::Udp, StatusCode::OK);
        let first = sent(&mut out);
        let stats = txs.linger_stats();
        assert_eq!((stats.lingering, stats.pending), (1, 0));
        assert!(
            stats.bytes <= 1024,
            "a lingering BYE transaction keeps {} bytes",
            stats.bytes
        );
        let again = receive(
            &mut txs,
            Time::from_ms(900),
            flow(Transport::Udp),
            &req,
            &t,
            &mut out,
        );
        assert_eq!(again, ServerRx::Absorbed);
        assert_eq!(
            sent(&mut out),
            first,
            "the same 200, decoded from its bytes"
        );
    }

    #[test]
    fn a_second_final_response_is_swallowed() {
        let (mut txs, mut out, req, key) =
            answered(Method::Message, Transport::Udp, StatusCode::OK);
        assert!(!txs.is_pending(&key));
        out.commands.clear();
        let late = Response::to_request(&req, StatusCode::SERVER_INTERNAL_ERROR);
        txs.respond(Time::from_ms(1), &key, late, &Timers::default(), &mut out);
        assert!(sent(&mut out).is_empty());
    }

    #[test]
    fn non_invite_server_lingers_64_t1_over_udp_timer_j() {
        let (mut txs, mut out, req, key) =
            answered(Method::Message, Transport::Udp, StatusCode::OK);
        assert_eq!(deadline(&out, &Timer::Linger(key.clone())), Some(64 * 500));
        assert_eq!(
            deadline(&out, &Timer::Retransmit(key.clone())),
            None,
            "no Timer G for non-INVITE"
        );
        fire(&mut txs, &mut out, &Timer::Linger(key.clone()));
        assert!(!txs.contains(&key), "Timer J removes the transaction");
        let t = Timers::default();
        let rx = receive(
            &mut txs,
            Time::from_ms(40_000),
            flow(Transport::Udp),
            &req,
            &t,
            &mut out,
        );
        assert_eq!(
            rx,
            ServerRx::New(key),
            "after removal the request is new again"
        );
    }

    #[test]
    fn non_invite_server_over_tcp_is_forgotten_at_once() {
        let (txs, out, _req, key) = answered(Method::Message, Transport::Tcp, StatusCode::OK);
        assert!(!txs.contains(&key), "Timer J is zero over TCP");
        assert_eq!(out.armed().count(), 0, "no timer over a reliable transport");
    }

    #[test]
    fn invite_server_non_2xx_retransmits_timer_g_capped_at_t2_until_timer_h() {
        let (mut txs, mut out, _req, key) =
            answered(Method::Invite, Transport::Udp, StatusCode::BUSY_HERE);
        assert_eq!(statuses(&mut out), [100, 486]);
        assert_eq!(
            deadline(&out, &Timer::Timeout(key.clone())),
            Some(64 * 500),
            "Timer H"
        );
        let retransmit = Timer::Retransmit(key.clone());
        let mut fired_at = Vec::new();
        for _ in 0..6 {
            let (at, told) = fire(&mut txs, &mut out, &retransmit);
            assert_eq!(told, None);
            assert_eq!(
                statuses(&mut out),
                [486],
                "Timer G repeats the final response"
            );
            fired_at.push(at);
        }
        // T1, then doubling, capped at T2 = 4 s.
        assert_eq!(fired_at, [500, 1_500, 3_500, 7_500, 11_500, 15_500]);
        let (at, told) = fire(&mut txs, &mut out, &Timer::Timeout(key.clone()));
        assert_eq!(
            (at, told),
            (32_000, None),
            "a server transaction tells no owner"
        );
        assert!(!txs.contains(&key), "Timer H removes the transaction");
        assert_eq!(deadline(&out, &retransmit), None, "and stops Timer G");
    }

    #[test]
    fn ack_confirms_a_non_2xx_invite_server_transaction_timer_i() {
        let (mut txs, mut out, req, key) =
            answered(Method::Invite, Transport::Udp, StatusCode::BUSY_HERE);
        out.commands.clear();
        let t = Timers::default();
        let resp = Response::to_request(&req, StatusCode::BUSY_HERE);
        let ack = testing::ack_non_2xx(&req, &resp);
        let now = Time::from_ms(700);
        let rx = receive(&mut txs, now, flow(Transport::Udp), &ack, &t, &mut out);
        assert_eq!(
            rx,
            ServerRx::Absorbed,
            "the ACK of a non-2xx is the transaction's"
        );
        assert_eq!(
            deadline(&out, &Timer::Retransmit(key.clone())),
            None,
            "Timer G stops"
        );
        assert_eq!(
            deadline(&out, &Timer::Timeout(key.clone())),
            None,
            "Timer H stops"
        );
        assert_eq!(
            deadline(&out, &Timer::Linger(key.clone())),
            Some(700 + 5_000),
            "Timer I = T4"
        );
        // Confirmed: a repeated ACK is absorbed silently; a late INVITE retransmission
        // still gets the final response, never the TU.
        assert_eq!(
            receive(&mut txs, now, flow(Transport::Udp), &ack, &t, &mut out),
            ServerRx::Absorbed
        );
        assert!(sent(&mut out).is_empty());
        assert_eq!(
            receive(&mut txs, now, flow(Transport::Udp), &req, &t, &mut out),
            ServerRx::Absorbed
        );
        assert_eq!(statuses(&mut out), [486]);
        fire(&mut txs, &mut out, &Timer::Linger(key.clone()));
        assert!(!txs.contains(&key));
    }

    #[test]
    fn invite_server_2xx_is_accepted_repeated_by_nobody_and_its_ack_goes_to_the_dialog() {
        let (mut txs, mut out, req, key) = answered(Method::Invite, Transport::Udp, StatusCode::OK);
        assert_eq!(statuses(&mut out), [100, 200]);
        let t = Timers::default();
        assert_eq!(
            deadline(&out, &Timer::Linger(key.clone())),
            Some(64 * 500),
            "Timer L"
        );
        assert_eq!(
            deadline(&out, &Timer::Retransmit(key.clone())),
            None,
            "the dialog repeats 2xx"
        );
        // RFC 6026: a retransmitted INVITE is absorbed and never starts a second call.
        let rx = receive(
            &mut txs,
            Time::from_ms(500),
            flow(Transport::Udp),
            &req,
            &t,
            &mut out,
        );
        assert_eq!(rx, ServerRx::Absorbed);
        assert!(sent(&mut out).is_empty(), "Accepted repeats nothing itself");
        // The ACK of a 2xx belongs to the dialog, whether or not it reuses the branch.
        let resp = Response::to_request(&req, StatusCode::OK);
        let same_branch = testing::ack_non_2xx(&req, &resp);
        let rx = receive(
            &mut txs,
            Time::from_ms(600),
            flow(Transport::Udp),
            &same_branch,
            &t,
            &mut out,
        );
        assert_eq!(rx, ServerRx::AckFor2xx);
        let mut own = same_branch.clone();
        own.headers.via = vec![testing::via(Transport::Udp, PEER, "ack-own")];
        let rx = receive(
            &mut txs,
            Time::from_ms(600),
            flow(Transport::Udp),
            &own,
            &t,
            &mut out,
        );
        assert_eq!(rx, ServerRx::AckFor2xx);
        assert!(
            !txs.contains(&TxKey::for_server(&own)),
            "an ACK starts no transaction"
        );
    }

    #[test]
    fn invite_client_retransmits_timer_a_doubling_until_timer_b() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Udp, "c1");
        let owner = Owner::Pager(TxKey::for_server(&req));
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req.clone(),
            owner.clone(),
            &t,
            &mut out,
        );
        assert_eq!(sent(&mut out), [SipMessage::Request(req.clone())]);
        assert_eq!(
            deadline(&out, &Timer::Timeout(key.clone())),
            Some(64 * 500),
            "Timer B"
        );
        let mut fired_at = Vec::new();
        for _ in 0..5 {
            let (at, _) = fire(&mut txs, &mut out, &Timer::Retransmit(key.clone()));
            assert_eq!(sent(&mut out), [SipMessage::Request(req.clone())]);
            fired_at.push(at);
        }
        // Timer A doubles without the T2 cap.
        assert_eq!(fired_at, [500, 1_500, 3_500, 7_500, 15_500]);
        let (_, told) = fire(&mut txs, &mut out, &Timer::Timeout(key.clone()));
        assert_eq!(told, Some((owner, ClientRx::TimedOut)));
        assert!(!txs.contains(&key));
        assert_eq!(deadline(&out, &Timer::Retransmit(key)), None);
    }

    #[test]
    fn non_invite_client_retransmits_timer_e_capped_at_t2_until_timer_f() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Message, Transport::Udp, "c1");
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req,
            Owner::Nobody,
            &t,
            &mut out,
        );
        let fired_at: Vec<u64> = (0..6)
            .map(|_| fire(&mut txs, &mut out, &Timer::Retransmit(key.clone())).0)
            .collect();
        assert_eq!(fired_at, [500, 1_500, 3_500, 7_500, 11_500, 15_500]);
        assert_eq!(sent(&mut out).len(), 1 + 6);
        let (at, told) = fire(&mut txs, &mut out, &Timer::Timeout(key));
        assert_eq!(
            (at, told),
            (32_000, Some((Owner::Nobody, ClientRx::TimedOut))),
            "Timer F"
        );
    }

    #[test]
    fn client_over_tcp_arms_no_retransmission() {
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Tcp, "c1");
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Tcp),
            req,
            Owner::Nobody,
            &Timers::default(),
            &mut out,
        );
        let armed: Vec<Timer> = out.armed().map(|(t, _)| t.clone()).collect();
        assert_eq!(armed, [Timer::Timeout(key)]);
    }

    #[test]
    fn provisional_stops_invite_retransmission_and_timer_c_cancels() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Udp, "c1");
        let owner = Owner::Nobody;
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req.clone(),
            owner.clone(),
            &t,
            &mut out,
        );
        out.commands.clear();
        let ringing = Response::to_request(&req, StatusCode::RINGING);
        let told = txs.receive_response(Time::from_ms(100), ringing.clone(), &t, &mut out);
        assert_eq!(told, Some((owner.clone(), ClientRx::Response(ringing))));
        assert_eq!(
            deadline(&out, &Timer::Retransmit(key.clone())),
            None,
            "no Timer A once ringing"
        );
        assert_eq!(
            deadline(&out, &Timer::Timeout(key.clone())),
            Some(100 + 180_000),
            "Timer C"
        );
        let (at, told) = fire(&mut txs, &mut out, &Timer::Timeout(key.clone()));
        assert_eq!(told, Some((owner, ClientRx::TimedOut)));
        let sent = sent(&mut out);
        let [SipMessage::Request(cancel)] = sent.as_slice() else {
            panic!("Timer C sends one CANCEL, sent {sent:?}");
        };
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.uri, req.uri);
        assert_eq!(cancel.headers.cseq.seq, req.headers.cseq.seq);
        assert_eq!(
            cancel.headers.via,
            req.headers.via[..1],
            "RFC 3261 §9.1: the INVITE's top Via"
        );
        // The INVITE stays to ACK the 487, at most 64·T1 more; its owner is not told twice.
        assert!(txs.contains(&key));
        assert_eq!(
            deadline(&out, &Timer::Timeout(key.clone())),
            Some(at + 32_000)
        );
        let (_, told) = fire(&mut txs, &mut out, &Timer::Timeout(key.clone()));
        assert_eq!(told, None);
        assert!(!txs.contains(&key));
    }

    #[test]
    fn invite_client_acks_a_non_2xx_and_every_retransmission_of_it_timer_d() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Udp, "c1");
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req.clone(),
            Owner::Nobody,
            &t,
            &mut out,
        );
        out.commands.clear();
        let mut busy = Response::to_request(&req, StatusCode::BUSY_HERE);
        busy.headers.to.set_tag(&Tag::new("b-tag"));
        let told = txs.receive_response(Time::from_ms(100), busy.clone(), &t, &mut out);
        assert_eq!(
            told,
            Some((Owner::Nobody, ClientRx::Response(busy.clone())))
        );
        let expected_ack = SipMessage::Request(ack_for_non2xx(&req, &busy));
        let sent_now = sent(&mut out);
        let [SipMessage::Request(ack)] = sent_now.as_slice() else {
            panic!("expected one ACK, sent {sent_now:?}");
        };
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(
            ack.headers.cseq,
            CSeq {
                seq: req.headers.cseq.seq,
                method: Method::Ack
            }
        );
        assert_eq!(
            ack.headers.via, req.headers.via,
            "same branch: part of the INVITE transaction"
        );
        assert_eq!(
            ack.headers.to.tag(),
            Some(Tag::new("b-tag")),
            "To of the response"
        );
        assert_eq!(deadline(&out, &Timer::Retransmit(key.clone())), None);
        assert_eq!(
            deadline(&out, &Timer::Linger(key.clone())),
            Some(100 + 16_000),
            "Timer D = 32 s"
        );
        // The retransmitted final is ACKed again and not passed up.
        assert_eq!(
            txs.receive_response(Time::from_ms(200), busy.clone(), &t, &mut out),
            None
        );
        assert_eq!(sent(&mut out), [expected_ack]);
        fire(&mut txs, &mut out, &Timer::Linger(key));
        assert_eq!(
            txs.receive_response(Time::from_ms(20_000), busy.clone(), &t, &mut out),
            None
        );
        assert!(
            sent(&mut out).is_empty(),
            "after Timer D the response is stray"
        );
    }

    #[test]
    fn invite_client_passes_2xx_retransmissions_to_its_owner_timer_m() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Invite, Transport::Udp, "c1");
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req.clone(),
            Owner::Nobody,
            &t,
            &mut out,
        );
        out.commands.clear();
        let ok = Response::to_request(&req, StatusCode::OK);
        let first = txs.receive_response(Time::from_ms(100), ok.clone(), &t, &mut out);
        assert_eq!(first, Some((Owner::Nobody, ClientRx::Response(ok.clone()))));
        assert!(
            sent(&mut out).is_empty(),
            "the ACK of a 2xx is the owner's (a dialog request)"
        );
        let again = txs.receive_response(Time::from_ms(600), ok.clone(), &t, &mut out);
        assert_eq!(again, Some((Owner::Nobody, ClientRx::Retransmitted2xx(ok))));
        assert_eq!(
            deadline(&out, &Timer::Linger(key)),
            Some(100 + 32_000),
            "Timer M"
        );
    }

    #[test]
    fn non_invite_client_absorbs_repeated_finals_for_t4_timer_k() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Message, Transport::Udp, "c1");
        let key = txs.send_request(
            Time::ZERO,
            flow(Transport::Udp),
            req.clone(),
            Owner::Nobody,
            &t,
            &mut out,
        );
        let ok = Response::to_request(&req, StatusCode::OK);
        assert!(txs
            .receive_response(Time::from_ms(100), ok.clone(), &t, &mut out)
            .is_some());
        assert_eq!(
            txs.receive_response(Time::from_ms(200), ok.clone(), &t, &mut out),
            None
        );
        assert_eq!(
            deadline(&out, &Timer::Linger(key.clone())),
            Some(100 + 5_000),
            "Timer K = T4"
        );
        assert_eq!(deadline(&out, &Timer::Timeout(key)), None, "Timer F stops");
    }

    #[test]
    fn client_response_matches_on_branch_and_method_only() {
        let t = Timers::default();
        let mut txs = Transactions::default();
        let mut out = Outbox::default();
        let req = request(Method::Message, Transport::Tcp, "c1");
        txs.send_request(
            Time::ZERO,
            flow(Transport::Tcp),
            req.clone(),
            Owner::Nobody,
            &t,
            &mut out,
        );
        let mut other_branch = Response::to_request(&req, StatusCode::OK);
        other_branch.headers.via = vec![testing::via(Transport::Tcp, PEER, "c2")];
        assert_eq!(
            txs.receive_response(Time::ZERO, other_branch.clone(), &t, &mut out),
            None
        );
        let mut other_method = Response::to_request(&req, StatusCode::OK);
        other_method.headers.cseq.method = Method::Options;
        assert_eq!(
            txs.receive_response(Time::ZERO, other_method.clone(), &t, &mut out),
            None
        );
        let ok = Response::to_request(&req, StatusCode::OK);
        assert!(txs
            .receive_response(Time::ZERO, ok.clone(), &t, &mut out)
            .is_some());
        assert_eq!(
            txs.receive_response(Time::ZERO, ok.clone(), &t, &mut out),
            None,
            "gone at once over TCP (Timer K = 0)"
        );
    }
}
