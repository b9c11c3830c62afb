//! Rejoining a live group (RCC.07; specs/group.md, GRP-21): a participant who left
//! (or whose device lost the group's dialog) INVITEs the group's focus URI with the
//! group's Contribution-ID; the focus answers it as it answered the creator (its
//! Contact with `isfocus`, its own MSRP path), the participant is joined again on
//! the new leg (its old leg forgotten), subscribers are told and the group state
//! object gets a version.
//!
//! What it is *not*: restarting a group that ended (its focus URI answers 404 here;
//! the restart goes to the conference factory), nor a re-INVITE in an existing
//! group dialog (`answer_group_in_dialog`).

use super::config::Mutation;
use super::leg::{cpm_contact, server_contact};
use super::msrp_media::PeerMedia;
use super::output::Flow;
use super::refusal::Refusal;
use super::session::{ParticipantStatus, Session};
use super::{Server, TxKey};
use crate::sip::{MediaType, Request, StatusCode};
use crate::time::Time;

impl Server {
    /// An INVITE outside any dialog to a focus URI (`conf-…`).
    pub(crate) fn on_focus_invite(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        // REG-2: act only on the identity the server authenticated.
        let Some(requester) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        // GRP-22: the focus of a group that ended (or never was) is gone.
        let gid = if self.config.mutation == Mutation::RejoinWhileSealing {
            self.any_group_of_focus(&req)
        } else {
            self.group_of_focus(&req)
        };
        let Some(gid) = gid else {
            return self.refuse_request(now, &key, &req, Refusal::NoSuchFocus);
        };
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return self.refuse_request(now, &key, &req, Refusal::NoSuchFocus);
        };
        let (conversation, contribution) = (
            g.info.key.conversation_id.clone(),
            g.info.key.contribution_id.clone(),
        );
        // GRP-21: the INVITE names this group by its Contribution-ID, and comes from
        // one of its participants who is not in it now: one who left, declined or
        // did not answer, or one whose own leg is gone. The removed stay out (GRP-15);
        // one with a pending invitation answers that one.
        let leg_gone = |leg: &Option<super::keys::LegKey>| {
            leg.as_ref()
                .and_then(|l| self.legs.get(l))
                .is_none_or(|l| !l.is_open())
        };
        let may_rejoin = req.headers.contribution_id.as_ref() == Some(&contribution)
            && g.participants
                .get(&requester)
                .is_some_and(|p| match p.status {
                    ParticipantStatus::Left
                    | ParticipantStatus::Declined
                    | ParticipantStatus::NoAnswer => true,
                    ParticipantStatus::Joined => leg_gone(&p.leg),
                    ParticipantStatus::Removed => self.config.mutation == Mutation::RemovedRejoins,
                    ParticipantStatus::Invited => false,
                });
        if !may_rejoin {
            return self.refuse_request(now, &key, &req, Refusal::NotRejoinable);
        }
        let offer = match self.offer_of(&req) {
            Ok(body) => body.sdp.as_ref().and_then(PeerMedia::of),
            Err(why) => return self.refuse_request(now, &key, &req, why),
        };
        let focus_user = g.focus_user.clone();
        let leg = self.new_uas_leg(gid, &req, flow, requester.clone());
        let mut ok = leg.response(&req, StatusCode::OK);
        // GRP-9: the focus's Contact, as in its 200 to the creator.
        ok.headers.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, &focus_user, flow, true),
            super::sips::secure(&req.uri, flow),
        ))];
        ok.headers.conversation_id = Some(conversation);
        ok.headers.contribution_id = Some(contribution);
        ok.headers.content_type = Some(MediaType::new("application", "sdp"));
        let leg_key = leg.key.clone();
        // MSRP-1: the focus answers with its own path on the new leg: the
        // participant is back on the group's relay.
        ok.body = match &offer {
            Some(offer) => self.msrp_answer_offer(&leg_key, offer, None),
            None => self.msrp_offer(&leg_key, None),
        };
        self.legs.insert(leg_key.clone(), leg.into());
        self.rejoin_participant(now, gid, &requester, leg_key.clone());
        self.respond_2xx(now, &leg_key, &key, ok);
        self.msrp_start(&leg_key);
    }

    /// The group whose focus URI the Request-URI names, live or being sealed (only
    /// for `Mutation::RejoinWhileSealing`).
    fn any_group_of_focus(&self, req: &Request) -> Option<crate::ids::SessionId> {
        let user = req.uri.as_sip().and_then(|u| u.user.as_deref())?;
        self.sessions.values().find_map(|s| match s {
            Session::Group(g) if g.focus_user == user => Some(g.id),
            Session::Group(_) | Session::One(_) => None,
        })
    }
}
