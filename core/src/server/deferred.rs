//! Deferred messaging (specs/deferred.md, DEF-1..DEF-10): a pager MESSAGE to a known
//! user with no registered device is stored with its queue entry, answered
//! `202 Accepted` once durable, and delivered when a device of the user registers:
//! the oldest waiting message first, to every device registered then (a parallel
//! fork of MESSAGE transactions), the next one once a device answered 2xx, until the
//! queue is empty or the message expires.
//!
//! The queue is state of its own (`deferred_queue.rs`); the store holds the durable
//! copy (`Record::Deferred`, removed by `Record::DeferredDone`), and the runtime
//! feeds it back after a restart ([`Server::restore_deferred`]) together with the
//! users who ever registered ([`Server::add_known_users`]). Expiry is one named
//! timer per message ([`Timer::DeferredExpiry`]), so no sweep ever runs on the
//! loop.
//!
//! What it is *not*: the store-and-forward session that feeds it the messages of a
//! chat session to an offline user (`deferred_session.rs`), the IMDN bodies the
//! server writes (`deferred_imdn.rs`), the push hook (the runtime's, on
//! [`Event::MessageDeferred`]).

use std::collections::BTreeSet;

use super::deferred_queue::{Flight, Waiting};
use super::output::ChatOutcome;
use super::refusal::{MsrpRefusal, Refusal};
use super::tickets::{DeferredAnswer, PendingDeferred};
use super::transaction::{ClientRx, Owner};
use super::{Command, Event, Server, TicketUse, Timer};
use crate::ids::{ConversationId, StoreTicket};

