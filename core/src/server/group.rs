//! Group sessions hosted by the server's focus: creation once the group's info is
//! durable, invitations (naming the replaced 1-to-1 for its other party), joins,
//! declines, BYEs, and the group's own history object (specs/group.md, GRP-1..GRP-5;
//! EXT-5, EXT-6).

use super::config::Mutation;
use super::keys::LegKey;
use super::leg::{cpm_contact, domain_uri, server_contact};
use super::msrp_media::PeerMedia;
use super::output::{Command, Event, Flow, SessionOutcome};
use super::refusal::Refusal;
use super::session::{GroupState, OneState, Participant, ParticipantStatus, Session};
use super::timer::Timer;
use super::transaction::Owner;
use super::{Server, TicketUse, TxKey};
use crate::ids::SessionId;
use crate::record::{HistoryObject, ParticipantRecord};
use crate::sip::{MediaType, Method, NameAddr, Replaces, Request, StatusCode};
use crate::time::Time;
use crate::uri::{Uri, UserUri};
use crate::wire::uri::{parse_uri, print_uri};

impl Server {
    /// The store answered the group's info `Persist` (EXT-4): create the group and
    /// answer A (EXT-5), then invite the others (EXT-6).
    pub(crate) fn on_group_info_stored(
        &mut self,
        now: Time,
        gid: SessionId,
        stored: Result<(), Refusal>,
    ) {
        let Some(Session::Group(group)) = self.sessions.get_mut(&gid) else {
            return;
        };
        let Some(creating) = group.activate() else {
            return;
        };
        let (focus_user, replaces) = (group.focus_user.clone(), group.replaces);
        let (conversation, contribution) = (
            group.info.key.conversation_id.clone(),
            group.info.key.contribution_id.clone(),
        );
        let stored = match stored {
            Err(_) if self.config.mutation == Mutation::GroupOnFailedInfo => Ok(()),
            stored => stored,
        };
        if let Err(why) = stored {
            self.release_replaced(replaces);
            let req = creating.a_invite.clone();
            self.refuse_request(now, &creating.a_tx, &req, why);
            return self.drop_session(gid, SessionOutcome::Failed);
        }
        let Some(flow) = self.tx.flow(&creating.a_tx) else {
            // A's transaction is gone (it gave up): there is no one to answer.
            self.release_replaced(replaces);
            return self.drop_session(gid, SessionOutcome::Failed);
        };
        let a_leg = self.new_uas_leg(gid, &creating.a_invite, flow, creating.requester.clone());
        let mut ok_resp = a_leg.response(&creating.a_invite, StatusCode::OK);
        ok_resp.headers.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, &focus_user, flow, true),
            super::sips::secure(&creating.a_invite.uri, flow),
        ))];
        ok_resp.headers.conversation_id = Some(conversation);
        ok_resp.headers.contribution_id = Some(contribution);
        ok_resp.headers.content_type = Some(MediaType::new("application", "sdp"));
        // GRP-30: the focus says it takes SUBSCRIBE and REFER.
        ok_resp
            .headers
            .other
            .push(("Allow".into(), crate::sip::ALLOW.into()));
        let a_key = a_leg.key.clone();
        // MSRP-1: the focus answers A's offer with its own path on A's group leg.
        let offer = self
            .offer_of(&creating.a_invite)
            .ok()
            .and_then(|b| b.sdp)
            .and_then(|sdp| PeerMedia::of(&sdp));
        ok_resp.body = match &offer {
            Some(offer) => self.msrp_answer_offer(&a_key, offer, None),
            None => self.msrp_offer(&a_key, None),
        };
        self.legs.insert(a_key.clone(), a_leg.into());
        self.set_participant(
            now,
            gid,
            &creating.requester,
            Some(a_key.clone()),
            ParticipantStatus::Joined,
        );
        self.respond_2xx(now, &a_key, &creating.a_tx, ok_resp);
        self.msrp_start(&a_key);
        self.out.event(Event::GroupCreated {
            group: gid,
            replaces,
        });
        for user in &creating.invitees {
            self.invite_participant(now, gid, user, &creating.requester);
        }
    }

    /// EXT-6: the focus's INVITE to one invitee, on every device (GRP-31).
    pub(crate) fn invite_participant(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        requester: &UserUri,
    ) {
        let Some(Session::Group(group)) = self.sessions.get(&gid) else {
            return;
        };
        // The other party of the replaced 1-to-1 is invited on the device that holds
        // that session (the one that can replace it); anyone else on every device.
        let devices: Vec<(NameAddr, Flow)> =
            match group.replaces.and_then(|one| self.device_of(one, user)) {
                Some(device) => vec![device],
                None => {
                    let local: Vec<(NameAddr, Flow)> = self
                        .registrar
                        .lookup_all(user)
                        .into_iter()
                        .map(|b| (b.contact, b.flow))
                        .collect();
                    if local.is_empty() {
                        // SCALE-5: a user registered through another node.
                        self.reachable_bindings(now, user)
                            .into_iter()
                            .map(|b| (b.contact, b.flow))
                            .collect()
                    } else {
                        local
                    }
                }
            };
        // GRP-43: a participant invited again (after declining, not answering or
        // leaving) had a closed leg: it is forgotten now, as nobody else holds it.
        self.forget_closed_leg(gid, user);
        if devices.is_empty() {
            return self.set_participant(now, gid, user, None, ParticipantStatus::NoAnswer);
        }
        let mut forks = std::collections::BTreeMap::new();
        for (contact, device_flow) in devices {
            if let Some((leg, tx)) =
                self.invite_device(now, gid, user, requester, &contact, device_flow)
            {
                forks.insert(leg, tx);
            }
        }
        self.set_participant(now, gid, user, None, ParticipantStatus::Invited);
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            if let Some(p) = g.participants.get_mut(user) {
                p.invitation.forks.extend(forks);
                p.invitation.refused = false;
            }
        }
    }

    /// GRP-43: forgets `user`'s leg in `gid` if it is closed (the participant's
    /// last dialog ended: a decline, no answer, a BYE), MSRP endpoint and all.
    fn forget_closed_leg(&mut self, gid: SessionId, user: &UserUri) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return;
        };
        let Some(leg) = g.participants.get(user).and_then(|p| p.leg.clone()) else {
            return;
        };
        let closed = self
            .legs
            .get(&leg)
            .is_none_or(|l| l.state == super::leg::LegState::Closed);
        if !closed {
            return;
        }
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            if let Some(p) = g.participants.get_mut(user) {
                p.leg = None;
            }
        }
        self.out.disarm(&Timer::Retransmit2xx(leg.clone()));
        self.legs.remove(&leg);
        self.forget_msrp_leg(&leg);
    }

    /// The focus's INVITE to one device of `user`: its leg and client transaction.
    fn invite_device(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        requester: &UserUri,
        contact: &NameAddr,
        device_flow: Flow,
    ) -> Option<(LegKey, TxKey)> {
        let Some(Session::Group(group)) = self.sessions.get(&gid) else {
            return None;
        };
        let focus = NameAddr::new(domain_uri(&self.config, &group.focus_user));
        let (conversation, contribution) = (
            group.info.key.conversation_id.clone(),
            group.info.key.contribution_id.clone(),
        );
        let focus_user = group.focus_user.clone();
        let replaced = group
            .replaces
            .and_then(|one| self.replaced_names(one, user));
        let mut leg = self.new_uac_leg(gid, user.clone(), contact, device_flow, focus);
        let mut invite = leg.request(Method::Invite, &self.config, &self.ids);
        let h = &mut invite.headers;
        // GRP-9: the focus's Contact (isfocus) carries the CPM feature tags too.
        h.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, &focus_user, leg.flow, true),
            super::sips::secure(&leg.remote_target.get(), leg.flow),
        ))];
        if self.config.mutation == Mutation::FocusContactPlain {
            h.contact = vec![server_contact(&self.config, &focus_user, leg.flow, false)];
        }
        h.conversation_id = Some(conversation);
        h.contribution_id = Some(contribution);
        h.referred_by = Some(Box::new(NameAddr::new(identity_uri(requester))));
        h.other.push(("Allow".into(), crate::sip::ALLOW.into()));
        h.content_type = Some(MediaType::new("application", "sdp"));
        if let Some((session_replaces, replaces)) = replaced {
            h.session_replaces = Some(session_replaces);
            h.replaces = vec![replaces];
        }
        let flow = leg.flow;
        let key = leg.key.clone();
        // MSRP-1: the focus offers its own path (actpass) with the group's types.
        let media = self
            .sessions
            .get(&gid)
            .and_then(|s| PeerMedia::of_body(s.info().sdp.as_bytes()));
        invite.body = self.msrp_offer(&key, media.as_ref());
        self.legs.insert(key.clone(), leg.into());
        let timers = self.config.timers;
        let tx = self.tx.send_request(
            now,
            flow,
            invite,
            Owner::GroupInvite(gid, user.clone(), key.clone()),
            &timers,
            &mut self.out,
        );
        Some((key, tx))
    }

    /// For the other party of the replaced 1-to-1: the Session-Replaces value and the
    /// RFC 3891 Replaces naming that party's own leg (its tag is the recipient's
    /// local tag, ours the from-tag).
    fn replaced_names(
        &self,
        one: SessionId,
        user: &UserUri,
    ) -> Option<(crate::ids::ContributionId, Replaces)> {
        let one = self.one(one)?;
        let leg = self.legs.get(one.leg_of(user)?)?;
        Some((
            one.info.key.contribution_id.clone(),
            Replaces {
                call_id: leg.key.call_id().clone(),
                to_tag: leg.remote_tag.clone()?,
                from_tag: leg.key.local_tag().clone(),
                early_only: false,
            },
        ))
    }

    /// The device (contact and flow) on which `user` holds its leg of the 1-to-1 `one`.
    fn device_of(&self, one: SessionId, user: &UserUri) -> Option<(NameAddr, Flow)> {
        let leg = self.legs.get(self.one(one)?.leg_of(user)?)?;
        Some((NameAddr::new(leg.remote_target.get()), leg.flow))
    }

    /// Records a participant's new status; a change is announced to the group's
    /// subscribers (GRP-12).
    pub(crate) fn set_participant(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        leg: Option<LegKey>,
        status: ParticipantStatus,
    ) {
        let mut changed = false;
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            let before = g.participants.get(user).map(|p| p.status);
            let p = g.participants.entry(user.clone()).or_insert(Participant {
                leg: None,
                status,
                invitation: Default::default(),
            });
            // GRP-7: only someone who joined can leave; an invitee whose invitation
            // ends unanswered did not answer.
            let never_joined = matches!(
                p.status,
                ParticipantStatus::Invited
                    | ParticipantStatus::Declined
                    | ParticipantStatus::NoAnswer
            );
            p.status = match status {
                ParticipantStatus::Left if never_joined => match p.status {
                    ParticipantStatus::Invited => ParticipantStatus::NoAnswer,
                    ParticipantStatus::Joined
                    | ParticipantStatus::Declined
                    | ParticipantStatus::NoAnswer
                    | ParticipantStatus::Left
                    | ParticipantStatus::Removed => p.status,
                },
                // GRP-15: a removed participant's leg ending is not a departure.
                ParticipantStatus::Left if p.status == ParticipantStatus::Removed => p.status,
                ParticipantStatus::Invited
                | ParticipantStatus::Joined
                | ParticipantStatus::Declined
                | ParticipantStatus::NoAnswer
                | ParticipantStatus::Left
                | ParticipantStatus::Removed => status,
            };
            if leg.is_some() {
                p.leg = leg;
            }
            changed = before != Some(p.status);
        }
        if changed {
            // GRP-20: each change is a new version of the group state object.
            self.record_group_state(gid);
            self.announce(now, gid, std::slice::from_ref(user));
            self.report_refers(now, gid, user);
        }
    }

    /// GRP-21: `user` is joined again, on its new leg `leg`. Its old leg (ended by
    /// its BYE, or lost by its device) is forgotten with its MSRP endpoint: the group
    /// holds one leg per participant, and the group's end removes only those.
    pub(crate) fn rejoin_participant(
        &mut self,
        now: Time,
        gid: SessionId,
        user: &UserUri,
        leg: LegKey,
    ) {
        let old = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.participants.get(user).and_then(|p| p.leg.clone()),
            Some(Session::One(_)) | None => None,
        };
        if let Some(old) = old.filter(|old| *old != leg) {
            self.out.disarm(&Timer::Retransmit2xx(old.clone()));
            self.legs.remove(&old);
            self.forget_msrp_leg(&old);
        }
        self.set_participant(now, gid, user, Some(leg), ParticipantStatus::Joined);
    }

    /// GRP-15: the chairman removed `user` (its BYE is on its way).
    pub(crate) fn remove_participant(&mut self, now: Time, gid: SessionId, user: &UserUri) {
        self.set_participant(now, gid, user, None, ParticipantStatus::Removed);
    }

    pub(crate) fn arm_replaced_bye(&mut self, now: Time, gid: SessionId, user: &UserUri) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return;
        };
        let Some(one) = g.replaces.and_then(|id| self.one(id)) else {
            return;
        };
        if one.leg_of(user).is_some() && one.state == OneState::Established {
            let at = now.plus_ms(self.config.timers.replaced_bye_timeout_ms);
            self.out.arm(Timer::ReplacedBye(one.id), at);
        }
    }

    /// GRP-5: a participant's BYE removes only that participant.
    pub(crate) fn on_group_bye(
        &mut self,
        now: Time,
        gid: SessionId,
        leg: &LegKey,
        key: TxKey,
        req: Request,
    ) {
        let user = self.legs.get(leg).map(|l| l.user.clone());
        if let Some(user) = user {
            self.set_participant(now, gid, &user, None, ParticipantStatus::Left);
        }
        if self.config.mutation == Mutation::GroupByeRemovesAll {
            if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
                for p in g.participants.values_mut() {
                    p.status = ParticipantStatus::Left;
                }
            }
        }
        let Some(Session::Group(g)) = self.sessions.get_mut(&gid) else {
            return self.reply(now, &key, &req, StatusCode::OK);
        };
        let anyone_left = g.participants.values().any(|p| {
            matches!(
                p.status,
                ParticipantStatus::Joined | ParticipantStatus::Invited
            )
        });
        let early = self.config.mutation == Mutation::SealGroupOnFirstLeave;
        if (anyone_left && !early) || g.state != GroupState::Active {
            return self.reply(now, &key, &req, StatusCode::OK);
        }
        // The last one out: its 200 waits for the group's seal (HIST-5).
        g.held_bye = Some(key);
        self.maybe_end_group(now, gid);
    }

    /// Marks a participant as gone (its leg is closing or closed).
    pub(crate) fn leave_group(&mut self, now: Time, gid: SessionId, user: &UserUri) {
        self.set_participant(now, gid, user, None, ParticipantStatus::Left);
    }

    /// In-dialog requests on a group leg are answered by the focus itself.
    pub(crate) fn answer_group_in_dialog(
        &mut self,
        now: Time,
        leg: &LegKey,
        key: TxKey,
        req: Request,
    ) {
        let Some(l) = self.legs.get(leg) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let mut resp = l.response(&req, StatusCode::OK);
        if req.method == Method::Invite {
            if let Some(offer) = PeerMedia::of_body(&req.body) {
                self.msrp_learn(leg, &offer);
            }
            resp.headers.content_type = Some(MediaType::new("application", "sdp"));
            resp.body = self.msrp_sdp(leg);
            self.respond_2xx(now, leg, &key, resp);
        } else {
            let timers = self.config.timers;
            self.tx.respond(now, &key, resp, &timers, &mut self.out);
        }
        // GRP-33: an UPDATE or re-INVITE with a new Subject changes the group's.
        self.subject_in_dialog(now, leg, &req);
    }

    /// GRP-4: the group is sealed once nobody is in it or invited to it, and no
    /// message waits for the store.
    pub(crate) fn maybe_end_group(&mut self, now: Time, gid: SessionId) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return;
        };
        let active = g.participants.values().any(|p| {
            matches!(
                p.status,
                ParticipantStatus::Joined | ParticipantStatus::Invited
            )
        });
        let early = self.config.mutation == Mutation::SealGroupOnFirstLeave;
        if g.state != GroupState::Active || (active && !early) || g.chat.has_pending() {
            return;
        }
        let history = HistoryObject {
            info: (*g.info).clone(),
            messages: g.chat.delivered.clone(),
            participants: g
                .participants
                .iter()
                .map(|(user, p)| ParticipantRecord {
                    user: user.clone(),
                    state: p.status.as_str().to_owned(),
                })
                .collect(),
            focus: Some(self.focus_record_uri(&g.focus_user)),
        };
        // GRP-13: the subscribers learn the group ended (their last NOTIFY).
        let late = self.config.mutation == Mutation::SubscriptionsEndAfterSeal;
        if !late {
            self.end_all_subscriptions(now, gid);
        }
        let ticket = self.ticket(TicketUse::Seal(gid));
        self.out.command(Command::SealSession { ticket, history });
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            g.seal(ticket);
        }
        if late {
            self.end_all_subscriptions(now, gid);
        }
    }
}

/// A URI for an identity (for Referred-By).
fn identity_uri(user: &UserUri) -> Uri {
    parse_uri(user.as_str()).unwrap_or_else(|_| Uri::Other(user.as_str().to_owned()))
}

impl Server {
    /// The focus URI as the group state object names it (`lastfocussessionid`,
    /// GRP-8): `sip:<focus user>@<domain>`.
    pub(crate) fn focus_record_uri(&self, focus_user: &str) -> String {
        let user = if self.config.mutation == Mutation::FocusNamedFactory {
            self.config.conference_factory_user.as_str()
        } else {
            focus_user
        };
        print_uri(&domain_uri(&self.config, user))
    }
}
