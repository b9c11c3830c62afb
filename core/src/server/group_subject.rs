//! The group's subject changed by a participant (specs/group.md, GRP-33): an UPDATE
//! (RFC 3311) or re-INVITE in the participant's group dialog carrying a `Subject`
//! header that differs from the group's. The new subject is stored in the group's
//! state (its session info, which the group's history and state object carry) and
//! announced to the conference subscribers in `conference-description/subject`.
//!
//! What it is not: answering the request (group.rs `answer_group_in_dialog`) nor the
//! document's bytes (`wire::conference_info`).

use super::config::Mutation;
use super::keys::LegKey;
use super::session::{ParticipantStatus, Session};
use super::Server;
use crate::ids::SessionId;
use crate::shared::Shared;
use crate::sip::{Method, Request};
use crate::time::Time;
use crate::uri::UserUri;

/// RFC 3261 §20.36 puts no bound on `Subject`; the group's is kept to this many bytes
/// (cut at a character boundary) so one request cannot grow every later NOTIFY.
pub(crate) const MAX_SUBJECT_BYTES: usize = 256;

impl Server {
    /// GRP-33: a joined participant's UPDATE or re-INVITE on its group leg whose
    /// `Subject` is new changes the group's subject (answered 200 already).
    pub(crate) fn subject_in_dialog(&mut self, now: Time, leg: &LegKey, req: &Request) {
        if !matches!(req.method, Method::Update | Method::Invite) {
            return;
        }
        let Some(subject) = req.headers.other("Subject").map(str::trim) else {
            return;
        };
        let Some((gid, user)) = self.legs.get(leg).map(|l| (l.session, l.user.clone())) else {
            return;
        };
        let joined = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.participants.get(&user).is_some_and(|p| {
                p.status == ParticipantStatus::Joined && p.leg.as_ref() == Some(leg)
            }),
            Some(Session::One(_)) | None => false,
        };
        if joined {
            self.change_subject(now, gid, &user, bounded(subject));
        }
    }

    /// The one place a group's subject changes: stored in the group's state, then
    /// announced to every subscriber as a partial NOTIFY with the new subject
    /// (GRP-33). A subject equal to the current one changes nothing.
    pub(crate) fn change_subject(
        &mut self,
        now: Time,
        gid: SessionId,
        by: &UserUri,
        subject: String,
    ) {
        let Some(Session::Group(g)) = self.sessions.get_mut(&gid) else {
            return;
        };
        if g.info.subject.as_deref() == Some(subject.as_str()) {
            return;
        }
        Shared::make_mut(&mut g.info).subject = Some(subject);
        tracing::debug!(group = %gid, by = %by, "group subject changed");
        if self.config.mutation == Mutation::SubjectNotAnnounced {
            return;
        }
        self.announce(now, gid, &[]);
    }
}

fn bounded(subject: &str) -> String {
    let mut end = subject.len().min(MAX_SUBJECT_BYTES);
    while !subject.is_char_boundary(end) {
        end -= 1;
    }
    subject[..end].to_owned()
}