/// First number of the bookkeeping tickets (far above anything the ID generator's
/// counter reaches).
const BOOKKEEPING_TICKET_BASE: u64 = 1 << 62;
use crate::record::{DeferredDone, DeferredEnd, DeferredMessage, DeferredRecord, Record};
use crate::sip::{Request, Response, SipMessage, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire;
use crate::wire::uri::print_uri;

/// A message to a user with no device, as `pager.rs` (a pager MESSAGE) or
/// `deferred_session.rs` (a message of a store-and-forward session, as the pager
/// MESSAGE it will be delivered as) hands it over.
pub(crate) struct Incoming {
    /// Who hears the store's answer (the pager MESSAGE's transaction, the MSRP
    /// sender).
    pub(crate) answer: DeferredAnswer,
    /// The MESSAGE.
    pub(crate) req: Request,
    /// Its authenticated sender and its recipient.
    pub(crate) sender: UserUri,
    pub(crate) target: UserUri,
    /// The Conversation-ID it is filed under.
    pub(crate) conversation_id: ConversationId,
    /// Its history record (standalone message or disposition); `None` for a
    /// notification of the server's own (DEF-13).
    pub(crate) history: Option<Record>,
}

impl Server {
    /// Whether a MESSAGE to `user` (local, no device registered) may be deferred
    /// (DEF-1): deferral is on, and the user is configured, has a password, or
    /// registered once.
    pub(crate) fn deferral_open_to(&self, user: &UserUri) -> bool {
        if self.config.deferred.expiry_s == 0 {
            return false;
        }
        !self.config.users.is_empty()
            || self.deferred.known.contains(user)
            || self
                .config
                .auth
                .as_ref()
                .is_some_and(|a| a.passwords.contains_key(user.user_name()))
    }

    /// DEF-6: the refusal a new message of `size` bytes to `user` gets, if any.
    pub(crate) fn deferral_admission(&self, user: &UserUri, size: usize) -> Option<Refusal> {
        let caps = &self.config.deferred;
        let (count, bytes) = self
            .deferred
            .waiting(user)
            .fold((0usize, 0usize), |(n, b), w| {
                (n + 1, b + w.request.body.len())
            });
        (count >= caps.max_messages_per_user || bytes + size > caps.max_bytes_per_user)
            .then_some(Refusal::DeferredQueueFull)
    }

    /// A pager MESSAGE to a local user with no binding: deferred (stored, then 202)
    /// or refused with 480 (DEF-1, DEF-2, DEF-6).
    pub(crate) fn defer_message(&mut self, now: Time, incoming: Incoming) {
        let refusal = if !self.deferral_open_to(&incoming.target) {
            Some(Refusal::NotRegistered)
        } else {
            self.deferral_admission(&incoming.target, incoming.req.body.len())
        };
        if let Some(why) = refusal {
            return self.refuse_deferral(now, &incoming.answer, &incoming.req, why);
        }
        let Incoming {
            answer,
            mut req,
            sender,
            target,
            conversation_id,
            history,
        } = incoming;
        // The delivery carries the Conversation-ID the history is filed under.
        req.headers.conversation_id = Some(conversation_id);
        let expiry_s = self.config.deferred.expiry_s;
        self.deferred.next_seq += 1;
        let message = DeferredMessage {
            id: self.ids.uuid(),
            recipient: target.clone(),
            sender,
            seq: self.deferred.next_seq,
            expires_at_unix_s: self.wall_clock.unix_secs().saturating_add(expiry_s),
            request: wire::encode_message(&SipMessage::Request(req.clone())),
        };
        let id = message.id.clone();
        self.deferred
            .queues
            .entry(target.clone())
            .or_default()
            .push_back(Waiting {
                message: message.clone(),
                request: req,
                deadline: now.plus_ms(expiry_s.saturating_mul(1000)),
                durable: false,
            });
        let ticket = self.ticket(TicketUse::Deferred(Box::new(PendingDeferred {
            answer,
            recipient: target,
            id,
        })));
        self.out.command(Command::Persist {
            ticket,
            record: Record::Deferred(DeferredRecord {
                message,
                history: history.map(Box::new),
            }),
        });
    }

    /// The store answered a deferral: 202 and the expiry armed (DEF-2), or the
    /// sender's failure and the entry gone.
    pub(crate) fn on_deferred_stored(
        &mut self,
        now: Time,
        pending: PendingDeferred,
        answer: Result<(), Refusal>,
    ) {
        let PendingDeferred {
            answer: to,
            recipient,
            id,
        } = pending;
        if let Err(why) = answer {
            if let Some(gone) = self.deferred.remove(&recipient, &id) {
                self.refuse_deferral(now, &to, &gone.request, why);
            }
            return;
        }
        let Some(waiting) = self
            .deferred
            .queues
            .get_mut(&recipient)
            .and_then(|q| q.iter_mut().find(|w| w.message.id == id))
        else {
            return;
        };
        waiting.durable = true;
        let (deadline, request, sender) = (
            waiting.deadline,
            waiting.request.clone(),
            waiting.message.sender.clone(),
        );
        self.out
            .arm(Timer::DeferredExpiry(recipient.clone(), id), deadline);
        let in_session = match &to {
            DeferredAnswer::Sip(server_tx) => {
                let accepted = Response::to_request(&request, StatusCode::ACCEPTED);
                self.send_reply(now, server_tx, accepted);
                None
            }
            DeferredAnswer::Msrp(reply) => {
                self.msrp_answer(reply, ChatOutcome::Accepted);
                Some(reply.leg.clone())
            }
            DeferredAnswer::Nobody => None,
        };
        self.out.event(Event::MessageDeferred {
            recipient: recipient.clone(),
            sender: sender.clone(),
            conversation_id: request.headers.conversation_id.clone(),
            content_type: request
                .headers
                .content_type
                .as_ref()
                .map(wire::multipart::print_media_type)
                .unwrap_or_default(),
            body: request.body.clone(),
            in_session: in_session.is_some(),
        });
        self.notify_stored(now, &sender, &recipient, &request, in_session.as_ref());
        self.deliver_deferred(now, &recipient);
    }

    /// A deferral refused (DEF-1, DEF-6) or not made durable (DEF-2): the pager
    /// sender's final answer, or the MSRP sender's failure response.
    fn refuse_deferral(&mut self, now: Time, to: &DeferredAnswer, req: &Request, why: Refusal) {
        match to {
            DeferredAnswer::Sip(server_tx) => self.refuse_request(now, server_tx, req, why),
            DeferredAnswer::Msrp(reply) => {
                // The store's failures keep their MSRP codes (MSG-3, LIM-14); a full
                // queue is 413, RFC 4975's "stop sending" (DEF-6).
                let refusal = if why == Refusal::OverQuota {
                    MsrpRefusal::OverQuota
                } else if why == Refusal::StoreFailed {
                    MsrpRefusal::StoreFailed
                } else {
                    MsrpRefusal::DeferredQueueFull
                };
                self.msrp_answer_refusal(reply, refusal);
            }
            DeferredAnswer::Nobody => {}
        }
    }

    /// DEF-3, DEF-4: if `user` has a device (here, else through another node:
    /// SCALE-7) and a durable message waits, the oldest one goes to every device
    /// registered now; while it is in flight, a device
    /// that registers later gets it too (each device once per flight).
    pub(crate) fn deliver_deferred(&mut self, now: Time, user: &UserUri) {
        let Some(head) = self.deferred.waiting(user).next().filter(|w| w.durable) else {
            return;
        };
        let (id, request) = (head.message.id.clone(), head.request.clone());
        let mut flight = match self.deferred.flights.remove(user) {
            Some(f) if f.id == id => f,
            // A flight of another message: it has not ended yet (DEF-4).
            Some(other) => {
                self.deferred.flights.insert(user.clone(), other);
                return;
            }
            None => Flight {
                id: id.clone(),
                sent_to: BTreeSet::new(),
                outstanding: 0,
            },
        };
        let conversation_id = request
            .headers
            .conversation_id
            .clone()
            .unwrap_or_else(|| self.ids.conversation_id());
        let timers = self.config.timers;
        // SCALE-7: with no device here, the devices registered through another
        // node (over UDP from this node, as any request to them, SCALE-5).
        for b in self.reachable_bindings(now, user) {
            if !flight.sent_to.insert(print_uri(&b.contact.uri)) {
                continue;
            }
            let out_flow = self.reach(b.flow, Some(&b.contact.uri), b.flow.peer.ip());
            let relay =
                self.pager_relay(&request, out_flow, &b.contact.uri, conversation_id.clone());
            self.tx.send_request(
                now,
                out_flow,
                relay,
                Owner::Deferred(user.clone(), id.clone()),
                &timers,
                &mut self.out,
            );
            flight.outstanding += 1;
        }
        if flight.outstanding > 0 {
            self.deferred.flights.insert(user.clone(), flight);
        }
    }

    /// A device answered a deferred delivery (or never did): the first 2xx removes
    /// the message and starts the next (DEF-3, DEF-5); when every fork failed the
    /// message waits for the next registration.
    pub(crate) fn on_deferred_answer(&mut self, now: Time, user: &UserUri, id: &str, rx: ClientRx) {
        let status = match rx {
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) if r.status.is_provisional() => {
                return
            }
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) => r.status,
            ClientRx::TimedOut => StatusCode::REQUEST_TIMEOUT,
        };
        let current = self.deferred.flights.get(user).is_some_and(|f| f.id == id);
        if status.is_success() {
            if self.deferred.remove(user, id).is_some() {
                self.out
                    .disarm(&Timer::DeferredExpiry(user.clone(), id.to_owned()));
                self.deferred_done(id, DeferredEnd::Delivered);
            }
            if current {
                self.deferred.flights.remove(user);
                self.deliver_deferred(now, user);
            }
            return;
        }
        if let Some(flight) = self.deferred.flights.get_mut(user).filter(|_| current) {
            flight.outstanding = flight.outstanding.saturating_sub(1);
            if flight.outstanding == 0 {
                self.deferred.flights.remove(user);
            }
        }
    }

    /// DEF-7: the message's expiry passed before any device took it.
    pub(crate) fn on_deferred_expired(&mut self, now: Time, user: &UserUri, id: &str) {
        let Some(gone) = self.deferred.remove(user, id) else {
            return;
        };
        self.deferred_done(id, DeferredEnd::Expired);
        self.notify_expired(now, &gone.message.sender, user, &gone.request);
        if self.deferred.flights.get(user).is_some_and(|f| f.id == id) {
            self.deferred.flights.remove(user);
            self.deliver_deferred(now, user);
        }
    }

    /// A ticket for a record nothing waits for, numbered apart from the ID
    /// generator: a user's first REGISTER must not shift the IDs the server mints
    /// after it (recorded traces replay with the same IDs, `model/tests/replay.rs`).
    fn bookkeeping_ticket(&mut self) -> StoreTicket {
        self.deferred.bookkeeping_tickets += 1;
        let ticket = StoreTicket::new(BOOKKEEPING_TICKET_BASE + self.deferred.bookkeeping_tickets);
        self.tickets.insert(ticket, TicketUse::Bookkeeping);
        ticket
    }

    fn deferred_done(&mut self, id: &str, end: DeferredEnd) {
        let ticket = self.bookkeeping_ticket();
        self.out.command(Command::Persist {
            ticket,
            record: Record::DeferredDone(DeferredDone {
                id: id.to_owned(),
                end,
            }),
        });
    }

    /// A device of `user` registered: the user becomes known (stored once, DEF-1)
    /// and what waits for them is delivered (DEF-3).
    pub(crate) fn on_device_registered(&mut self, now: Time, user: &UserUri) {
        if self.deferred.known.insert(user.clone()) {
            let ticket = self.bookkeeping_ticket();
            self.out.command(Command::Persist {
                ticket,
                record: Record::KnownUser(user.clone()),
            });
        }
        self.deliver_deferred(now, user);
    }

    /// Input (at start-up, before any network input): users who registered in an
    /// earlier run (the store's `KnownUser` records), so deferral to them works
    /// after a restart (DEF-1).
    pub fn add_known_users(&mut self, users: impl IntoIterator<Item = UserUri>) {
        self.deferred.known.extend(users);
    }

    /// Input (at start-up, after [`Server::set_wall_clock`]): the deferred messages
    /// the store still holds (DEF-9). Each expires at its stored wall-clock time
    /// (at once when that has passed); one whose request no longer decodes is
    /// dropped with an event and removed from the store.
    pub fn restore_deferred(&mut self, now: Time, mut messages: Vec<DeferredMessage>) {
        messages.sort_by_key(|m| m.seq);
        let wall = self.wall_clock.unix_secs();
        for message in messages {
            self.deferred.next_seq = self.deferred.next_seq.max(message.seq);
            let request = match wire::decode_message(&message.request, &self.config.limits) {
                Ok(SipMessage::Request(r)) => r,
                Ok(SipMessage::Response(_)) | Err(_) => {
                    self.out.event(Event::DeferredDropped {
                        id: message.id.clone(),
                    });
                    self.deferred_done(&message.id, DeferredEnd::Expired);
                    continue;
                }
            };
            let left_s = message.expires_at_unix_s.saturating_sub(wall);
            let deadline = now.plus_ms(left_s.saturating_mul(1000));
            let user = message.recipient.clone();
            self.deferred.known.insert(user.clone());
            self.out.arm(
                Timer::DeferredExpiry(user.clone(), message.id.clone()),
                deadline,
            );
            self.deferred
                .queues
                .entry(user)
                .or_default()
                .push_back(Waiting {
                    message,
                    request,
                    deadline,
                    durable: true,
                });
        }
    }

    /// Ids of the deferred messages waiting for `user`, oldest first.
    pub fn deferred_for(&self, user: &UserUri) -> Vec<String> {
        self.deferred.ids_for(user)
    }

    /// Whether a deferred message is waiting for `user` with this id.
    pub fn is_deferred(&self, user: &UserUri, id: &str) -> bool {
        self.deferred.find(user, id).is_some()
    }
}
