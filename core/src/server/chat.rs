//! Chat messages on a session: numbering, `Persist`, and delivery strictly in
//! sequence order once durable (MSG-1..MSG-5, GRP-2).
//!
//! Messages arrive as typed [`ChatSend`] inputs or as complete MSRP messages
//! (`msrp_relay` makes a `ChatSend` of each, with an MSRP [`Origin`]). Each gets the
//! session's next sequence number and a `Persist`. The store may answer out of
//! order; delivery and acknowledgement still happen in sequence order: the head of
//! the queue waits for its answer. A typed message is delivered and answered with
//! the typed `ChatDeliver`/`ChatResult` commands; an MSRP one with MSRP SENDs to the
//! recipients' legs and an MSRP response/REPORT to its sender.

use super::chat_log::{ChatSend, HeldMessage, Origin, Pending};
use super::config::Mutation;
use super::keys::LegKey;
use super::output::{ChatFailure, ChatOutcome, Command};
use super::session::{ParticipantStatus, Session};
use super::{Server, TicketUse};
use crate::ids::{ContributionId, MessageId, SessionId, StoreTicket};
use crate::record::{Record, StoredMessage};
use crate::time::Time;
use crate::uri::UserUri;

impl Server {
    /// Input: a chat message from a party of a session.
    pub fn handle_chat(&mut self, now: Time, chat: ChatSend) {
        self.take_chat(now, chat, Origin::Typed);
    }

    /// A chat message from a party, typed or from MSRP.
    pub(crate) fn take_chat(&mut self, now: Time, chat: ChatSend, origin: Origin) {
        let composing = super::is_composing::is_composing(&chat.content_type, &chat.body);
        self.take_classified_chat(now, chat, origin, composing);
    }

    /// [`Server::take_chat`] for a message already known to be an is-composing
    /// indication or not (`composing`, MSG-7): the MSRP path decodes its CPIM once
    /// and says it (`msrp_relay::capture`).
    pub(crate) fn take_classified_chat(
        &mut self,
        now: Time,
        mut chat: ChatSend,
        origin: Origin,
        composing: bool,
    ) {
        let _ = now;
        let Some(&sid) = self.by_contribution.get(&chat.contribution_id) else {
            return self.chat_result(&chat, &origin, ChatOutcome::Failed(ChatFailure::NoSession));
        };
        let recipients = match self.chat_recipients(sid, &chat.sender) {
            // A group IMDN goes only to the original sender (specs/msrp.md).
            Ok(r) => match &origin {
                Origin::Msrp(reply) if reply.only_to.is_some() => r
                    .into_iter()
                    .filter(|u| reply.only_to.as_ref() == Some(u))
                    .collect(),
                Origin::Typed | Origin::Msrp(_) => r,
            },
            Err(failure) => return self.chat_result(&chat, &origin, ChatOutcome::Failed(failure)),
        };
        if self.one_to_one_path_unknown(sid, &recipients, &origin) {
            let failure = ChatOutcome::Failed(ChatFailure::RecipientGone);
            return self.chat_result(&chat, &origin, failure);
        }
        if composing {
            return self.relay_unstored(sid, &chat, recipients, &origin);
        }
        let into_group = match self.sessions.get(&sid) {
            Some(Session::One(one)) if self.config.mutation == Mutation::OneToOneIntoGroup => one
                .replaced_by
                .and_then(|gid| self.sessions.get(&gid))
                .map(|g| g.info().key.clone()),
            Some(_) | None => None,
        };
        // MSG-6: whether this (sender, message id) was taken on before, looked up
        // once; a new message (the usual case) skips the three repeat checks.
        let seen_before = match self.sessions.get(&sid) {
            Some(Session::One(one)) => one.chat.sent(&chat.sender, &chat.message_id),
            Some(Session::Group(group)) => group.chat.sent(&chat.sender, &chat.message_id),
            None => false,
        };
        if seen_before && self.held_repeat(sid, &chat, &origin) {
            return;
        }
        let Some(session) = self.sessions.get_mut(&sid) else {
            return self.chat_result(&chat, &origin, ChatOutcome::Failed(ChatFailure::NoSession));
        };
        let key = into_group.unwrap_or_else(|| session.info().key.clone());
        let log = session.chat_mut();
        if seen_before {
            if let Some(outcome) = log.repeat(&chat) {
                // MSG-6: a repeat is stored and delivered at most once.
                return self.chat_result(&chat, &origin, outcome);
            }
            if log.pending_repeat(&chat, &origin) {
                return;
            }
        }
        if let Some(failure) = super::caps::chat_admission(log, &self.config.caps) {
            return self.chat_result(&chat, &origin, ChatOutcome::Failed(failure));
        }
        log.next_seq += 1;
        let seq = log.next_seq;
        let message = StoredMessage {
            key,
            seq,
            sender: chat.sender.clone(),
            recipients,
            message_id: chat.message_id.clone(),
            // Moved, not copied: what follows reads only the sender and the ids.
            content_type: std::mem::take(&mut chat.content_type),
            body: std::mem::take(&mut chat.body),
        };
        // The origin is moved into the pending message; only the mutant that
        // acknowledges before the store needs it again below.
        let ack_now = (self.config.mutation == Mutation::AckBeforeStore).then(|| origin.clone());
        // BODIES-1: with bodies off the record keeps the metadata only (made
        // without copying the body, which only the pending message, for delivery,
        // keeps).
        let record = if self.config.store_messages {
            message.clone()
        } else {
            StoredMessage {
                key: message.key.clone(),
                seq: message.seq,
                sender: message.sender.clone(),
                recipients: message.recipients.clone(),
                message_id: message.message_id.clone(),
                content_type: message.content_type.clone(),
                body: Vec::new(),
            }
        };
        log.pending.insert(
            seq,
            Pending {
                message,
                contribution_id: chat.contribution_id.clone(),
                stored: None,
                origins: vec![origin],
            },
        );
        log.note_seen(&chat.sender, &chat.message_id, seq);
        let ticket = self.ticket(TicketUse::Message(sid, seq));
        self.out.command(Command::Persist {
            ticket,
            record: Record::Message(record),
        });
        if let Some(origin) = ack_now {
            self.chat_result(&chat, &origin, ChatOutcome::Accepted);
        }
    }

