//! Parallel forking of a 1-to-1 INVITE to every registered device of the callee
//! (the claim's "terminals of a second user"), and what each device's answer means:
//! the first 2xx wins and the other forks are CANCELled; a loser's late 2xx is ACKed
//! and ended with BYE; A gets a failure only when every fork failed (ONE-3, ONE-9).

use std::collections::BTreeMap;

use super::config::Mutation;
use super::keys::LegKey;
use super::msrp_media::PeerMedia;
use super::output::{Event, SessionOutcome};
use super::registrar::Binding;
use super::session::{Calling, OneState, Session};
use super::transaction::{ClientRx, Owner};
use super::{Server, TxKey};
use crate::ids::SessionId;
use crate::record::SessionInfo;
use crate::sip::{Request, Response, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;

impl Server {
    /// Sends A's INVITE on a new leg to each binding of the callee; `offer` is the
    /// MSRP media of A's offer (read once by the caller).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fork_invites(
        &mut self,
        now: Time,
        sid: SessionId,
        a_invite: &Request,
        info: &SessionInfo,
        callee: &UserUri,
        bindings: Vec<Binding>,
        offer: Option<&PeerMedia>,
    ) -> BTreeMap<LegKey, TxKey> {
        let timers = self.config.timers;
        let mut forks = BTreeMap::new();
        for binding in bindings {
            let mut leg = self.new_uac_leg(
                sid,
                callee.clone(),
                &binding.contact,
                binding.flow,
                a_invite.headers.from.clone(),
            );
            let invite = self.callee_invite(a_invite, &mut leg, info, offer);
            let owner = Owner::CalleeInvite(sid, leg.key.clone());
            let tx = self
                .tx
                .send_request(now, leg.flow, invite, owner, &timers, &mut self.out);
            forks.insert(leg.key.clone(), tx);
            self.legs.insert(leg.key.clone(), leg.into());
        }
        forks
    }

    /// One device of B answered our INVITE (or did not, in time).
    pub(crate) fn on_callee_answer(
        &mut self,
        now: Time,
        sid: SessionId,
        fork: &LegKey,
        rx: ClientRx,
    ) {
        let Some(Session::One(one)) = self.sessions.get(&sid) else {
            return;
        };
        match &one.state {
            OneState::Calling(c) => {
                let calling = (**c).clone();
                self.calling_answer(now, sid, fork, calling, rx);
            }
            OneState::Cancelling(_) => self.cancelled_answer(now, sid, fork, rx),
            OneState::Established | OneState::Terminating(_) | OneState::Sealing(_) => {
                if *fork == one.b_leg {
                    // A 2xx retransmission after we answered: repeat our ACK.
                    if let ClientRx::Retransmitted2xx(_) = rx {
                        self.repeat_ack(fork);
                    }
                } else {
                    self.loser_answer(now, sid, fork, rx);
                }
            }
        }
    }

    fn calling_answer(
        &mut self,
        now: Time,
        sid: SessionId,
        fork: &LegKey,
        c: Calling,
        rx: ClientRx,
    ) {
        let resp = match rx {
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) => r,
            ClientRx::TimedOut => {
                return self.fork_failed(now, sid, fork, c, StatusCode::REQUEST_TIMEOUT)
            }
        };
        let Some(a_leg) = self.one(sid).map(|one| one.a_leg.clone()) else {
            return;
        };
        if resp.status.is_provisional() {
            if resp.status != StatusCode::TRYING {
                let answer = PeerMedia::of_body(&resp.body);
                self.relay_answer(now, &c, &a_leg, &resp, answer.as_ref());
            }
        } else if resp.status.is_success() {
            self.fork_won(now, sid, fork, &c, &a_leg, &resp);
        } else {
            self.fork_failed(now, sid, fork, c, resp.status);
        }
    }

    /// The first 2xx: this device is B's leg; the other forks are CANCELled.
    fn fork_won(
        &mut self,
        now: Time,
        sid: SessionId,
        fork: &LegKey,
        c: &Calling,
        a_leg: &LegKey,
        resp: &Response,
    ) {
        self.ack_callee(fork, resp);
        for (leg, tx) in &c.forks {
            if leg != fork {
                self.send_cancel(now, tx);
            }
        }
        // The answer's MSRP media, read once for A's answer and for B's leg.
        let answer = PeerMedia::of_body(&resp.body);
        self.relay_answer(now, c, a_leg, resp, answer.as_ref());
        // MSRP-2: whichever side is active connects now that both SDPs are known.
        if let Some(answer) = &answer {
            self.msrp_offer_answered(fork, answer);
        }
        self.msrp_start(a_leg);
        if let Some(Session::One(one)) = self.sessions.get_mut(&sid) {
            one.establish(fork, &c.forks);
        }
        self.out.event(Event::SessionEstablished(sid));
    }

    /// A device declined or timed out; A hears only when every device has.
    fn fork_failed(
        &mut self,
        now: Time,
        sid: SessionId,
        fork: &LegKey,
        mut c: Calling,
        status: StatusCode,
    ) {
        c.forks.remove(fork);
        self.legs.remove(fork);
        self.forget_msrp_leg(fork);
        let best = better_failure(c.best_failure, status);
        if c.forks.is_empty() {
            // 3xx: a B2BUA does not pass redirections on; the user is not reachable.
            let answer = if best.get() < 400 {
                StatusCode::TEMPORARILY_UNAVAILABLE
            } else {
                best
            };
            self.reply(now, &c.a_tx, &c.a_invite, answer);
            return self.drop_session(sid, SessionOutcome::Failed);
        }
        c.best_failure = Some(best);
        if let Some(Session::One(one)) = self.sessions.get_mut(&sid) {
            one.keep_calling(c);
        }
    }

    /// A answered CANCEL already; each fork's final answer is awaited, a 2xx that
    /// crossed the CANCEL is ACKed and ended.
    fn cancelled_answer(&mut self, now: Time, sid: SessionId, fork: &LegKey, rx: ClientRx) {
        let resp = match rx {
            ClientRx::Response(r) if r.status.is_provisional() => return,
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) => Some(r),
            ClientRx::TimedOut => None,
        };
        if let Some(r) = resp.filter(|r| r.status.is_success()) {
            self.ack_callee(fork, &r);
            if self.config.mutation != Mutation::CrossedAnswerNotEnded {
                self.send_bye(now, sid, fork);
            }
        }
        let Some(Session::One(one)) = self.sessions.get_mut(&sid) else {
            return;
        };
        if let OneState::Cancelling(waiting) = &mut one.state {
            waiting.remove(fork);
            if waiting.is_empty() {
                self.drop_session(sid, SessionOutcome::Cancelled);
            }
        }
    }

    /// A fork that lost answered late: a 2xx is ACKed and ended with BYE.
    fn loser_answer(&mut self, now: Time, sid: SessionId, fork: &LegKey, rx: ClientRx) {
        match rx {
            ClientRx::Response(r) if r.status.is_provisional() => return,
            ClientRx::Response(r) | ClientRx::Retransmitted2xx(r) if r.status.is_success() => {
                self.ack_callee(fork, &r);
                self.send_bye(now, sid, fork);
            }
            ClientRx::Response(_) | ClientRx::Retransmitted2xx(_) | ClientRx::TimedOut => {}
        }
        if let Some(Session::One(one)) = self.sessions.get_mut(&sid) {
            one.losers.remove(fork);
        }
        self.legs.remove(fork);
        self.forget_msrp_leg(fork);
    }
}

/// RFC 3261 §16.7-like choice of the answer when every fork failed: a 6xx wins,
/// then Busy Here, then the first failure seen.
fn better_failure(best: Option<StatusCode>, new: StatusCode) -> StatusCode {
    let Some(best) = best else {
        return new;
    };
    let rank = |s: StatusCode| match s.get() {
        600..=699 => 0,
        486 => 1,
        _ => 2,
    };
    if rank(new) < rank(best) {
        new
    } else {
        best
    }
}
