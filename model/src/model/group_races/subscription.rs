//! The conference event package's subscriptions (specs/group.md GRP-10, GRP-11,
//! GRP-13): A subscribes to the group's state at the focus URI, Mallory (no
//! participant) tries to, and with `resubscribe` A may refresh its subscription,
//! end it with `Expires: 0`, or let it run out (the server's `SubscriptionExpiry`
//! timer fires, an action like every other timer of the model).
//!
//! The observer judges what the server sends, decided from what it had received:
//!
//! * GRP-10: a SUBSCRIBE from a joined participant of a live group gets 200 and, in
//!   that step, a first NOTIFY with the full state naming every participant; one
//!   from anyone else (Mallory) never gets a 2xx or a NOTIFY (403).
//! * GRP-11: the expiry is armed for the granted `Expires` (600 s after the
//!   model's constant `NOW`), and nothing else ends the subscription with
//!   `reason=timeout`; a refresh of a live subscription gets the full state again
//!   in that step; `Expires: 0` or the expiry ends it in that step with
//!   `terminated;reason=timeout`, and nothing is sent on it afterwards.
//! * GRP-13: when the group ends, the subscription gets `terminated;reason=noresource`
//!   after every departure was reported to it and before the group's seal (never a
//!   live subscription once the seal was asked for), and a SUBSCRIBE reaching the
//!   focus URI after that gets 404.
//!
//! A mark set when an input reaches the server and cleared by the NOTIFY it asks for
//! ([`SubsView::due`]) never outlives a step in a correct server, so it splits no
//! states; what else the view keeps exists only in the configurations with these
//! races. What it is not: the documents' schema (e2e tests validate it with
//! `xmllint`), the subject (`subject.rs`), several subscribers.

use cpmd_core::sip::{Method, Request, Response, SipMessage};
use cpmd_core::Timer;

use super::{RaceAction, RaceFlaw, RaceReached};
use crate::model::{Action, CpmModel, Log, Node, Sess, State, NOW};
use crate::terminal::{self, Dialog, Term};

/// Call-ID of A's SUBSCRIBE (and of its subscription dialog).
pub const A_SUB_CALL: &str = "alice-call-conference";
/// Call-ID of Mallory's SUBSCRIBE.
pub const M_SUB_CALL: &str = "mallory-call-conference";
/// The `Expires` A asks for.
const EXPIRES: u32 = 600;

/// What the NOTIFY of the step being drained must be, and for which invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Due {
    /// The first NOTIFY of a new subscription: the full state (GRP-10).
    First,
    /// The full state again after a refresh (GRP-11).
    Refreshed,
    /// `terminated;reason=timeout` after `Expires: 0` or the expiry (GRP-11).
    Ended,
}

/// The answer a SUBSCRIBE must get, decided when it reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// A joined participant of a live group: 200 (GRP-10).
    Accepted,
    /// Not a joined participant: 403 (GRP-10).
    Refused,
    /// The group's seal was asked for: 404 (GRP-13).
    Gone,
}

/// Where A's subscription is, as the server has it (every NOTIFY is observed as
/// sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Phase {
    /// No subscription yet.
    #[default]
    None,
    /// Accepted; `notifies` NOTIFYs sent on it so far.
    Active {
        /// NOTIFYs sent on it.
        notifies: u8,
    },
    /// Terminated by a timeout (`Expires: 0`, the expiry).
    TimedOut,
    /// Terminated because the group ended.
    NoResource,
}

/// A's and Mallory's subscriptions and what the observer knows of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubsView {
    /// A sent its SUBSCRIBE.
    pub a_sent: bool,
    /// A sent its refresh.
    pub refreshed: bool,
    /// A sent its `Expires: 0`.
    pub unsubscribed: bool,
    /// Mallory sent her SUBSCRIBE.
    pub m_sent: bool,
    /// A's subscription dialog (from the server's 200).
    pub dialog: Option<Dialog>,
    /// A's subscription as the server has it.
    pub phase: Phase,
    /// The answers due to A's and Mallory's SUBSCRIBEs.
    pub expect: [Option<Expect>; 2],
    /// The NOTIFY due in the step being drained (never set in a stored state).
    pub due: Option<Due>,
    /// Who A's documents reported departed (A, B, C by index).
    pub departed: [bool; 3],
}

