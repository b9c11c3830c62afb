//! Observers of how calls are answered and of the group's identity (ONE-3, ONE-4,
//! ONE-9, EXT-4, EXT-5, GRP-8, GRP-9, and MSRP-11's m-lines of the answers to A),
//! and A's CANCEL of its 1-to-1 INVITE
//! (`Setup::cancel`, ONE-4's race with B's 200).
//!
//! The observers record a [`Flaw`] at the moment the server acts; the facts they
//! remember in the ghost (B's 200 arrived, the group's info is durable, the status
//! of A's final response, A's CANCEL came first) are each implied by the server's
//! own state, so they split no states: the pinned counts did not move. The
//! end-state halves (ONE-3's ACKs, ONE-4's ended leg, ONE-9's one final) are in
//! `properties.rs`. Not here: what the terminals do with the answers (`terminal.rs`,
//! the reactive parts in `model.rs`).

use cpmd_core::record::SessionInfo;
use cpmd_core::sip::{Method, NameAddr, Request, SipMessage, StatusCode};
use cpmd_core::testing;

use super::{CpmModel, Flaw, Log, State};
use crate::terminal::{self, Term};

/// The CPM feature tags every focus Contact carries (GRP-9), with their values.
const FOCUS_TAGS: [(&str, Option<&str>); 3] = [
    ("isfocus", None),
    ("+g.oma.sip-im", None),
    (
        "+g.3gpp.icsi-ref",
        Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\""),
    ),
];

/// The conference-factory user of the model's server (the core's default).
const FACTORY_USER: &str = "conf-factory";

/// Whether `user` names a focus: `conf-…`, not the conference factory (GRP-8).
fn focus_user(user: &str) -> bool {
    user.starts_with("conf-") && user != FACTORY_USER
}

/// The media attribute lines of A's SDP, read off its text (`a=` lines after the
/// first `m=`): the oracle for the stored group info (EXT-4), independent of the
/// core's SDP codec.
fn media_attributes_of_a() -> Vec<String> {
    Term::A
        .sdp()
        .split("\r\n")
        .skip_while(|l| !l.starts_with("m="))
        .filter_map(|l| l.strip_prefix("a="))
        .map(str::to_owned)
        .collect()
}

/// `(media, port)` of each m-line of an SDP text, in order.
fn mlines(sdp: &str) -> Vec<(String, String)> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("m="))
        .map(|m| {
            let mut parts = m.split_whitespace();
            let media = parts.next().unwrap_or_default().to_owned();
            (media, parts.next().unwrap_or_default().to_owned())
        })
        .collect()
}

/// MSRP-11: one m-line of `answer` per m-line of `offer`, in order, the same
/// media; the MSRP stream taken (a port), every other one declined (port 0).
fn mirrors(offer: &str, answer: &[u8]) -> bool {
    let Ok(answer) = std::str::from_utf8(answer) else {
        return false;
    };
    let (offered, answered) = (mlines(offer), mlines(answer));
    offered.len() == answered.len()
        && offered
            .iter()
            .zip(&answered)
            .all(|((om, _), (am, port))| om == am && ((om == "message") == (port != "0")))
}

impl CpmModel {
    /// A server input from `from`, before the server handles it.
    pub(super) fn check_receive(&self, st: &mut State, from: Term, msg: &SipMessage) {
        match msg {
            // ONE-3: B's 200 to the 1-to-1's INVITE reached the server.
            SipMessage::Response(r)
                if from == Term::B
                    && r.headers.cseq.method == Method::Invite
                    && r.status.is_success()
                    && super::one_call_of(st, Term::B).as_ref() == Some(&r.headers.call_id)
                    && !st.ghost.b_ok_arrived =>
            {
                st.ghost.b_ok_arrived = true;
            }
            // ONE-4: A's CANCEL reaches the server before any final answer to A's
            // INVITE left it: that answer must be 487.
            SipMessage::Request(r)
                if from == Term::A
                    && r.method == Method::Cancel
                    && r.headers.call_id.as_str() == terminal::A_ONE_CALL
                    && st.ghost.a_final.is_none()
                    && !st.ghost.cancel_first =>
            {
                st.ghost.cancel_first = true;
            }
            SipMessage::Request(_) | SipMessage::Response(_) => {}
        }
    }