    /// MSG-4 and the sender check: who gets a message `sender` sends on `sid` now.
    fn chat_recipients(
        &self,
        sid: SessionId,
        sender: &UserUri,
    ) -> Result<Vec<UserUri>, ChatFailure> {
        let open = |leg: &super::keys::LegKey| self.legs.get(leg).is_some_and(|l| l.is_open());
        match self.sessions.get(&sid) {
            Some(Session::One(one)) => {
                let own = one.leg_of(sender).ok_or(ChatFailure::NotAParty)?;
                // MSG-4 first: whatever the sender's state, a closed recipient leg is
                // the reason the message cannot be carried.
                if !open(one.other_leg(own)) {
                    return Err(ChatFailure::RecipientGone);
                }
                if !open(own) {
                    return Err(ChatFailure::NotAParty);
                }
                let to = if *sender == one.caller {
                    &one.callee
                } else {
                    &one.caller
                };
                Ok(vec![to.clone()])
            }
            Some(Session::Group(group)) => {
                let me = group
                    .participants
                    .get(sender)
                    .ok_or(ChatFailure::NotAParty)?;
                let joined =
                    me.status == ParticipantStatus::Joined && me.leg.as_ref().is_some_and(open);
                if !joined {
                    return Err(ChatFailure::NotAParty);
                }
                Ok(group
                    .participants
                    .iter()
                    .filter(|(u, p)| {
                        let echo = self.config.mutation == Mutation::GroupEchoToSender;
                        (*u != sender || echo) && p.status == ParticipantStatus::Joined
                    })
                    .map(|(u, _)| u.clone())
                    .collect())
            }
            None => Err(ChatFailure::NoSession),
        }
    }

    /// The store answered a message's `Persist`: deliver what is now at the head.
    pub(crate) fn on_message_stored(
        &mut self,
        now: Time,
        sid: SessionId,
        seq: u64,
        answer: Result<(), ChatFailure>,
    ) {
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        if let Some(p) = session.chat_mut().pending.get_mut(seq) {
            p.stored = Some(answer);
        }
        if answer.is_ok() && self.config.mutation == Mutation::HistoryInStoreOrder {
            session.chat_mut().delivered.push(seq);
        }
        if self.config.mutation == Mutation::DeliverOnStore {
            if let Some(pending) = session.chat_mut().pending.remove(seq) {
                self.finish_message(sid, pending, answer);
            }
        }
        loop {
            let Some(session) = self.sessions.get_mut(&sid) else {
                return;
            };
            let Some((pending, answer)) = session.chat_mut().pending.pop_answered() else {
                break;
            };
            self.finish_message(sid, pending, answer);
        }
        self.after_chat_progress(now, sid);
    }

    fn finish_message(
        &mut self,
        sid: SessionId,
        pending: Pending,
        answer: Result<(), ChatFailure>,
    ) {
        let Pending {
            message,
            contribution_id,
            origins,
            ..
        } = pending;
        let by_msrp = matches!(origins.first(), Some(Origin::Msrp(_)));
        let outcome = match self.deliver(sid, &message, answer, by_msrp) {
            Delivery::Answer(outcome) => outcome,
            Delivery::Silent => return, // the SilentDropOnClosedLeg mutant answers nothing
            Delivery::Held(leg) => {
                // Answered when the recipient's leg is bound, or failed (msrp_held).
                let held = HeldMessage {
                    sid,
                    seq: message.seq,
                    contribution_id,
                    sender: message.sender,
                    message_id: message.message_id,
                    origins,
                };
                return self.hold_for_bind(&leg, held);
            }
        };
        if outcome == ChatOutcome::Accepted && self.config.mutation == Mutation::AckBeforeStore {
            return; // the mutant already acknowledged it
        }
        // The original and each repeat received while it waited get the same answer.
        for origin in &origins {
            self.answer_chat(
                &contribution_id,
                &message.sender,
                &message.message_id,
                origin,
                outcome,
            );
        }
    }

