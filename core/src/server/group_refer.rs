//! Adding and removing group participants by REFER to the focus (RFC 4579 §5.5,
//! RFC 3515; RCC.07 group chat): a joined participant refers a user to the focus and
//! the focus invites it; the chairman (the group's creator) refers a participant
//! with `method=BYE` and the focus ends that participant's leg. The referrer learns
//! the outcome by `message/sipfrag` NOTIFYs (specs/group.md, GRP-14, GRP-15).
//!
//! What it is not: the invitation itself (group.rs `invite_participant`) nor the
//! conference event package (conference_events.rs), which reports the changes.

use super::config::Mutation;
use std::collections::BTreeSet;

use super::keys::LegKey;
use super::leg::{server_contact, Leg, LegState};
use super::output::Flow;
use super::refer_list::{refer_list, ListAsk};
use super::refusal::Refusal;
use super::session::{NotifyDialog, ParticipantStatus, ReferAwaits, ReferWatch, Session};
use super::transaction::Owner;
use super::{Server, TxKey};
use crate::ids::SessionId;
use crate::sip::{MediaType, Method, Request, StatusCode};
use crate::time::Time;
use crate::uri::{Uri, UserUri};
use crate::wire::uri::parse_uri;

/// What a REFER asks of the focus.
enum Ask {
    /// Invite this user (RFC 4579 §5.5).
    Add(UserUri),
    /// Invite each of these users (a resource list, RFC 5368: GRP-32).
    AddList(Vec<UserUri>),
    /// End this participant's leg (`method=BYE` in the Refer-To URI).
    Remove(UserUri),
}

impl Server {
    /// A REFER outside any dialog: to a live group's focus URI, else 404/405.
    pub(crate) fn on_refer(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        let Some(gid) = self.group_of_focus(&req) else {
            let why = if self.names_a_focus(&req) {
                Refusal::NoSuchFocus
            } else {
                Refusal::MethodNotAllowed
            };
            return self.refuse_request(now, &key, &req, why);
        };
        let Some(user) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        self.on_group_refer(now, gid, user, None, flow, key, req);
    }

    /// A REFER on a participant's own group leg (its INVITE dialog with the focus).
    pub(crate) fn on_group_refer_in_dialog(
        &mut self,
        now: Time,
        gid: SessionId,
        leg: &LegKey,
        key: TxKey,
        req: Request,
    ) {
        let Some(l) = self.legs.get(leg) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let (user, flow) = (l.user.clone(), l.flow);
        self.on_group_refer(now, gid, user, Some(leg.clone()), flow, key, req);
    }