    /// A message the server sends terminal `t`.
    pub(super) fn check_transmit(&self, st: &mut State, t: Term, msg: &SipMessage) {
        let h = msg.headers();
        let group_contribution = h
            .contribution_id
            .as_ref()
            .is_some_and(|c| c.as_str() == terminal::GROUP_CONTRIBUTION);
        match msg {
            SipMessage::Response(r) if r.headers.cseq.method == Method::Invite => {
                let call = r.headers.call_id.as_str();
                if t == Term::A && call == terminal::A_ONE_CALL && r.status.is_final() {
                    self.check_a_final(st, r.status);
                }
                if t == Term::A && r.status.is_success() && !r.body.is_empty() {
                    // MSRP-11: the answer mirrors the offer's m-lines.
                    let offer = if call == terminal::A_ONE_CALL {
                        terminal::one_offer(self.setup.second_mline)
                    } else {
                        Term::A.sdp()
                    };
                    if !mirrors(&offer, &r.body) {
                        st.ghost.flaw(Flaw::MsrpMlines);
                    }
                }
                if t == Term::A && call == terminal::A_EXT_CALL && r.status.is_success() {
                    // EXT-5: A's 200 only once the group exists (its info durable).
                    if !st.ghost.info_stored {
                        st.ghost.flaw(Flaw::GroupOkEarly);
                    }
                    self.check_focus_contact(st, &r.headers.contact);
                }
            }
            // GRP-9: the focus's INVITEs to the participants.
            SipMessage::Request(r) if r.method == Method::Invite && group_contribution => {
                self.check_focus_contact(st, &r.headers.contact);
            }
            SipMessage::Request(_) | SipMessage::Response(_) => {}
        }
    }

    /// A final response to A's 1-to-1 INVITE (ONE-3, ONE-4, ONE-9).
    fn check_a_final(&self, st: &mut State, status: StatusCode) {
        let g = &mut st.ghost;
        if status.is_success() && !g.b_ok_arrived {
            g.flaw(Flaw::CallerOkEarly);
        }
        if g.cancel_first && status != StatusCode::REQUEST_TERMINATED {
            g.flaw(Flaw::CancelAnswer);
        }
        // A retransmission repeats the same status; another status is a second
        // final response.
        match g.a_final {
            None => g.a_final = Some(status.get()),
            Some(first) if first != status.get() => g.flaw(Flaw::SecondFinal),
            Some(_) => {}
        }
    }

    /// GRP-9: exactly one Contact, the focus URI with `isfocus` and the CPM tags.
    fn check_focus_contact(&self, st: &mut State, contact: &[NameAddr]) {
        let good = match contact {
            [c] => {
                c.uri
                    .as_sip()
                    .and_then(|u| u.user.as_deref())
                    .is_some_and(focus_user)
                    && FOCUS_TAGS.iter().all(|(name, value)| match value {
                        None => c.has_param(name),
                        Some(v) => c.param(name) == Some(*v),
                    })
            }
            _ => false,
        };
        if !good {
            st.ghost.flaw(Flaw::FocusContact);
        }
    }

    /// EXT-4: the group's session info as persisted: From A's identity, To the
    /// conference factory, the `Date` of A's INVITE, the conversation and A's
    /// Contribution-ID, and A's SDP media attributes.
    pub(super) fn check_group_info(&self, st: &mut State, info: &SessionInfo) {
        let good = info.from == Term::A.user()
            && info.to == format!("sip:{FACTORY_USER}@{}", terminal::DOMAIN)
            && info.date == testing::EXTENSION_DATE
            && info.key.conversation_id.as_str() == terminal::CONVERSATION
            && info.key.contribution_id.as_str() == terminal::GROUP_CONTRIBUTION
            && info.media_attributes == media_attributes_of_a();
        if !good {
            st.ghost.flaw(Flaw::GroupInfo);
        }
    }

    /// GRP-8: the focus URI a group state object names (`lastfocussessionid`):
    /// `sip:conf-…@<domain>`, and the focus the terminals talk to where one has
    /// learnt it (its group dialog's remote target).
    pub(super) fn check_focus_record(&self, st: &mut State, focus: Option<&str>) {
        let user = focus.and_then(|f| {
            f.strip_prefix("sip:")?
                .strip_suffix(&format!("@{}", terminal::DOMAIN))
        });
        let known = [Term::A, Term::B, Term::C].into_iter().find_map(|t| {
            let d = st.term(t).group.as_ref()?;
            d.remote_target.as_sip()?.user.as_deref().map(str::to_owned)
        });
        let good = user.is_some_and(|u| focus_user(u) && known.as_deref().is_none_or(|k| k == u));
        if !good {
            st.ghost.flaw(Flaw::FocusUri);
        }
    }

    /// A's CANCEL of its 1-to-1 INVITE (ONE-4), while the INVITE has no final
    /// answer; kept for its own final response like any request.
    pub(super) fn cancel(&self, st: &mut State, log: &mut Log) {
        st.term_mut(Term::A).cancelled = true;
        let invite: Option<Request> = st
            .term(Term::A)
            .outstanding
            .iter()
            .find(|r| {
                r.method == Method::Invite && r.headers.call_id.as_str() == terminal::A_ONE_CALL
            })
            .cloned();
        if let Some(invite) = invite {
            self.send(st, Term::A, testing::cancel(&invite), true, log);
        }
    }

    /// Whether A may CANCEL now: `Setup::cancel`, once, while its INVITE is
    /// unanswered.
    pub(super) fn may_cancel(&self, st: &State) -> bool {
        let a = st.term(Term::A);
        self.setup.cancel
            && !a.cancelled
            && a.outstanding.iter().any(|r| {
                r.method == Method::Invite && r.headers.call_id.as_str() == terminal::A_ONE_CALL
            })
    }
}