    /// Delivers a message whose store answer is in, to every recipient whose leg is
    /// still open (MSG-4), and says how its sender is answered.
    fn deliver(
        &mut self,
        sid: SessionId,
        message: &StoredMessage,
        answer: Result<(), ChatFailure>,
        by_msrp: bool,
    ) -> Delivery {
        if let Err(failure) = answer {
            // MSG-3 (the store failed) or LIM-14 (the sender is over its quota).
            return Delivery::Answer(ChatOutcome::Failed(failure));
        }
        let open: Vec<UserUri> = message
            .recipients
            .iter()
            .filter(|u| self.recipient_open(sid, u) && (!by_msrp || self.msrp_path_of(sid, u)))
            .cloned()
            .collect();
        // A 1-to-1 message whose recipient is gone fails (MSG-4); a group message is the
        // focus's to keep even if everyone else left meanwhile (group.md step 3).
        let group = matches!(self.sessions.get(&sid), Some(Session::Group(_)));
        if open.is_empty() && !message.recipients.is_empty() && !group {
            if self.config.mutation == Mutation::SilentDropOnClosedLeg {
                return Delivery::Silent;
            }
            return Delivery::Answer(ChatOutcome::Failed(ChatFailure::RecipientGone));
        }
        let mut held = None;
        for recipient in open {
            if by_msrp {
                let queued = self.msrp_deliver(sid, &recipient, message);
                // A 1-to-1 message is delivered when it is written out (msrp_held).
                if !group {
                    held = held.or(queued);
                }
            } else {
                self.out.command(Command::ChatDeliver {
                    recipient,
                    message: message.clone(),
                });
            }
        }
        if let Some(leg) = held {
            return Delivery::Held(leg);
        }
        if let Some(s) = self.sessions.get_mut(&sid) {
            if self.config.mutation != Mutation::HistoryInStoreOrder {
                s.chat_mut().delivered.push(message.seq);
            }
        }
        Delivery::Answer(ChatOutcome::Accepted)
    }

    /// The leg of `user` in session `sid`.
    pub(crate) fn leg_in(&self, sid: SessionId, user: &UserUri) -> Option<super::keys::LegKey> {
        match self.sessions.get(&sid) {
            Some(Session::One(one)) => one.leg_of(user).cloned(),
            Some(Session::Group(g)) => g.participants.get(user).and_then(|p| p.leg.clone()),
            None => None,
        }
    }

    /// MSG-4 for MSRP: the recipient's MSRP leg knows the terminal's `a=path` (a leg
    /// without MSRP media passes: it is delivered to typed).
    fn msrp_path_of(&self, sid: SessionId, user: &UserUri) -> bool {
        self.leg_in(sid, user)
            .is_some_and(|l| self.msrp_path_known(&l))
    }

    /// MSG-4: an MSRP message on a 1-to-1 whose recipient's MSRP path is unknown has
    /// nowhere to go: it fails before it is stored (in a group the others get it).
    fn one_to_one_path_unknown(
        &self,
        sid: SessionId,
        recipients: &[UserUri],
        origin: &Origin,
    ) -> bool {
        matches!(origin, Origin::Msrp(_))
            && matches!(self.sessions.get(&sid), Some(Session::One(_)))
            && recipients.iter().any(|u| !self.msrp_path_of(sid, u))
    }

    /// MSG-4: the recipient's leg is open (and, for MSRP, its queue has room: MSRP-9).
    pub(crate) fn recipient_open(&self, sid: SessionId, user: &UserUri) -> bool {
        self.leg_in(sid, user).is_some_and(|l| {
            self.legs.get(&l).is_some_and(|leg| leg.is_open()) && self.msrp_has_room(&l)
        })
    }

    fn chat_result(&mut self, chat: &ChatSend, origin: &Origin, outcome: ChatOutcome) {
        self.answer_chat(
            &chat.contribution_id,
            &chat.sender,
            &chat.message_id,
            origin,
            outcome,
        );
    }

    /// Answers the sender of a message the way it came.
    pub(crate) fn answer_chat(
        &mut self,
        contribution_id: &ContributionId,
        sender: &UserUri,
        message_id: &MessageId,
        origin: &Origin,
        outcome: ChatOutcome,
    ) {
        match origin {
            Origin::Typed => self.out.command(Command::ChatResult {
                contribution_id: contribution_id.clone(),
                sender: sender.clone(),
                message_id: message_id.clone(),
                outcome,
            }),
            Origin::Msrp(reply) => self.msrp_answer(reply, outcome),
        }
    }

    /// A fresh store ticket remembered for `usage`.
    pub(crate) fn ticket(&mut self, usage: TicketUse) -> StoreTicket {
        let ticket = StoreTicket::new(self.ids.next_ticket());
        self.tickets.insert(ticket, usage);
        ticket
    }
}

/// What became of a message whose store answer is in.
enum Delivery {
    /// Its sender is answered now.
    Answer(ChatOutcome),
    /// Queued on the recipient's unbound MSRP leg: answered at the bind (msrp_held).
    Held(LegKey),
    /// No answer at all (only the `SilentDropOnClosedLeg` mutant).
    Silent,
}
