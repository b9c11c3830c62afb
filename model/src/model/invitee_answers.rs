//! C's refusals of the group's INVITE (`Setup::declines`: a decline, 603, or no
//! answer, 480, as a terminal whose user does not pick up answers) and the
//! observers of the outcomes the group records (GRP-1, GRP-7).
//!
//! The outcomes are read where the server writes them: every version of the group
//! state object (`Record::GroupState`, GRP-20) and the group's history at its seal.
//! The observers only record flaws, so the pinned counts do not move. Not here: a
//! timeout of the invitation (the model fires no transaction timeout; 480 stands
//! for it, GRP-7 treats both as `no-answer`), B's refusal (B is invited on the
//! device of the replaced 1-to-1 and takes the group, EXT-6).

use cpmd_core::record::ParticipantRecord;
use cpmd_core::sip::{Method, SipMessage, StatusCode};
use cpmd_core::Tag;

use super::{CpmModel, Flaw, Log, State};
use crate::terminal::{self, Term};

/// Whether packet `p` is the group's INVITE to C, not answered yet.
pub(super) fn unanswered_group_invite(st: &State, msg: &SipMessage) -> bool {
    let SipMessage::Request(r) = msg else {
        return false;
    };
    r.method == Method::Invite
        && r.headers
            .contribution_id
            .as_ref()
            .is_some_and(|c| c.as_str() == terminal::GROUP_CONTRIBUTION)
        && st.term(Term::C).group.is_none()
        && !st
            .term(Term::C)
            .answered
            .iter()
            .any(|a| a.headers.call_id == r.headers.call_id)
}

/// The final status `t` answered the group's INVITE with, if it answered.
fn invite_answer(st: &State, t: Term) -> Option<u16> {
    st.term(t)
        .answered
        .iter()
        .find(|r| r.headers.cseq.method == Method::Invite && r.status.is_final())
        .map(|r| r.status.get())
}

impl CpmModel {
    /// C answers the group's INVITE (packet `i`) with `status` instead of 200.
    pub(super) fn refuse_invite(
        &self,
        st: &mut State,
        i: usize,
        status: StatusCode,
        log: &mut Log,
    ) {
        let p = st.net.remove(i);
        let SipMessage::Request(req) = &*p.msg else {
            return;
        };
        let resp = terminal::answer(Term::C, req, status, &Tag::new("carol-refuses"));
        self.reply(st, Term::C, resp, log);
    }

    /// GRP-1 and GRP-7 on one recorded participant set; `sealed`: the group's
    /// final object, where every invitee has its outcome.
    pub(super) fn check_outcomes(&self, st: &mut State, parts: &[ParticipantRecord], sealed: bool) {
        for t in [Term::A, Term::B, Term::C] {
            let state = parts
                .iter()
                .find(|p| p.user == t.user())
                .map(|p| p.state.as_str());
            let g = &st.ghost;
            let i = t.index();
            // GRP-1: no one else's answer ends the group for one who is in; at the
            // seal every invitee (B, C) has an outcome.
            let still_in = g.group_joined[i] && !g.group_left[i] && !g.removed[i];
            let unrecorded = sealed && t != Term::A && matches!(state, None | Some("invited"));
            // A removal is GRP-15's to judge.
            let removed = state == Some("removed") && g.chair_refer_arrived;
            if (still_in && state != Some("joined") && !removed) || unrecorded {
                st.ghost.flaw(Flaw::GroupEndedForOthers);
            }
            // GRP-7: declined only after a refusal, no-answer only without one,
            // left only after joining.
            let answer = invite_answer(st, t);
            let refused = answer.is_some_and(|s| s >= 300 && ![408, 480, 487].contains(&s));
            let wrong = match state {
                Some("declined") => !refused,
                Some("no-answer") => refused || answer.is_some_and(|s| s < 300),
                Some("left") => !st.ghost.group_joined[i],
                _ => false,
            };
            if wrong {
                st.ghost.flaw(Flaw::OutcomeWrong);
            }
        }
    }
}

/// Whether C refused the group's INVITE with `status` and the group was sealed
/// after (the group went on without C to its end).
pub fn refused_then_sealed(st: &State, status: u16) -> bool {
    invite_answer(st, Term::C) == Some(status) && st.ghost.seals.contains(&super::Sess::Group)
}
