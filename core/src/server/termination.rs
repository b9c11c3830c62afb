//! The termination handshake of a 1-to-1 session and the construction of its
//! session history object (specs/termination.md TERM-1..TERM-6, specs/history.md).
//!
//! ```text
//! B ──BYE──▶ server            (B's leg closes; B's BYE transaction waits)
//!            server ──BYE──▶ A (once no Persist of the session is in flight: TERM-5)
//!            server ◀──200── A (or bye_wait expires: TERM-2)
//!            SealSession ──▶ store ──ok──▶ server ──200──▶ B   (HIST-5)
//! ```

use std::collections::BTreeSet;

use super::config::Mutation;
use super::keys::LegKey;
use super::leg::LegState;
use super::output::{Command, Event, SessionOutcome};
use super::received::Received;
use super::refusal::Refusal;
use super::session::{GroupState, OneState, ParticipantStatus, Sealing, Session};
use super::timer::Timer;
use super::transaction::{ClientRx, Owner};
use super::{Server, TicketUse, TxKey};
use crate::ids::SessionId;
use crate::record::{HistoryObject, ParticipantRecord};
use crate::sip::{Method, StatusCode};
use crate::time::Time;

impl Server {
    /// A BYE on a leg of session `sid`.
    pub(crate) fn on_bye(
        &mut self,
        now: Time,
        sid: SessionId,
        leg: &LegKey,
        key: TxKey,
        req: Received,
    ) {
        if let Some(l) = self.legs.get_mut(leg) {
            l.close();
            l.unacked_2xx = None;
        }
        self.out.disarm(&Timer::Retransmit2xx(leg.clone()));
        if self.config.mutation == Mutation::ReplacedByeLeavesGroup {
            self.replaced_bye_leaves_group(now, sid, leg);
        }
        let one = match self.sessions.get_mut(&sid) {
            Some(Session::One(one)) => one,
            Some(Session::Group(_)) => {
                return self.on_group_bye(now, sid, leg, key, req.into_request())
            }
            None => return self.refuse_request(now, &key, &req, Refusal::NoDialog),
        };
        match &mut one.state {
            OneState::Established => {
                let other = one.other_leg(leg).clone();
                one.terminate(Some(key), BTreeSet::from([other]));
                self.out.disarm(&Timer::ReplacedBye(sid));
                if self.config.mutation == Mutation::SealOnByeArrival {
                    return self.seal_one(now, sid);
                }
                self.relay_bye(now, sid);
            }
            OneState::Terminating(t) => {
                // BYE glare (TERM-4): the terminal ended its leg itself, which is as
                // good as an answer to ours; answer it now, do not relay it.
                t.awaiting.remove(leg);
                if self.config.mutation != Mutation::UnansweredGlareBye {
                    self.reply(now, &key, &req, StatusCode::OK);
                }
                self.maybe_seal(now, sid);
            }
            OneState::Sealing(_) => self.reply(now, &key, &req, StatusCode::OK),
            OneState::Calling(_) | OneState::Cancelling(_) => {
                // A BYE on an early dialog: the terminal gives up; answer and let the
                // INVITE transaction run out.
                self.reply(now, &key, &req, StatusCode::OK);
            }
        }
    }

    /// Sends the BYEs of a terminating session once no message of the session waits
    /// for the store (TERM-5), and arms `bye_wait` (TERM-2).
    fn relay_bye(&mut self, now: Time, sid: SessionId) {
        let Some(Session::One(one)) = self.sessions.get_mut(&sid) else {
            return;
        };
        if one.chat.has_pending() {
            return;
        }
        let OneState::Terminating(t) = &mut one.state else {
            return;
        };
        if t.relayed {
            return;
        }
        t.relayed = true;
        let targets: Vec<LegKey> = t.awaiting.iter().cloned().collect();
        for leg in &targets {
            self.send_bye(now, sid, leg);
        }
        let wait = if self.config.mutation == Mutation::ByeWaitAtTransactionTimeout {
            self.config.timers.t64_ms()
        } else {
            self.config.timers.bye_wait_ms
        };
        self.out.arm(Timer::ByeWait(sid), now.plus_ms(wait));
        self.maybe_seal(now, sid);
    }

