//! A group invitation forked to every registered device of a participant, and what
//! each device's answer means (specs/group.md, GRP-31): the first 2xx joins the user
//! on that device and the other forks are CANCELled; a loser's late 2xx is ACKed and
//! ended with BYE; the user declined or did not answer only when every fork failed.
//!
//! What it is not: building and sending the INVITEs (group.rs `invite_participant`)
//! nor the 1-to-1's forking (fork.rs), whose rules this mirrors for the focus.

use super::config::Mutation;
use super::keys::LegKey;
use super::msrp_media::PeerMedia;
use super::session::{ParticipantStatus, Session};
use super::transaction::ClientRx;
use super::Server;
use crate::ids::SessionId;
use crate::sip::Response;
use crate::time::Time;
use crate::uri::UserUri;

impl Server {
    /// One device of an invitee answered the focus's INVITE (or did not, in time).
    pub(crate) fn on_group_invite_answer(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        fork: &LegKey,
        rx: ClientRx,
    ) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            // GRP-42: the group ended meanwhile.
            return self.on_orphan_group_answer(now, gid, user, fork, rx);
        };
        let Some(p) = g.participants.get(user) else {
            return self.on_orphan_group_answer(now, gid, user, fork, rx);
        };
        // Only an awaited fork of a user still being invited can join the user.
        let invited = p.status == ParticipantStatus::Invited
            || (self.config.mutation == Mutation::SecondDeviceJoins
                && p.status == ParticipantStatus::Joined);
        let can_join = invited && p.invitation.forks.contains_key(fork);
        match rx {
            ClientRx::Response(r) if r.status.is_provisional() => {}
            ClientRx::Retransmitted2xx(_) => self.repeat_ack(fork),
            ClientRx::Response(r) if r.status.is_success() => {
                self.fork_settled(gid, user, fork, false);
                if can_join {
                    self.group_fork_won(now, gid, user, fork, &r);
                } else {
                    // Another device joined first (or the invitation is over).
                    self.ack_callee(fork, &r);
                    self.send_bye(now, gid, fork);
                    self.drop_fork_leg(fork);
                }
            }
            ClientRx::Response(_) | ClientRx::TimedOut => {
                // GRP-7: only an answer that refuses is a decline.
                let refused = match &rx {
                    ClientRx::Response(r) => ![408, 480, 487].contains(&r.status.get()),
                    ClientRx::TimedOut | ClientRx::Retransmitted2xx(_) => false,
                } || self.config.mutation == Mutation::AllFailuresDeclined;
                let (left, any_refused) = self.fork_settled(gid, user, fork, refused);
                if !(can_join && left == 0) {
                    return self.drop_fork_leg(fork);
                }
                // The last device failed: its leg stays, closed, as the participant's
                // until the group ends (as with a single device).
                if let Some(l) = self.legs.get_mut(fork) {
                    l.close();
                }
                let status = if any_refused {
                    ParticipantStatus::Declined
                } else {
                    ParticipantStatus::NoAnswer
                };
                self.set_participant(now, gid, user, Some(fork.clone()), status);
                if self.config.mutation == Mutation::DeclineEndsGroup {
                    self.everyone_leaves(now, gid);
                }
                self.maybe_end_group(now, gid);
            }
        }
    }

    /// GRP-31: the first 2xx: the user joins on this device; the other forks are
    /// CANCELled (their final answers are still awaited).
    fn group_fork_won(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        fork: &LegKey,
        r: &Response,
    ) {
        self.ack_callee(fork, r);
        if let Some(answer) = PeerMedia::of_body(&r.body) {
            self.msrp_offer_answered(fork, &answer);
        }
        let others: Vec<_> = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g
                .participants
                .get(user)
                .map(|p| p.invitation.forks.values().cloned().collect())
                .unwrap_or_default(),
            Some(Session::One(_)) | None => Vec::new(),
        };
        for tx in &others {
            self.send_cancel(now, tx);
        }
        self.set_participant(
            now,
            gid,
            user,
            Some(fork.clone()),
            ParticipantStatus::Joined,
        );
        self.arm_replaced_bye(now, gid, user);
    }

    /// The fork's final answer came: it is no longer awaited. Returns how many forks
    /// are still awaited and whether any device refused.
    fn fork_settled(
        &mut self,
        gid: SessionId,
        user: &UserUri,
        fork: &LegKey,
        refused: bool,
    ) -> (usize, bool) {
        let Some(Session::Group(g)) = self.sessions.get_mut(&gid) else {
            return (0, refused);
        };
        let Some(p) = g.participants.get_mut(user) else {
            return (0, refused);
        };
        p.invitation.forks.remove(fork);
        p.invitation.refused |= refused;
        (p.invitation.forks.len(), p.invitation.refused)
    }

    /// A fork that did not become the user's leg is forgotten (its BYE, if any, is
    /// its own transaction).
    fn drop_fork_leg(&mut self, fork: &LegKey) {
        self.legs.remove(fork);
        self.forget_msrp_leg(fork);
    }
}

impl Server {
    /// `Mutation::DeclineEndsGroup`: every participant counted as gone.
    fn everyone_leaves(&mut self, now: Time, gid: SessionId) {
        let users: Vec<UserUri> = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.participants.keys().cloned().collect(),
            _ => Vec::new(),
        };
        for u in &users {
            self.set_participant(now, gid, u, None, ParticipantStatus::Left);
        }
    }
}