impl CpmModel {
    /// The subscriptions' moves: once the replaced 1-to-1 is sealed (as the subject
    /// race: the races are with the group's changes and its end, not the 1-to-1's
    /// handshake).
    pub(super) fn subscription_actions(&self, st: &State, out: &mut Vec<Action>) {
        if !st.ghost.seal_durable {
            return;
        }
        let r = self.setup.races;
        let v = &st.races.subs;
        let a = st.term(Term::A);
        // A subscriber's request reaches the server in the step it is sent
        // (`send_now`), so only when nothing of its is still on its way (TCP keeps the
        // order).
        let idle = |t: Term| !st.net.iter().any(|p| p.src == Node::T(t));
        if !idle(Term::A) {
            return self.mallory_subscribe_action(st, out);
        }
        if !v.a_sent && a.group.is_some() && !a.left_group {
            out.push(Action::Race(RaceAction::ConferenceSubscribe(Term::A)));
        }
        self.mallory_subscribe_action(st, out);
        let live = matches!(v.phase, Phase::Active { .. });
        if r.resubscribe && live && v.dialog.is_some() {
            if !v.refreshed {
                out.push(Action::Race(RaceAction::Resubscribe(EXPIRES)));
            }
            if !v.unsubscribed {
                out.push(Action::Race(RaceAction::Resubscribe(0)));
            }
        }
    }

    fn mallory_subscribe_action(&self, st: &State, out: &mut Vec<Action>) {
        if self.setup.races.subscriptions
            && !st.races.subs.m_sent
            && st.term(Term::A).group.is_some()
            && !st.net.iter().any(|p| p.src == Node::T(Term::M))
        {
            out.push(Action::Race(RaceAction::ConferenceSubscribe(Term::M)));
        }
    }

    /// `t` sends `req` and the server receives it in the same step (the caller made
    /// sure nothing of `t`'s is on its way to the server).
    fn send_now(&self, st: &mut State, t: Term, req: Request, log: &mut Log) {
        self.send(st, t, req, true, log);
        let Some(i) = st.net.iter().rposition(|p| p.src == Node::T(t)) else {
            return;
        };
        let p = st.net.remove(i);
        let first = self.server_receives(st, t, p.msg, log);
        self.drain_from(st, &first, log);
    }

    /// Whether the model fires the server's `SubscriptionExpiry` (with `resubscribe`).
    pub(crate) fn fires_subscription_expiry(&self) -> bool {
        self.setup.races.resubscribe
    }

    /// `t` (A or Mallory) subscribes at the focus URI A learnt (Mallory learnt it too:
    /// the URI is no secret).
    pub(super) fn conference_subscribe(&self, st: &mut State, t: Term, log: &mut Log) {
        let call = if t == Term::A {
            st.races.subs.a_sent = true;
            A_SUB_CALL
        } else {
            st.races.subs.m_sent = true;
            M_SUB_CALL
        };
        let Some(focus) = st.group_focus(Term::A) else {
            return;
        };
        let branch = Self::branch(st, t, "conference");
        let mut req = terminal::request(
            t,
            self.transport(),
            Method::Subscribe,
            focus.clone(),
            focus,
            call,
            &branch,
        );
        req.headers
            .other
            .push(("Event".into(), "conference".into()));
        req.headers.expires = Some(EXPIRES);
        self.send_now(st, t, req, log);
    }

    /// A refreshes its subscription (`expires` > 0) or ends it (`Expires: 0`) in its
    /// dialog.
    pub(super) fn resubscribe(&self, st: &mut State, expires: u32, log: &mut Log) {
        let branch = Self::branch(st, Term::A, "resubscribe");
        let transport = self.transport();
        let races = &mut *st.races;
        if expires == 0 {
            races.subs.unsubscribed = true;
        } else {
            races.subs.refreshed = true;
        }
        let Some(d) = races.subs.dialog.as_mut() else {
            return;
        };
        let mut req = terminal::in_dialog(Term::A, transport, d, Method::Subscribe, &branch);
        req.headers
            .other
            .push(("Event".into(), "conference".into()));
        req.headers.expires = Some(expires);
        self.send_now(st, Term::A, req, log);
    }

    /// A SUBSCRIBE of A's or Mallory's reaches the server: what it must get.
    pub(super) fn subscription_receives(&self, st: &mut State, from: Term, r: &Request) {
        if r.method != Method::Subscribe {
            return;
        }
        let call = r.headers.call_id.as_str();
        let g = &st.ghost;
        let sealing = g.seals.contains(&Sess::Group);
        let a = Term::A.index();
        let a_in = g.group_joined[a] && !g.group_left[a] && !g.removed[a];
        let races = &mut *st.races;
        let v = &mut races.subs;
        match (from, call) {
            (Term::A, A_SUB_CALL) if r.headers.to.tag().is_none() => {
                let expect = if sealing {
                    Expect::Gone
                } else if a_in {
                    v.due = Some(Due::First);
                    Expect::Accepted
                } else {
                    Expect::Refused
                };
                v.expect[0] = Some(expect);
            }
            (Term::A, A_SUB_CALL) if matches!(v.phase, Phase::Active { .. }) => {
                v.due = Some(if r.headers.expires == Some(0) {
                    Due::Ended
                } else {
                    Due::Refreshed
                });
            }
            (Term::M, M_SUB_CALL) => {
                v.expect[1] = Some(if sealing {
                    Expect::Gone
                } else {
                    Expect::Refused
                });
            }
            _ => {}
        }
    }

