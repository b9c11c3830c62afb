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
use super::timer::Timer;
use crate::ids::SessionId;
use crate::sip::{CSeq, Headers, Method, Request, Response, SipMessage};
use crate::time::Time;
use crate::uri::UserUri;

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
    /// A group INVITE to one participant.
    GroupInvite(SessionId, UserUri),
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
    request: Request,
    state: State,
    last_response: Option<Response>,
    retransmit_ms: u64,
    owner: Owner,
    /// The server CANCELled this INVITE (Timer C); its owner was already told.
    cancelled: bool,
}

impl Transaction {
    fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }
}

/// Every live transaction, client and server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Transactions {
    txs: BTreeMap<TxKey, Transaction>,
}

impl Transactions {
    /// Matches a received request (RFC 3261 §17.2.3) and absorbs retransmissions.
    pub(crate) fn receive_request(
        &mut self,
        now: Time,
        flow: Flow,
        req: &Request,
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
            if tx.state != State::Accepted {
                if let Some(resp) = &tx.last_response {
                    out.transmit(tx.flow, SipMessage::Response(resp.clone()));
                }
            }
            return ServerRx::Absorbed;
        }
        if req.method == Method::Ack {
            return ServerRx::AckFor2xx;
        }
        let tx = Transaction {
            flow,
            request: req.clone(),
            state: if req.method == Method::Invite {
                State::Proceeding
            } else {
                State::Initial
            },
            last_response: None,
            retransmit_ms: timers.t1_ms,
            owner: Owner::Nobody,
            cancelled: false,
        };
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
        self.txs.get(key).map(|tx| &tx.request)
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
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        if !matches!(tx.state, State::Initial | State::Proceeding) {
            return;
        }
        out.transmit(tx.flow, SipMessage::Response(resp.clone()));
        let status = resp.status;
        let reliable = tx.flow.transport.is_reliable();
        let invite = tx.is_invite();
        tx.last_response = Some(resp);
        if status.is_provisional() {
            tx.state = State::Proceeding;
            return;
        }
        // A finished transaction only absorbs retransmissions for a while (64·T1 on
        // UDP): it needs the headers, never the body again. A busy server holds tens
        // of thousands of these, so the bodies go now.
        tx.request.body = Vec::new();
        if invite && status.is_success() {
            // Accepted repeats nothing itself (the dialog repeats its 2xx).
            tx.last_response = None;
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
        out.transmit(flow, SipMessage::Request(req.clone()));
        if !flow.transport.is_reliable() {
            out.arm(Timer::Retransmit(key.clone()), now.plus_ms(timers.t1_ms));
        }
        out.arm(Timer::Timeout(key.clone()), now.plus_ms(timers.t64_ms()));
        let tx = Transaction {
            flow,
            request: req,
            state: State::Initial,
            last_response: None,
            retransmit_ms: timers.t1_ms,
            owner,
            cancelled: false,
        };
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
    /// owner and what it must see; `None` for a stray or absorbed response.
    pub(crate) fn receive_response(
        &mut self,
        now: Time,
        resp: &Response,
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
                return Some((tx.owner.clone(), ClientRx::Retransmitted2xx(resp.clone())));
            }
            State::Completed if tx.is_invite() && !status.is_success() => {
                // A retransmitted non-2xx final: repeat our ACK.
                let ack = ack_for_non2xx(&tx.request, resp);
                out.transmit(tx.flow, SipMessage::Request(ack));
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
            return Some((owner, ClientRx::Response(resp.clone())));
        }
        out.disarm(&Timer::Retransmit(key.clone()));
        out.disarm(&Timer::Timeout(key.clone()));
        // Finished: only headers are needed (for the ACK of a repeated non-2xx).
        tx.request.body = Vec::new();
        if tx.is_invite() && status.is_success() {
            tx.state = State::Accepted;
            out.arm(Timer::Linger(key.clone()), now.plus_ms(timers.t64_ms()));
        } else if tx.is_invite() {
            tx.state = State::Completed;
            let ack = ack_for_non2xx(&tx.request, resp);
            out.transmit(tx.flow, SipMessage::Request(ack));
            self.linger_or_drop(now, key, reliable, timers.t64_ms() / 2, out);
        } else {
            tx.state = State::Completed;
            self.linger_or_drop(now, key, reliable, timers.t4_ms, out);
        }
        Some((owner, ClientRx::Response(resp.clone())))
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
                    !key.server && matches!(tx.state, State::Initial | State::Proceeding);
                client_waiting.then_some((tx.owner, ClientRx::TimedOut))
            }
            Timer::Linger(key) => {
                self.txs.remove(key);
                None
            }
            Timer::Retransmit2xx(_)
            | Timer::ByeWait(_)
            | Timer::ReplacedBye(_)
            | Timer::BindingExpiry(..) => None,
        }
    }

    /// Timer C: an INVITE of ours that only rang is CANCELled (RFC 3261 §9.1); the
    /// transaction stays to ACK the 487 and is dropped 64·T1 later at the latest.
    fn ring_timeout(&mut self, now: Time, key: &TxKey, timers: &Timers, out: &mut Outbox) -> bool {
        let Some(tx) = self.txs.get_mut(key) else {
            return false;
        };
        if key.server || !tx.is_invite() || tx.state != State::Proceeding || tx.cancelled {
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
        let Some(tx) = self.txs.get(invite) else {
            return;
        };
        let req = &tx.request;
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
        let flow = tx.flow;
        self.send_request(now, flow, cancel, Owner::Nobody, timers, out);
    }

    fn retransmit(&mut self, now: Time, key: &TxKey, timers: &Timers, out: &mut Outbox) {
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let message = if key.server {
            // Timer G: only a Completed INVITE server transaction retransmits.
            match (&tx.state, &tx.last_response) {
                (State::Completed, Some(resp)) => SipMessage::Response(resp.clone()),
                _ => return,
            }
        } else if matches!(tx.state, State::Initial)
            || (!tx.is_invite() && tx.state == State::Proceeding)
        {
            SipMessage::Request(tx.request.clone())
        } else {
            return;
        };
        out.transmit(tx.flow, message);
        // Timer A doubles without bound; E and G are capped at T2 (§17.1.2.2, §17.2.1).
        let doubled = tx.retransmit_ms.saturating_mul(2);
        tx.retransmit_ms = if tx.is_invite() && !key.server {
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