    /// Sends a BYE on a leg; its answer comes back as `Owner::Bye`.
    pub(crate) fn send_bye(&mut self, now: Time, sid: SessionId, leg_key: &LegKey) {
        // Reopens the leg's connection if it closed (RFC 3261 §18.1.1); no leg, no BYE.
        if self.leg_flow(leg_key).is_none() {
            return;
        }
        let Some(leg) = self.legs.get_mut(leg_key) else {
            return;
        };
        if leg.state == LegState::Closed {
            return;
        }
        leg.start_closing();
        let bye = leg.request(Method::Bye, &self.config, &self.ids);
        let flow = leg.flow;
        let timers = self.config.timers;
        self.tx.send_request(
            now,
            flow,
            bye,
            Owner::Bye(sid, leg_key.clone()),
            &timers,
            &mut self.out,
        );
    }

    /// A terminal answered the server's BYE (any final answer, or none in time).
    pub(crate) fn on_bye_answer(&mut self, now: Time, sid: SessionId, leg: &LegKey, rx: ClientRx) {
        if let ClientRx::Response(r) = &rx {
            if r.status.is_provisional() {
                return;
            }
        }
        if let Some(l) = self.legs.get_mut(leg) {
            l.close();
        }
        match self.sessions.get_mut(&sid) {
            Some(Session::One(one)) => {
                if let OneState::Terminating(t) = &mut one.state {
                    t.awaiting.remove(leg);
                }
                self.maybe_seal(now, sid);
            }
            Some(Session::Group(_)) => self.maybe_end_group(now, sid),
            None => {}
        }
    }

