//! A subject change racing a subscription and a leave (specs/group.md "The subject",
//! GRP-33, with GRP-12's order and versions): A may subscribe to the conference state
//! at the focus URI, B may change the subject with an UPDATE in its group dialog, C
//! may leave. The observer keeps the changes in the order the server received them
//! and A's view, built from each NOTIFY the server sends A: a full state must show
//! exactly the changes made so far, each partial the next change, so A sees the
//! subject change exactly once and in order with C's departure, and the documents'
//! versions count 1, 2, 3...
//!
//! What it is not: the documents' schema (e2e tests validate it with `xmllint`).

use cpmd_core::sip::{Method, Request};

use super::{RaceAction, RaceFlaw, RaceReached};
use crate::model::{Action, CpmModel, Log, State};
use crate::terminal::{self, Term};

/// The subject B sets.
pub const NEW_SUBJECT: &str = "Dinner";
/// Call-ID of A's SUBSCRIBE.
const A_SUBSCRIBE_CALL: &str = "alice-call-subscribe";

/// A change of the group that A's documents must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// B's new subject.
    Subject,
    /// C left.
    CLeft,
}

/// A's subscription, B's subject change and what A saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubjectView {
    /// A sent its SUBSCRIBE.
    pub subscribed: bool,
    /// B sent its UPDATE.
    pub changed: bool,
    /// The changes in the order the server received them.
    pub server: Vec<Change>,
    /// The changes A learnt, in order (`None` before its first document).
    pub seen: Option<Vec<Change>>,
    /// The version of A's last document.
    pub version: u32,
}

impl CpmModel {
    pub(super) fn subject_actions(&self, st: &State, out: &mut Vec<Action>) {
        // As the REFERs of `refers`: once the replaced 1-to-1 is sealed, so that the
        // races are the subscription, the subject change and C's leave, not the
        // 1-to-1's handshake (which multiplied the states beyond the CI budget).
        if !st.ghost.seal_durable {
            return;
        }
        let v = &st.races.subject;
        if !v.subscribed && st.term(Term::A).group.is_some() {
            out.push(Action::Race(RaceAction::Subscribe));
        }
        let b = st.term(Term::B);
        if !v.changed && b.group.is_some() && !b.left_group {
            out.push(Action::Race(RaceAction::ChangeSubject));
        }
    }

    /// A subscribes at the focus URI (outside any dialog, RFC 6665).
    pub(super) fn subscribe(&self, st: &mut State, log: &mut Log) {
        st.races.subject.subscribed = true;
        let Some(focus) = st.group_focus(Term::A) else {
            return;
        };
        let branch = Self::branch(st, Term::A, "subscribe");
        let mut req = terminal::request(
            Term::A,
            self.transport(),
            Method::Subscribe,
            focus.clone(),
            focus,
            A_SUBSCRIBE_CALL,
            &branch,
        );
        req.headers
            .other
            .push(("Event".into(), "conference".into()));
        req.headers.expires = Some(600);
        self.send(st, Term::A, req, true, log);
    }

    /// B changes the subject: an UPDATE in its group dialog with a new `Subject`.
    pub(super) fn change_subject(&self, st: &mut State, log: &mut Log) {
        st.races.subject.changed = true;
        let branch = Self::branch(st, Term::B, "subject");
        let transport = self.transport();
        let Some(d) = st.term_mut(Term::B).group.as_mut() else {
            return;
        };
        let mut req = terminal::in_dialog(Term::B, transport, d, Method::Update, &branch);
        req.headers
            .other
            .push(("Subject".into(), NEW_SUBJECT.into()));
        self.send(st, Term::B, req, true, log);
    }

    /// The changes as the server receives them (it acts on each at once).
    pub(super) fn subject_receives(&self, st: &mut State, from: Term, r: &Request) {
        let on_group = st
            .term(from)
            .group
            .as_ref()
            .is_some_and(|d| d.call_id == r.headers.call_id);
        let change = if !on_group {
            None
        } else if from == Term::B && r.method == Method::Update {
            Some(Change::Subject)
        } else if from == Term::C && r.method == Method::Bye {
            Some(Change::CLeft)
        } else {
            None
        };
        if let Some(c) = change {
            if !st.races.subject.server.contains(&c) {
                st.races.subject.server.push(c);
            }
        }
    }

    /// A NOTIFY of the conference package the server sends A.
    pub(super) fn subject_notify(&self, st: &mut State, r: &Request) {
        let body = String::from_utf8_lossy(&r.body);
        let races = &mut *st.races;
        let v = &mut races.subject;
        let version = attr(&body, "version").and_then(|n| n.parse::<u32>().ok());
        let mut flawed = version != Some(v.version + 1);
        v.version = version.unwrap_or(v.version + 1);
        let subject = body.contains(&format!("<subject>{NEW_SUBJECT}</subject>"));
        let departed = carol_departed(&body);
        let mut reached = Vec::new();
        if attr(&body, "state") == Some("full") {
            // The full state shows exactly the changes made so far.
            let mut shown: Vec<Change> = Vec::new();
            if subject {
                shown.push(Change::Subject);
                reached.push(RaceReached::SubjectInFullState);
            }
            if departed {
                shown.push(Change::CLeft);
            }
            let mut made = v.server.clone();
            made.sort();
            flawed |= shown != made;
            v.seen = Some(v.server.clone());
        } else {
            // A partial reports the next change, once.
            let mut report = Vec::new();
            if subject {
                report.push(Change::Subject);
                reached.push(RaceReached::SubjectPartial);
            }
            if departed {
                report.push(Change::CLeft);
            }
            for c in report {
                let Some(seen) = v.seen.as_mut() else {
                    flawed = true;
                    continue;
                };
                if v.server.get(seen.len()) != Some(&c) {
                    flawed = true;
                    continue;
                }
                match c {
                    Change::Subject if seen.contains(&Change::CLeft) => {
                        reached.push(RaceReached::LeaveBeforeSubject)
                    }
                    Change::CLeft if seen.contains(&Change::Subject) => {
                        reached.push(RaceReached::SubjectBeforeLeave)
                    }
                    Change::Subject | Change::CLeft => {}
                }
                seen.push(c);
            }
        }
        if flawed {
            races.flaw(RaceFlaw::Subject);
        }
        for r in reached {
            races.reach(r);
        }
    }
}

/// Whether the document's `user` element for carol says she departed.
fn carol_departed(body: &str) -> bool {
    let user = format!("<user entity=\"{}\"", Term::C.user().as_str());
    body.find(&user).is_some_and(|at| {
        let rest = &body[at..];
        let end = rest.find("</user>").unwrap_or(rest.len());
        rest[..end].contains("<disconnection-method>departed")
    })
}

/// The value of the document element's attribute `name` (its first occurrence).
fn attr<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let root = &body[body.find("<conference-info")?..];
    let start = root.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = &root[start..];
    Some(&rest[..rest.find('"')?])
}

/// GRP-33 (and GRP-12 for A's subscription): no flaw; in an end state A, once
/// subscribed, saw every change.
pub(super) fn grp_33(model: &CpmModel, st: &State) -> bool {
    if st.races.flaws.contains(&RaceFlaw::Subject) {
        return false;
    }
    if !model.is_end(st) {
        return true;
    }
    let v = &st.races.subject;
    v.seen
        .as_ref()
        .is_none_or(|seen| seen.len() == v.server.len())
}
