//! The group's membership races (specs/group.md): C's rejoin at the focus URI racing
//! its own BYE, the chairman's removal and the group's end (GRP-21, GRP-22); two
//! devices of one invitee answering the focus's INVITE (GRP-31); a subject change
//! racing a SUBSCRIBE and a leave (GRP-33, with GRP-12's order and versions); the
//! conference subscriptions: who may subscribe, refresh, unsubscribe, expiry and the
//! group's end (GRP-10, GRP-11, GRP-13). Each
//! race is an option of [`Races`] in the [`super::Setup`]; the actors' moves and the
//! observers that judge the server are here.
//!
//! What it is *not*: the group's ordinary traffic (joins, messages, leaves, the
//! REFERs of GRP-14/15: `model.rs`), and no second focus: every answer judged here is
//! `cpmd_core::Server`'s own.

use cpmd_core::sip::{Method, SipMessage, StatusCode};
use cpmd_core::ContributionId;

use super::{CpmModel, Log, State};
use crate::terminal::{self, Term};

mod devices;
mod subject;
mod subscription;

pub use devices::Device;
pub use subject::SubjectView;
pub use subscription::SubsView;

/// Call-ID of C's rejoin INVITE to the focus URI.
pub const C_REJOIN_CALL: &str = "carol-call-rejoin";

/// Which group races a configuration explores (all off: none, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Races {
    /// C, once it left the group (its own BYE or the chairman's removal), may INVITE
    /// the focus URI to rejoin (GRP-21, GRP-22).
    pub rejoin: bool,
    /// A, the chairman, may REFER the focus to remove C while C is in the group (it
    /// races C's leave and rejoin), once the replaced 1-to-1 is sealed.
    pub remove: bool,
    /// Carol is registered on two devices of the races' own (not the terminal C):
    /// the focus invites both, each may answer 2xx (GRP-31).
    pub devices: bool,
    /// A may subscribe to the conference state, B may change the subject (GRP-33,
    /// GRP-12).
    pub subject: bool,
    /// A subscribes to the conference state, Mallory (no participant) tries to
    /// (GRP-10, GRP-13).
    pub subscriptions: bool,
    /// A subscribes, may refresh, may end its subscription with `Expires: 0`, and
    /// the server's `SubscriptionExpiry` may fire (GRP-11).
    pub resubscribe: bool,
}

/// What the server must answer C's rejoin INVITE, decided from what it had received
/// when the INVITE arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejoinExpect {
    /// C had left a live group: `200`, C is in again (GRP-21).
    Joined,
    /// C was removed, or is still in: `403` (GRP-21).
    Refused,
    /// The group's seal was under way or done: `404` (GRP-22).
    Gone,
}

/// A rule of this file's properties the server broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaceFlaw {
    /// GRP-21: a rejoin answered otherwise than the participant's status asks.
    Rejoin,
    /// GRP-22: a rejoin into an ended (or ending) group answered other than `404`.
    Revived,
    /// GRP-33: the subject change reached a subscriber twice, never, or out of order
    /// with the participants' changes (or a document's version skipped, GRP-12).
    Subject,
    /// GRP-10: a SUBSCRIBE answered otherwise than the subscriber's status asks, or
    /// a first NOTIFY that is not the full state.
    Subscribe,
    /// GRP-11: a refresh without the full state, an unsubscribe or expiry without
    /// `terminated;reason=timeout`, or a NOTIFY after it.
    Resubscribe,
    /// GRP-13: no `terminated;reason=noresource` before the group's seal, one before
    /// a departure was reported, a NOTIFY after it, or a SUBSCRIBE to the ended group
    /// answered other than 404.
    SubscriptionEnd,
}

/// A race the `sometimes` properties prove reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaceReached {
    /// C rejoined the live group.
    Rejoined,
    /// C's rejoin found the group ended (`404`).
    RejoinGone,
    /// The removed C's rejoin was refused.
    RejoinRemoved,
    /// A second device's 2xx crossed the focus's CANCEL (ACKed, then BYE).
    CrossingTwoHundred,
    /// A losing device's INVITE was CANCELled before it answered (487).
    DeviceCancelled,
    /// A saw the new subject in a partial NOTIFY.
    SubjectPartial,
    /// A saw the new subject first in its full state (it subscribed after the change).
    SubjectInFullState,
    /// A saw C's departure before the subject change.
    LeaveBeforeSubject,
    /// A saw the subject change before C's departure.
    SubjectBeforeLeave,
    /// Mallory's SUBSCRIBE was refused (403).
    OutsiderRefused,
    /// A SUBSCRIBE found the group ended (404).
    SubscribeGone,
    /// A's refresh got the full state again.
    Refreshed,
    /// A's subscription ended by `Expires: 0` or its expiry.
    SubscriptionTimedOut,
    /// A's subscription ended with the group.
    SubscriptionNoResource,
}