    /// The server's `SubscriptionExpiry` fires: a live subscription must end now.
    pub(crate) fn subscription_timer(&self, st: &mut State, timer: &Timer) {
        if matches!(timer, Timer::SubscriptionExpiry(_))
            && matches!(st.races.subs.phase, Phase::Active { .. })
        {
            st.races.subs.due = Some(Due::Ended);
        }
    }

    /// What the server sends A or Mallory on the subscriptions.
    pub(super) fn subscription_transmit(&self, st: &mut State, t: Term, msg: &SipMessage) {
        match msg {
            SipMessage::Response(r)
                if r.headers.cseq.method == Method::Subscribe && r.status.is_final() =>
            {
                self.subscribe_answered(st, t, r)
            }
            SipMessage::Request(r)
                if r.method == Method::Notify && r.headers.call_id.as_str() == A_SUB_CALL =>
            {
                self.subscription_notify(st, r)
            }
            SipMessage::Request(r) if r.method == Method::Notify && t == Term::M => {
                st.races.flaw(RaceFlaw::Subscribe)
            }
            SipMessage::Request(_) | SipMessage::Response(_) => {}
        }
    }

    fn subscribe_answered(&self, st: &mut State, t: Term, r: &Response) {
        // The subscriber reads it at once (`race_consumes` takes it off the network).
        let ours = |q: &Request| {
            q.headers.call_id == r.headers.call_id && q.headers.cseq == r.headers.cseq
        };
        let dialog = (t == Term::A && r.status.is_success())
            .then(|| {
                st.term(t)
                    .outstanding
                    .iter()
                    .find(|q| ours(q))
                    .map(|q| Dialog::caller(q, r))
            })
            .flatten();
        if st.term(t).outstanding.iter().any(ours) {
            st.term_mut(t).outstanding.retain(|q| !ours(q));
        }
        let code = r.status.get();
        let i = match (t, r.headers.call_id.as_str()) {
            (Term::A, A_SUB_CALL) if r.headers.cseq.seq == 1 => 0,
            (Term::M, M_SUB_CALL) => 1,
            // Refreshes are judged by the NOTIFY they ask for.
            _ => return,
        };
        let races = &mut *st.races;
        let Some(expect) = races.subs.expect[i] else {
            return;
        };
        let (right, flaw) = match expect {
            Expect::Accepted => (r.status.is_success(), RaceFlaw::Subscribe),
            Expect::Refused => (code == 403, RaceFlaw::Subscribe),
            Expect::Gone => (code == 404, RaceFlaw::SubscriptionEnd),
        };
        if !right {
            races.flaw(flaw);
        }
        match expect {
            Expect::Refused if code == 403 && i == 1 => races.reach(RaceReached::OutsiderRefused),
            Expect::Gone if code == 404 => races.reach(RaceReached::SubscribeGone),
            Expect::Accepted | Expect::Refused | Expect::Gone => {}
        }
        if i == 0 && r.status.is_success() {
            let v = &mut races.subs;
            v.dialog = dialog;
            if v.phase == Phase::None {
                v.phase = Phase::Active { notifies: 0 };
            }
        }
    }

