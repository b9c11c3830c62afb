//! The claim: extending a 1-to-1 session into a group session
//! (specs/extension.md, EXT-1..EXT-8).
//!
//! A's INVITE to the conference-factory URI names the 1-to-1 to replace in one of
//! three forms (OMA `Session-Replaces`, RFC 3891 `Replaces`, or a URI header of the
//! resource-list entry). The server checks that A may replace it, stores the group
//! session's info (From, To, Date, Conversation-ID, the new Contribution-ID and the
//! SDP media attributes) and only once the store confirms creates the group, answers
//! A, and invites B (naming the replaced session) and C.

use super::config::Mutation;
use super::keys::LegKey;
use super::leg::{domain_uri, LegState};
use super::output::{Command, Flow};
use super::refusal::Refusal;
use super::session::{Creating, Group, GroupState, OneState, Session};
use super::{Server, TicketUse, TxKey};
use crate::body::ResourceList;
use crate::ids::{ContributionId, SessionId};
use crate::record::{Record, SessionType};
use crate::sip::{Replaces, Request};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::uri::print_uri;

impl Server {
    /// An INVITE to the conference factory: a new group, usually replacing a 1-to-1.
    pub(crate) fn on_factory_invite(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        let Some(requester) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        if req.headers.replaces.len() > 1 {
            // RFC 3891 §3: more than one Replaces header.
            return self.refuse_request(now, &key, &req, Refusal::TwoReplaces);
        }
        let body = match self.offer_of(&req) {
            Ok(body) => body,
            Err(why) => return self.refuse_request(now, &key, &req, why),
        };
        // GRP-40: a restart may name no one (the store's last group state does).
        let may_restart = restart_candidate(&req);
        let list = match body.recipients.clone() {
            Some(list) => list,
            None if may_restart => Default::default(),
            None => return self.refuse_request(now, &key, &req, Refusal::NoResourceList),
        };
        let replaced = match self.find_replaced(&req, &list) {
            Ok(r) => r,
            Err(why) => return self.refuse_request(now, &key, &req, why),
        };
        if let Err(why) = self.check_replacement(&req, &requester, replaced) {
            return self.refuse_request(now, &key, &req, why);
        }
        let mut invitees = invitees(&list, &requester);
        if let Some(one) = replaced.and_then(|id| self.one(id)) {
            // EXT-10: the replaced session's other party is invited with the
            // replacement even when the list names only the new parties.
            let other = if one.caller == requester {
                &one.callee
            } else {
                &one.caller
            };
            if *other != requester && !invitees.contains(other) {
                invitees.insert(0, other.clone());
            }
        }
        if invitees.is_empty() && (replaced.is_some() || !may_restart) {
            return self.refuse_request(now, &key, &req, Refusal::NoInvitees);
        }
        // HIST-8: the group's To is the configured conference-factory URI, whatever
        // form (an IP address, parameters) the client gave the Request-URI.
        let factory = domain_uri(&self.config, &self.config.conference_factory_user);
        let mut info = self.session_info(
            &req,
            &requester,
            print_uri(&factory),
            &body,
            invitees.clone(),
            SessionType::AdHoc,
        );
        if let Some(one) = replaced.and_then(|id| self.one(id)) {
            // EXT-3: the group keeps the conversation of the session it replaces.
            info.key.conversation_id = one.info.key.conversation_id.clone();
            if self.config.mutation == Mutation::ReuseContributionId {
                info.key.contribution_id = one.info.key.contribution_id.clone();
            }
        }
        if let (None, Some(Session::Group(_))) = (
            replaced,
            self.by_contribution
                .get(&info.key.contribution_id)
                .and_then(|id| self.sessions.get(id)),
        ) {
            // GRP-25: a restart of a group that is still live; it is rejoined at
            // its focus URI (GRP-21).
            return self.refuse_request(now, &key, &req, Refusal::GroupStillLive);
        }
        if self.by_contribution.contains_key(&info.key.contribution_id)
            && self.config.mutation != Mutation::ReuseContributionId
        {
            return self.refuse_request(now, &key, &req, Refusal::ContributionIdTaken);
        }
        let gid = info.key.session;
        if let Some(Session::One(one)) = replaced.and_then(|id| self.sessions.get_mut(&id)) {
            one.replaced_by = Some(gid);
        }
        // EXT-4: store the group's info before anything is answered.
        let ticket = self.ticket(TicketUse::GroupInfo(gid));
        self.out.command(Command::Persist {
            ticket,
            record: Record::SessionInfo(info.clone()),
        });
        let focus_user = format!("conf-{}", self.ids.hex_token());
        self.by_contribution
            .insert(info.key.contribution_id.clone(), gid);
        let group = Group {
            id: gid,
            info: info.into(),
            focus_user,
            replaces: replaced,
            chat: Default::default(),
            participants: Default::default(),
            held_bye: None,
            subscriptions: Default::default(),
            refers: Vec::new(),
            state: GroupState::Creating(Box::new(Creating {
                ticket,
                a_tx: key,
                a_invite: req,
                requester,
                invitees,
            })),
        };
        self.sessions.insert(gid, Session::Group(Box::new(group)));
    }