/// The races' state: what their actors did and what their observers saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RaceState {
    /// C sent its rejoin INVITE.
    pub rejoin_sent: bool,
    /// A sent its REFER removing C.
    pub remove_sent: bool,
    /// The answer C's rejoin must get, decided at its arrival.
    pub rejoin_expect: Option<RejoinExpect>,
    /// Carol's two devices.
    pub devices: [Device; 2],
    /// A's subscription and B's subject change.
    pub subject: SubjectView,
    /// The conference subscriptions.
    pub subs: SubsView,
    /// Verdicts, sorted.
    pub flaws: Vec<RaceFlaw>,
    /// Reached races, sorted.
    pub reached: Vec<RaceReached>,
}

impl RaceState {
    fn flaw(&mut self, f: RaceFlaw) {
        if let Err(at) = self.flaws.binary_search(&f) {
            self.flaws.insert(at, f);
        }
    }

    fn reach(&mut self, r: RaceReached) {
        if let Err(at) = self.reached.binary_search(&r) {
            self.reached.insert(at, r);
        }
    }
}

/// One move of a race's actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaceAction {
    /// C INVITEs the focus URI with the group's Contribution-ID.
    Rejoin,
    /// A REFERs the focus to remove C.
    Remove,
    /// Carol's device `i` reads the next request or response the server sent it.
    DeviceReceives(usize),
    /// Carol's device `i` answers the group INVITE it rings for with 2xx.
    DeviceAnswers(usize),
    /// A subscribes to the conference state at the focus URI.
    Subscribe,
    /// B changes the group's subject (UPDATE with `Subject` in its group dialog).
    ChangeSubject,
    /// A or Mallory subscribes to the conference state at the focus URI.
    ConferenceSubscribe(Term),
    /// A refreshes its subscription with this `Expires` (0: ends it).
    Resubscribe(u32),
}

/// Whether `call` is C's rejoin dialog (the group dialog it is getting).
pub fn rejoin_call(t: Term, call: &cpmd_core::CallId) -> bool {
    t == Term::C && call.as_str() == C_REJOIN_CALL
}

impl CpmModel {
    /// The races' part of the initial state (carol's devices register).
    pub(super) fn races_init(&self, st: &mut State) {
        if self.setup.races.devices {
            self.devices_init(st);
        }
    }

    /// The races' enabled moves.
    pub(super) fn race_actions(&self, st: &State, out: &mut Vec<super::Action>) {
        let r = self.setup.races;
        let a = st.term(Term::A);
        let c = st.term(Term::C);
        if r.rejoin && !st.races.rejoin_sent && c.left_group && c.group.is_some() {
            out.push(super::Action::Race(RaceAction::Rejoin));
        }
        // The removal comes once the replaced 1-to-1 is sealed (as the REFERs of
        // `refers`): its races are with C's leave and rejoin and the group's end.
        if r.remove
            && !st.races.remove_sent
            && st.ghost.seal_durable
            && a.group.is_some()
            && !a.left_group
            && c.group.is_some()
            && !c.left_group
        {
            out.push(super::Action::Race(RaceAction::Remove));
        }
        if r.devices {
            self.device_actions(st, out);
        }
        if r.subject {
            self.subject_actions(st, out);
        }
        if r.subscriptions || r.resubscribe {
            self.subscription_actions(st, out);
        }
    }

    /// Carries out one race move.
    pub(super) fn race_step(&self, st: &mut State, action: RaceAction, log: &mut Log) {
        match action {
            RaceAction::Rejoin => self.rejoin(st, log),
            RaceAction::Remove => {
                st.races.remove_sent = true;
                self.refer(st, Term::A, log);
            }
            RaceAction::DeviceReceives(i) => self.device_receives(st, i, log),
            RaceAction::DeviceAnswers(i) => self.device_answers(st, i, log),
            RaceAction::Subscribe => self.subscribe(st, log),
            RaceAction::ChangeSubject => self.change_subject(st, log),
            RaceAction::ConferenceSubscribe(t) => self.conference_subscribe(st, t, log),
            RaceAction::Resubscribe(expires) => self.resubscribe(st, expires, log),
        }
    }