    /// A NOTIFY on A's subscription.
    fn subscription_notify(&self, st: &mut State, r: &Request) {
        let body = String::from_utf8_lossy(&r.body);
        let full = body.contains("state=\"full\"");
        let state = r.headers.other("Subscription-State").unwrap_or("");
        let ending = state
            .strip_prefix("terminated")
            .map(|rest| rest.contains("reason=timeout"));
        let departed = [Term::A, Term::B, Term::C].map(|t| departed(&body, t));
        let all_users = [Term::A, Term::B, Term::C]
            .into_iter()
            .all(|t| body.contains(&format!("<user entity=\"{}\"", t.user().as_str())));
        let sealing = st.ghost.seals.contains(&Sess::Group);
        let left = st.ghost.group_left;
        let races = &mut *st.races;
        let v = &mut races.subs;
        let mut flaws = Vec::new();
        let mut reached = Vec::new();
        match v.phase {
            Phase::TimedOut => flaws.push(RaceFlaw::Resubscribe),
            Phase::NoResource => flaws.push(RaceFlaw::SubscriptionEnd),
            // A NOTIFY before the 200 (the server sends the 200 first) or on a
            // subscription refused.
            Phase::None if v.expect[0] != Some(Expect::Accepted) => flaws.push(RaceFlaw::Subscribe),
            Phase::None | Phase::Active { .. } => {}
        }
        let first = matches!(v.phase, Phase::None | Phase::Active { notifies: 0 });
        if first && !(full && all_users) {
            // GRP-10: the first NOTIFY is the full state, every participant in it.
            flaws.push(RaceFlaw::Subscribe);
        }
        let due = v.due.take();
        match due {
            Some(Due::First) if !full => flaws.push(RaceFlaw::Subscribe),
            Some(Due::Refreshed) if !full || ending.is_some() => flaws.push(RaceFlaw::Resubscribe),
            Some(Due::Refreshed) => reached.push(RaceReached::Refreshed),
            Some(Due::Ended) if ending != Some(true) => flaws.push(RaceFlaw::Resubscribe),
            Some(Due::First) | Some(Due::Ended) | None => {}
        }
        match ending {
            Some(true) => {
                // Ended early: neither `Expires: 0` nor the expiry asked for it.
                if due != Some(Due::Ended) {
                    flaws.push(RaceFlaw::Resubscribe);
                }
                v.phase = Phase::TimedOut;
                reached.push(RaceReached::SubscriptionTimedOut);
            }
            Some(false) => {
                // GRP-13: before the seal, after every departure was reported.
                let reported = (0..3).all(|i| !left[i] || v.departed[i]);
                if sealing || !reported {
                    flaws.push(RaceFlaw::SubscriptionEnd);
                }
                v.phase = Phase::NoResource;
                reached.push(RaceReached::SubscriptionNoResource);
            }
            None => {
                let notifies = match v.phase {
                    Phase::Active { notifies } => notifies,
                    Phase::None | Phase::TimedOut | Phase::NoResource => 0,
                };
                if matches!(v.phase, Phase::None | Phase::Active { .. }) {
                    v.phase = Phase::Active {
                        notifies: notifies.saturating_add(1),
                    };
                }
            }
        }
        for (i, d) in departed.into_iter().enumerate() {
            v.departed[i] |= d;
        }
        for f in flaws {
            races.flaw(f);
        }
        for r in reached {
            races.reach(r);
        }
    }
}

/// Whether `msg` is a final answer to A's or Mallory's SUBSCRIBE.
pub(super) fn answer(msg: &SipMessage) -> bool {
    let SipMessage::Response(r) = msg else {
        return false;
    };
    let call = r.headers.call_id.as_str();
    r.headers.cseq.method == Method::Subscribe
        && r.status.is_final()
        && (call == A_SUB_CALL || call == M_SUB_CALL)
}

/// Whether the document's `user` element for `t` says it departed.
fn departed(body: &str, t: Term) -> bool {
    let user = format!("<user entity=\"{}\"", t.user().as_str());
    body.find(&user).is_some_and(|at| {
        let rest = &body[at..];
        let end = rest.find("</user>").unwrap_or(rest.len());
        rest[..end].contains("<disconnection-method>departed")
    })
}

/// GRP-10: no flaw, and no first NOTIFY left due after a step.
pub(super) fn grp_10(_: &CpmModel, st: &State) -> bool {
    !st.races.flaws.contains(&RaceFlaw::Subscribe) && st.races.subs.due != Some(Due::First)
}

/// GRP-11: no flaw, no refresh or ending left unanswered by a NOTIFY after a step,
/// and the subscription's expiry armed for exactly the granted `Expires` (the
/// model's clock is the constant `NOW`: the subscription lives that long unless
/// refreshed).
pub(super) fn grp_11(_: &CpmModel, st: &State) -> bool {
    let lives = st.server.armed_timers().all(|(t, at)| {
        !matches!(t, Timer::SubscriptionExpiry(_))
            || at.as_ms() == NOW.as_ms() + u64::from(EXPIRES) * 1000
    });
    lives
        && !st.races.flaws.contains(&RaceFlaw::Resubscribe)
        && !matches!(st.races.subs.due, Some(Due::Refreshed | Due::Ended))
}

/// GRP-13: no flaw, and no live subscription once the group's seal was asked for.
pub(super) fn grp_13(_: &CpmModel, st: &State) -> bool {
    let live = matches!(st.races.subs.phase, Phase::Active { .. });
    let sealing = st.ghost.seals.contains(&Sess::Group);
    !st.races.flaws.contains(&RaceFlaw::SubscriptionEnd) && (!sealing || !live)
}