    /// GRP-14, GRP-15: checks the referrer and the ask, answers 202 and acts.
    #[allow(clippy::too_many_arguments)]
    fn on_group_refer(
        &mut self,
        now: Time,
        gid: SessionId,
        referrer: UserUri,
        leg: Option<LegKey>,
        flow: Flow,
        key: TxKey,
        req: Request,
    ) {
        let Some(Session::Group(g)) = self.sessions.get(&gid) else {
            return self.refuse_request(now, &key, &req, Refusal::NoSuchFocus);
        };
        let joined = |u: &UserUri| {
            g.participants
                .get(u)
                .is_some_and(|p| p.status == ParticipantStatus::Joined)
        };
        if !joined(&referrer) && self.config.mutation != Mutation::ReferFromAnyone {
            return self.refuse_request(now, &key, &req, Refusal::NotAGroupParticipant);
        }
        let ask = match refer_list(&req, &self.config.limits) {
            ListAsk::Users(users) => Some(Ask::AddList(users)),
            ListAsk::Unusable => None,
            ListAsk::NotAList => refer_target(&req),
        };
        let Some(ask) = ask else {
            return self.refuse_request(now, &key, &req, Refusal::BadReferTo);
        };
        if let Ask::Remove(target) = &ask {
            // GRP-15: only the chairman removes, and only someone in the group.
            if referrer != g.info.from && self.config.mutation != Mutation::AnyoneRemoves {
                return self.refuse_request(now, &key, &req, Refusal::NotTheChairman);
            }
            if !joined(target) || *target == referrer {
                return self.refuse_request(now, &key, &req, Refusal::NotAGroupParticipant);
            }
        }
        let focus_user = g.focus_user.clone();
        // The implicit subscription's dialog: the REFER's own leg, or a new one.
        let dialog = match leg {
            Some(leg) => NotifyDialog::Leg(leg),
            None => {
                let mut own: Leg = self.new_uas_leg(gid, &req, flow, referrer.clone());
                own.state = LegState::Confirmed;
                NotifyDialog::Own(Box::new(own))
            }
        };
        let mut resp = match &dialog {
            NotifyDialog::Leg(l) => match self.legs.get(l) {
                Some(l) => l.response(&req, StatusCode::ACCEPTED),
                None => return self.refuse_request(now, &key, &req, Refusal::NoDialog),
            },
            NotifyDialog::Own(own) => own.response(&req, StatusCode::ACCEPTED),
        };
        resp.headers.contact = vec![server_contact(&self.config, &focus_user, flow, true)];
        // GRP-44 (RFC 4488 §4): the referrer asked for no implicit subscription;
        // the 202 says it is honoured and no sipfrag NOTIFY follows.
        let notify = !refer_sub_false(&req);
        if !notify {
            resp.headers
                .other
                .push(("Refer-Sub".into(), "false".into()));
        }
        let timers = self.config.timers;
        self.tx.respond(now, &key, resp, &timers, &mut self.out);
        let mut watch = ReferWatch {
            dialog,
            awaits: match &ask {
                Ask::Add(u) | Ask::Remove(u) => ReferAwaits::One(u.clone()),
                Ask::AddList(_) => ReferAwaits::List(BTreeSet::new()),
            },
            notify,
        };
        match ask {
            Ask::AddList(users) => self.add_list(now, gid, &referrer, watch, users),
            Ask::Add(user) => {
                let status = match self.sessions.get(&gid) {
                    Some(Session::Group(g)) => g.participants.get(&user).map(|p| p.status),
                    Some(Session::One(_)) | None => None,
                };
                if matches!(
                    status,
                    Some(ParticipantStatus::Joined | ParticipantStatus::Invited)
                ) {
                    // Already in (or being brought in): nothing to do, say so.
                    return self.sipfrag(now, gid, &mut watch, "SIP/2.0 200 OK", true);
                }
                self.sipfrag(now, gid, &mut watch, "SIP/2.0 100 Trying", false);
                if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
                    g.refers.push(watch);
                }
                // GRP-14: the focus invites the referred user (Referred-By: referrer).
                self.invite_participant(now, gid, &user, &referrer);
            }
            Ask::Remove(user) => {
                let target_leg = match self.sessions.get(&gid) {
                    Some(Session::Group(g)) => {
                        g.participants.get(&user).and_then(|p| p.leg.clone())
                    }
                    Some(Session::One(_)) | None => None,
                };
                if let Some(target_leg) = target_leg {
                    self.send_bye(now, gid, &target_leg);
                }
                self.remove_participant(now, gid, &user);
                self.sipfrag(now, gid, &mut watch, "SIP/2.0 200 OK", true);
            }
        }
    }

    /// GRP-32: a resource list's users not in the group yet are invited, each on
    /// every device; the final sipfrag waits until each has an outcome.
    fn add_list(
        &mut self,
        now: Time,
        gid: SessionId,
        referrer: &UserUri,
        mut watch: ReferWatch,
        users: Vec<UserUri>,
    ) {
        let status = |s: &Self, u: &UserUri| match s.sessions.get(&gid) {
            Some(Session::Group(g)) => g.participants.get(u).map(|p| p.status),
            Some(Session::One(_)) | None => None,
        };
        let mut awaited = BTreeSet::new();
        let mut to_invite = Vec::new();
        for user in users {
            match status(self, &user) {
                Some(ParticipantStatus::Joined) => {}
                Some(ParticipantStatus::Invited) => {
                    awaited.insert(user);
                }
                Some(
                    ParticipantStatus::Declined
                    | ParticipantStatus::NoAnswer
                    | ParticipantStatus::Left
                    | ParticipantStatus::Removed,
                )
                | None => {
                    awaited.insert(user.clone());
                    to_invite.push(user);
                }
            }
        }
        if awaited.is_empty() {
            return self.sipfrag(now, gid, &mut watch, "SIP/2.0 200 OK", true);
        }
        self.sipfrag(now, gid, &mut watch, "SIP/2.0 100 Trying", false);
        watch.awaits = ReferAwaits::List(awaited);
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            g.refers.push(watch);
        }
        for user in &to_invite {
            self.invite_participant(now, gid, user, referrer);
        }
    }

    /// GRP-14, GRP-32: a referred invitee's outcome reaches its referrers, as the
    /// final sipfrag of their implicit subscription (for a list: once every listed
    /// user has an outcome).
    pub(crate) fn report_refers(&mut self, now: Time, gid: SessionId, user: &UserUri) {
        let status = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.participants.get(user).map(|p| p.status),
            Some(Session::One(_)) | None => return,
        };
        let settled = matches!(
            status,
            Some(
                ParticipantStatus::Joined
                    | ParticipantStatus::Declined
                    | ParticipantStatus::NoAnswer
            )
        );
        let watches = match self.sessions.get_mut(&gid) {
            Some(Session::Group(g)) => {
                let (mut mine, rest): (Vec<_>, Vec<_>) =
                    g.refers.drain(..).partition(|w| match &w.awaits {
                        ReferAwaits::One(u) => u == user,
                        ReferAwaits::List(users) => users.contains(user),
                    });
                g.refers = rest;
                // A list is done when its last user settled.
                let mut done_lists = Vec::new();
                mine.retain_mut(|w| match &mut w.awaits {
                    ReferAwaits::One(_) => true,
                    ReferAwaits::List(users) => {
                        if settled {
                            users.remove(user);
                        }
                        if users.is_empty() {
                            done_lists.push(w.clone());
                        } else {
                            g.refers.push(w.clone());
                        }
                        false
                    }
                });
                for mut w in done_lists {
                    self.sipfrag(now, gid, &mut w, "SIP/2.0 200 OK", true);
                }
                mine
            }
            Some(Session::One(_)) | None => return,
        };
        let line = match status {
            Some(ParticipantStatus::Joined) => "SIP/2.0 200 OK",
            Some(ParticipantStatus::Declined) => "SIP/2.0 603 Decline",
            Some(ParticipantStatus::NoAnswer) => "SIP/2.0 480 Temporarily Unavailable",
            Some(
                ParticipantStatus::Invited | ParticipantStatus::Left | ParticipantStatus::Removed,
            )
            | None => return self.keep_watching(gid, watches),
        };
        for mut w in watches {
            self.sipfrag(now, gid, &mut w, line, true);
        }
    }

    fn keep_watching(&mut self, gid: SessionId, watches: Vec<ReferWatch>) {
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            g.refers.extend(watches);
        }
    }

    /// One NOTIFY of the REFER's implicit subscription (RFC 3515 §2.4.4).
    fn sipfrag(&mut self, now: Time, gid: SessionId, w: &mut ReferWatch, line: &str, last: bool) {
        if !w.notify {
            // GRP-44: `Refer-Sub: false`, no subscription to notify.
            return;
        }
        let focus_user = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.focus_user.clone(),
            Some(Session::One(_)) | None => return,
        };
        let (mut notify, flow) = match &mut w.dialog {
            NotifyDialog::Leg(key) => match self.legs.get_mut(key) {
                Some(l) if l.state == LegState::Confirmed => {
                    (l.request(Method::Notify, &self.config, &self.ids), l.flow)
                }
                Some(_) | None => return,
            },
            NotifyDialog::Own(leg) => (
                leg.request(Method::Notify, &self.config, &self.ids),
                leg.flow,
            ),
        };
        let h = &mut notify.headers;
        h.contact = vec![server_contact(&self.config, &focus_user, flow, true)];
        h.other.push(("Event".into(), "refer".into()));
        let state = if last {
            "terminated;reason=noresource".to_owned()
        } else {
            "active;expires=60".to_owned()
        };
        h.other.push(("Subscription-State".into(), state));
        let mut sipfrag = MediaType::new("message", "sipfrag");
        sipfrag
            .params
            .push(crate::uri::Param::new("version", Some("2.0")));
        h.content_type = Some(sipfrag);
        notify.body = format!("{line}\r\n").into_bytes();
        let timers = self.config.timers;
        self.tx
            .send_request(now, flow, notify, Owner::Nobody, &timers, &mut self.out);
    }
}

/// RFC 4488: whether the REFER asks for no implicit subscription (`Refer-Sub:
/// false`, any case, surrounding space ignored).
fn refer_sub_false(req: &Request) -> bool {
    req.headers
        .other("Refer-Sub")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// The Refer-To of `req` as an ask: a user to add, or (`method=BYE`) to remove.
fn refer_target(req: &Request) -> Option<Ask> {
    let value = req.headers.other("Refer-To")?.trim();
    let inner = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next()?,
    };
    let uri = parse_uri(inner).ok()?;
    let bye = match &uri {
        Uri::Sip(sip) => sip.params.iter().any(|p| {
            p.name.eq_ignore_ascii_case("method")
                && p.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("BYE"))
        }),
        Uri::Tel(_) | Uri::Other(_) => false,
    };
    let user = UserUri::from_uri(&uri)?;
    Some(if bye {
        Ask::Remove(user)
    } else {
        Ask::Add(user)
    })
}