    /// C's rejoin (RCC.07): an INVITE outside any dialog to the focus URI it learnt
    /// from the focus's INVITE, naming the group's Contribution-ID, with an offer.
    fn rejoin(&self, st: &mut State, log: &mut Log) {
        st.races.rejoin_sent = true;
        let Some(focus) = st.group_focus(Term::C) else {
            return;
        };
        let branch = Self::branch(st, Term::C, "rejoin");
        let mut req = terminal::request(
            Term::C,
            self.transport(),
            Method::Invite,
            focus.clone(),
            focus,
            C_REJOIN_CALL,
            &branch,
        );
        req.headers.conversation_id = Some(cpmd_core::ConversationId::new(terminal::CONVERSATION));
        req.headers.contribution_id = Some(ContributionId::new(terminal::GROUP_CONTRIBUTION));
        let req = cpmd_core::testing::with_sdp(req, &Term::C.sdp());
        self.send(st, Term::C, req, true, log);
    }

    /// The races' look at a message from terminal `from` as the server receives it.
    pub(super) fn race_receives(&self, st: &mut State, from: Term, msg: &SipMessage) {
        let SipMessage::Request(r) = msg else {
            return;
        };
        if r.method == Method::Invite && rejoin_call(from, &r.headers.call_id) {
            // What the server knew when C's rejoin arrived decides its answer: an
            // ended group is gone (GRP-22), a removed participant stays out, one who
            // left a live group is back (GRP-21).
            let g = &st.ghost;
            let c = Term::C.index();
            let expect = if g.seals.contains(&super::Sess::Group) {
                RejoinExpect::Gone
            } else if g.removed[c] {
                RejoinExpect::Refused
            } else if g.group_left[c] {
                RejoinExpect::Joined
            } else {
                RejoinExpect::Refused
            };
            st.races.rejoin_expect = Some(expect);
        }
        if self.setup.races.subject {
            self.subject_receives(st, from, r);
        }
        if self.setup.races.subscriptions || self.setup.races.resubscribe {
            self.subscription_receives(st, from, r);
        }
    }

    /// The races' look at what the server sends terminal `t`.
    pub(super) fn race_transmit(&self, st: &mut State, t: Term, msg: &SipMessage) {
        if self.setup.races.subscriptions || self.setup.races.resubscribe {
            self.subscription_transmit(st, t, msg);
        }
        match msg {
            SipMessage::Response(r)
                if r.headers.cseq.method == Method::Invite
                    && r.status.is_final()
                    && rejoin_call(t, &r.headers.call_id) =>
            {
                self.rejoin_answered(st, r.status)
            }
            SipMessage::Request(r) if t == Term::A && r.method == Method::Notify => {
                if self.setup.races.subject {
                    self.subject_notify(st, r);
                }
            }
            SipMessage::Request(_) | SipMessage::Response(_) => {}
        }
    }

    /// Whether what the server sends is read at once, off the network: A's
    /// conference NOTIFYs (observed as sent; the focus awaits no answer, so A's 200s
    /// and their interleavings would only multiply the states); with the
    /// subscriptions' races also Mallory's (a mutant's) and the final answers to A's
    /// and Mallory's SUBSCRIBEs (read as sent: `subscription.rs`).
    pub(super) fn race_consumes(&self, peer: std::net::SocketAddr, msg: &SipMessage) -> bool {
        let r = self.setup.races;
        let notify = matches!(msg, SipMessage::Request(r) if r.method == Method::Notify);
        let subscribers = r.subscriptions || r.resubscribe;
        let to_subscriber = peer == Term::A.addr() || peer == Term::M.addr();
        (notify && r.subject && peer == Term::A.addr())
            || (subscribers && to_subscriber && (notify || subscription::answer(msg)))
    }

    fn rejoin_answered(&self, st: &mut State, status: StatusCode) {
        let Some(expect) = st.races.rejoin_expect else {
            return;
        };
        let code = status.get();
        let (right, flaw) = match expect {
            RejoinExpect::Joined => (status.is_success(), RaceFlaw::Rejoin),
            RejoinExpect::Refused => (code == 403, RaceFlaw::Rejoin),
            RejoinExpect::Gone => (code == 404, RaceFlaw::Revived),
        };
        if !right {
            st.races.flaw(flaw);
        }
        if status.is_success() {
            // C is in the group again: for GRP-4 and GRP-5 it has not left.
            st.ghost.group_left[Term::C.index()] = false;
            st.races.reach(RaceReached::Rejoined);
        }
        match expect {
            RejoinExpect::Gone if code == 404 => st.races.reach(RaceReached::RejoinGone),
            RejoinExpect::Refused if code == 403 && st.ghost.removed[Term::C.index()] => {
                st.races.reach(RaceReached::RejoinRemoved)
            }
            RejoinExpect::Joined | RejoinExpect::Refused | RejoinExpect::Gone => {}
        }
    }
}

/// The races' properties (GRP-21, GRP-22, GRP-31, GRP-33) and their `sometimes`.
pub mod props {
    use stateright::Property;

    use super::{CpmModel, RaceFlaw, RaceReached, State};