    /// EXT-1: the 1-to-1 the INVITE names, by any of the three forms; all forms
    /// present must name the same session (else 400).
    fn find_replaced(
        &self,
        req: &Request,
        list: &ResourceList,
    ) -> Result<Option<SessionId>, Refusal> {
        let mut found = Vec::new();
        if let Some(r) = req.headers.replaces.first() {
            found.push(self.session_by_replaces(r)?);
        }
        if let Some(c) = &req.headers.session_replaces {
            found.push(self.session_by_contribution(c)?);
        }
        for entry in &list.entries {
            if let Some(c) = &entry.session_replaces {
                found.push(self.session_by_contribution(c)?);
            }
            if let Some(r) = &entry.replaces {
                found.push(self.session_by_replaces(r)?);
            }
        }
        found.dedup();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(Refusal::AmbiguousReplaces),
        }
    }

    /// RFC 3891 §3 matching: Call-ID, the server's tag as `to-tag`, the terminal's as
    /// `from-tag`; EXT-7 error codes.
    fn session_by_replaces(&self, r: &Replaces) -> Result<SessionId, Refusal> {
        let key = LegKey::new(r.call_id.clone(), r.to_tag.clone());
        let leg = self.legs.get(&key).ok_or(Refusal::ReplacedUnknown)?;
        if leg.remote_tag.as_ref() != Some(&r.from_tag) {
            return Err(Refusal::ReplacedUnknown);
        }
        if matches!(leg.state, LegState::Closing | LegState::Closed) {
            return Err(Refusal::ReplacedEnding);
        }
        let one = self.one(leg.session).ok_or(Refusal::ReplacedUnknown)?;
        if one.replaced_by.is_some() {
            // EXT-9: a 1-to-1 is replaced by at most one group.
            return Err(Refusal::ReplacedEnding);
        }
        match one.state {
            OneState::Established if r.early_only => Err(Refusal::ReplacedNotEarly),
            OneState::Established => Ok(one.id),
            // An early dialog the server did not originate (A's INVITE to us).
            OneState::Calling(_) => Err(Refusal::ReplacedUnknown),
            OneState::Cancelling(_) | OneState::Terminating(_) | OneState::Sealing(_) => {
                Err(Refusal::ReplacedEnding)
            }
        }
    }

    fn session_by_contribution(&self, c: &ContributionId) -> Result<SessionId, Refusal> {
        let sid = *self
            .by_contribution
            .get(c)
            .ok_or(Refusal::ReplacedUnknown)?;
        let one = self.one(sid).ok_or(Refusal::ReplacedUnknown)?;
        if one.replaced_by.is_some() {
            // EXT-9: a 1-to-1 is replaced by at most one group.
            return Err(Refusal::ReplacedEnding);
        }
        match one.state {
            OneState::Established => Ok(sid),
            OneState::Calling(_) => Err(Refusal::ReplacedUnknown),
            OneState::Cancelling(_) | OneState::Terminating(_) | OneState::Sealing(_) => {
                Err(Refusal::ReplacedEnding)
            }
        }
    }

    /// EXT-2 and EXT-3: only an authenticated party may replace the session, the
    /// Conversation-ID must be the same and the Contribution-ID new.
    fn check_replacement(
        &self,
        req: &Request,
        requester: &UserUri,
        replaced: Option<SessionId>,
    ) -> Result<(), Refusal> {
        let Some(one) = replaced.and_then(|id| self.one(id)) else {
            return Ok(());
        };
        if one.leg_of(requester).is_none() && self.config.mutation != Mutation::ReplaceWithoutAuth {
            return Err(Refusal::NotAParty);
        }
        if req
            .headers
            .conversation_id
            .as_ref()
            .is_some_and(|c| *c != one.info.key.conversation_id)
        {
            return Err(Refusal::ConversationMismatch);
        }
        if req.headers.contribution_id.as_ref() == Some(&one.info.key.contribution_id)
            && self.config.mutation != Mutation::ReuseContributionId
        {
            return Err(Refusal::ContributionIdReused);
        }
        Ok(())
    }

    pub(crate) fn one(&self, sid: SessionId) -> Option<&super::session::OneToOne> {
        match self.sessions.get(&sid) {
            Some(Session::One(one)) => Some(one),
            Some(Session::Group(_)) | None => None,
        }
    }
}

/// The users a list invites: each entry's identity, without the requester and
/// without repeats, in list order.
fn invitees(list: &ResourceList, requester: &UserUri) -> Vec<UserUri> {
    let mut out: Vec<UserUri> = Vec::new();
    for entry in &list.entries {
        if let Some(user) = UserUri::from_uri(&entry.uri) {
            if user != *requester && !out.contains(&user) {
                out.push(user);
            }
        }
    }
    out
}

/// GRP-40: a factory INVITE that may restart an ended group from its stored state:
/// no session to replace, and the ended group's Conversation-ID and
/// Contribution-ID. Whether it names an ended group only the store knows (the
/// core keeps no memory of ended groups); its answer to the group's info says so.
fn restart_candidate(req: &Request) -> bool {
    let h = &req.headers;
    h.replaces.is_empty()
        && h.session_replaces.is_none()
        && h.conversation_id.is_some()
        && h.contribution_id.is_some()
}