    /// TERM-2: the answer to the relayed BYE did not come within `bye_wait`.
    pub(crate) fn on_bye_wait_expired(&mut self, now: Time, sid: SessionId) {
        if self.config.mutation == Mutation::IgnoreByeWait {
            return;
        }
        let Some(Session::One(one)) = self.sessions.get_mut(&sid) else {
            return;
        };
        if let OneState::Terminating(t) = &mut one.state {
            let silent: Vec<LegKey> = std::mem::take(&mut t.awaiting).into_iter().collect();
            for leg in silent {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.close();
                }
            }
            self.maybe_seal(now, sid);
        }
    }

    /// A terminal never ACKed the server's 2xx: a 1-to-1 is ended by the server (BYE
    /// on both legs, then sealed: TERM-6); a group participant is sent a BYE and leaves.
    pub(crate) fn end_unacknowledged(&mut self, now: Time, sid: SessionId, leg: &LegKey) {
        match self.sessions.get(&sid) {
            Some(Session::One(_)) => self.on_replaced_bye_missing(now, sid),
            Some(Session::Group(_)) => {
                self.send_bye(now, sid, leg);
                let user = self.legs.get(leg).map(|l| l.user.clone());
                if let Some(user) = user {
                    self.leave_group(now, sid, &user);
                }
            }
            None => self.stand_in_unacknowledged(now, sid, leg),
        }
    }

    /// TERM-3: B joined the group but never sent its BYE on the 1-to-1: the server
    /// ends the 1-to-1 itself (also used when a terminal never ACKed its 2xx).
    pub(crate) fn on_replaced_bye_missing(&mut self, now: Time, sid: SessionId) {
        let Some(Session::One(one)) = self.sessions.get_mut(&sid) else {
            return;
        };
        if one.state != OneState::Established {
            return;
        }
        let both = BTreeSet::from([one.a_leg.clone(), one.b_leg.clone()]);
        one.terminate(None, both);
        self.relay_bye(now, sid);
    }

    /// Called after a message of `sid` was resolved: a held BYE may go now, and a
    /// finished handshake may seal.
    pub(crate) fn after_chat_progress(&mut self, now: Time, sid: SessionId) {
        match self.sessions.get(&sid) {
            Some(Session::One(one)) => {
                if let OneState::Terminating(t) = &one.state {
                    if t.relayed {
                        self.maybe_seal(now, sid);
                    } else {
                        self.relay_bye(now, sid);
                    }
                }
            }
            Some(Session::Group(_)) => self.maybe_end_group(now, sid),
            None => {}
        }
    }

    /// Seals once the handshake is complete: BYEs sent, every answer in (or given up
    /// on), no message waiting for the store (HIST-2).
    fn maybe_seal(&mut self, now: Time, sid: SessionId) {
        let Some(Session::One(one)) = self.sessions.get(&sid) else {
            return;
        };
        let OneState::Terminating(t) = &one.state else {
            return;
        };
        if t.relayed && t.awaiting.is_empty() && !one.chat.has_pending() {
            self.seal_one(now, sid);
        }
    }

    /// Emits the session history object of a 1-to-1 (HIST-1: once; the state moves to
    /// Sealing, which never seals again).
    fn seal_one(&mut self, now: Time, sid: SessionId) {
        // What still waits for a leg's bind never reached its recipient: it fails
        // and stays out of the history; nothing goes out after the seal (HIST-2/3).
        self.fail_held_of(sid);
        let Some(Session::One(one)) = self.sessions.get(&sid) else {
            return;
        };
        let OneState::Terminating(t) = &one.state else {
            return;
        };
        let mut info = (*one.info).clone();
        // Derived from the SDP now rather than kept for the session's life
        // (`session_info`); the SDP is the offer as received, which decoded then,
        // so its lines are read without decoding it again.
        info.media_attributes = crate::wire::sdp::media_attribute_lines(&info.sdp);
        let history = HistoryObject {
            info,
            messages: one.chat.delivered.clone(),
            participants: Vec::<ParticipantRecord>::new(),
            focus: None,
        };
        let mut reply_to = t.initiator.clone();
        if self.config.mutation == Mutation::OkBeforeDurableSeal {
            if let Some(key) = reply_to.take() {
                self.reply_to_tx(now, &key, StatusCode::OK);
            }
        }
        self.out.disarm(&Timer::ByeWait(sid));
        let ticket = self.ticket(TicketUse::Seal(sid));
        self.out.command(Command::SealSession { ticket, history });
        if let Some(Session::One(one)) = self.sessions.get_mut(&sid) {
            one.seal(Sealing { ticket, reply_to });
        }
    }

    /// The store answered a `SealSession`: answer the BYE's sender (HIST-5) and forget
    /// the session.
    pub(crate) fn on_sealed(&mut self, now: Time, sid: SessionId, ok: bool) {
        let reply_to = match self.sessions.get(&sid) {
            Some(Session::One(one)) => match &one.state {
                OneState::Sealing(s) => s.reply_to.clone(),
                OneState::Calling(_)
                | OneState::Cancelling(_)
                | OneState::Established
                | OneState::Terminating(_) => None,
            },
            Some(Session::Group(g)) => match &g.state {
                GroupState::Sealing(s) => s.reply_to.clone(),
                GroupState::Creating(_) | GroupState::Active => None,
            },
            None => None,
        };
        self.out.event(if ok {
            Event::SessionSealed(sid)
        } else {
            Event::SealFailed(sid)
        });
        if let Some(key) = reply_to {
            if ok {
                self.reply_to_tx(now, &key, StatusCode::OK);
            } else if let Some(req) = self.tx.request(&key).cloned() {
                // TERM-5: the BYE sender learns the session was not sealed.
                self.refuse_request(now, &key, &req, Refusal::StoreFailed);
            }
        }
        let outcome = if ok {
            SessionOutcome::Sealed
        } else {
            SessionOutcome::SealFailed
        };
        self.drop_session(sid, outcome);
    }
}

impl Server {
    /// `Mutation::ReplacedByeLeavesGroup`: a BYE on an established 1-to-1 that a
    /// group replaced takes its sender out of the group.
    fn replaced_bye_leaves_group(&mut self, now: Time, sid: SessionId, leg: &LegKey) {
        let Some(Session::One(one)) = self.sessions.get(&sid) else {
            return;
        };
        let (OneState::Established, Some(gid), Some(l)) =
            (&one.state, one.replaced_by, self.legs.get(leg))
        else {
            return;
        };
        let user = l.user.clone();
        self.set_participant(now, gid, &user, None, ParticipantStatus::Left);
    }
}