    /// GRP-21.
    pub const GRP_21: &str = "GRP-21 a former participant rejoins a live group, the removed never";
    /// GRP-22.
    pub const GRP_22: &str = "GRP-22 an ended group's focus answers 404, a rejoin never revives it";
    /// GRP-31.
    pub const GRP_31: &str = "GRP-31 exactly one of a user's devices joins";
    /// GRP-33.
    pub const GRP_33: &str = "GRP-33 every subscriber sees the subject change once, in order";
    /// GRP-10.
    pub const GRP_10: &str =
        "GRP-10 only a joined participant subscribes, its first NOTIFY the full state";
    /// GRP-11.
    pub const GRP_11: &str =
        "GRP-11 a refresh resends the full state, Expires 0 or the expiry end it (timeout)";
    /// GRP-13.
    pub const GRP_13: &str =
        "GRP-13 the group's end terminates every subscription before its seal, then 404";

    fn flawless(st: &State, f: RaceFlaw) -> bool {
        !st.races.flaws.contains(&f)
    }

    fn reached(st: &State, r: RaceReached) -> bool {
        st.races.reached.contains(&r)
    }

    /// The properties of the races `model` explores.
    pub fn of(model: &CpmModel) -> Vec<Property<CpmModel>> {
        let r = model.setup.races;
        let mut p = Vec::new();
        if r.rejoin {
            p.push(Property::always(GRP_21, |_, s| {
                flawless(s, RaceFlaw::Rejoin)
            }));
            p.push(Property::always(GRP_22, |_, s| {
                flawless(s, RaceFlaw::Revived)
            }));
            p.push(Property::sometimes(
                "sometimes C rejoins the live group",
                |_, s| reached(s, RaceReached::Rejoined),
            ));
            if model.setup.leavers >= 3 {
                p.push(Property::sometimes(
                    "sometimes C's rejoin finds the group ended (404)",
                    |_, s| reached(s, RaceReached::RejoinGone),
                ));
            }
            if r.remove {
                p.push(Property::sometimes(
                    "sometimes the removed C's rejoin is refused",
                    |_, s| reached(s, RaceReached::RejoinRemoved),
                ));
            }
        }
        if r.devices {
            p.push(Property::always(GRP_31, super::devices::grp_31));
            p.push(Property::sometimes(
                "sometimes a second device's 2xx crosses the CANCEL",
                |_, s| reached(s, RaceReached::CrossingTwoHundred),
            ));
            p.push(Property::sometimes(
                "sometimes a losing device is CANCELled (487)",
                |_, s| reached(s, RaceReached::DeviceCancelled),
            ));
        }
        if r.subject {
            p.push(Property::always(GRP_33, super::subject::grp_33));
            p.push(Property::sometimes(
                "sometimes the subject comes in a partial NOTIFY",
                |_, s| reached(s, RaceReached::SubjectPartial),
            ));
            p.push(Property::sometimes(
                "sometimes the subject comes in the full state",
                |_, s| reached(s, RaceReached::SubjectInFullState),
            ));
        }
        if r.subscriptions || r.resubscribe {
            p.push(Property::always(GRP_10, super::subscription::grp_10));
            p.push(Property::always(GRP_11, super::subscription::grp_11));
            p.push(Property::always(GRP_13, super::subscription::grp_13));
        }
        if r.subscriptions {
            p.push(Property::sometimes(
                "sometimes Mallory's SUBSCRIBE is refused (403)",
                |_, s| reached(s, RaceReached::OutsiderRefused),
            ));
        }
        if r.subscriptions && model.setup.leavers >= 3 {
            p.push(Property::sometimes(
                "sometimes A's subscription ends with the group (noresource)",
                |_, s| reached(s, RaceReached::SubscriptionNoResource),
            ));
            p.push(Property::sometimes(
                "sometimes a SUBSCRIBE finds the group ended (404)",
                |_, s| reached(s, RaceReached::SubscribeGone),
            ));
        }
        if r.resubscribe {
            p.push(Property::sometimes(
                "sometimes A's refresh gets the full state again",
                |_, s| reached(s, RaceReached::Refreshed),
            ));
            p.push(Property::sometimes(
                "sometimes A's subscription times out (Expires 0 or expiry)",
                |_, s| reached(s, RaceReached::SubscriptionTimedOut),
            ));
        }
        if r.subject && model.setup.leavers >= 1 {
            p.push(Property::sometimes(
                "sometimes C's departure is seen before the subject change",
                |_, s| reached(s, RaceReached::LeaveBeforeSubject),
            ));
            p.push(Property::sometimes(
                "sometimes the subject change is seen before C's departure",
                |_, s| reached(s, RaceReached::SubjectBeforeLeave),
            ));
        }
        p
    }
}
