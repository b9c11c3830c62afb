//! The focus as notifier of the conference event package (RFC 4575 over RFC 6665):
//! SUBSCRIBE to a group's focus URI, the 200 and the full-state NOTIFY, partial
//! NOTIFYs on every change of a participant, refresh, `Expires: 0`, expiry, and the
//! terminated NOTIFY when the group ends (specs/group.md, GRP-10..GRP-13).
//!
//! What it is not: the group's own life (group.rs decides who is in the group; this
//! file only reports it) nor the document's bytes (`wire::conference_info`).

use super::config::Mutation;
use super::keys::LegKey;
use super::leg::{domain_uri, server_contact, LegState};
use super::output::Flow;
use super::refusal::Refusal;
use super::session::{Group, GroupState, ParticipantStatus, Session, Subscription};
use super::timer::Timer;
use super::transaction::Owner;
use super::{Server, TxKey};
use crate::conference::{
    ConferenceInfo, ConferenceUser, DisconnectionMethod, DocState, EndpointStatus, JoiningMethod,
};
use crate::ids::SessionId;
use crate::sip::{MediaType, Method, Request, Response, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::conference_info::{encode_conference_info, CONFERENCE_INFO_TYPE};
use crate::wire::uri::print_uri;

/// RFC 4575 §3.6: the default (and here the longest) subscription, in seconds.
pub(crate) const MAX_EXPIRES_S: u32 = 3600;

/// Why a subscription ends (RFC 6665 §4.1.3 `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Expired or unsubscribed (`Expires: 0`).
    Timeout,
    /// The group ended.
    NoResource,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Timeout => "timeout",
            Ending::NoResource => "noresource",
        }
    }
}

impl Server {
    /// GRP-10, GRP-11: a SUBSCRIBE, new (to a focus URI) or a refresh / unsubscribe
    /// in its dialog.
    pub(crate) fn on_subscribe(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        let in_dialog = req.headers.to.tag().is_some();
        let gid = self.group_of_focus(&req);
        if gid.is_none() && !in_dialog {
            // Only a focus URI takes subscriptions; one whose group ended is gone.
            let why = if self.names_a_focus(&req) {
                Refusal::NoSuchFocus
            } else {
                Refusal::MethodNotAllowed
            };
            return self.refuse_request(now, &key, &req, why);
        }
        let event = req.headers.other("Event").unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case("conference") {
            return self.refuse_request(now, &key, &req, Refusal::BadEvent);
        }
        let Some(gid) = gid.filter(|_| !in_dialog) else {
            return self.on_resubscribe(now, flow, key, req);
        };
        let Some(user) = self.identify(now, &key, &req, &flow) else {
            return;
        };
        let joined = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g
                .participants
                .get(&user)
                .is_some_and(|p| p.status == ParticipantStatus::Joined),
            Some(Session::One(_)) | None => false,
        };
        if !joined && self.config.mutation != Mutation::SubscribeFromAnyone {
            return self.refuse_request(now, &key, &req, Refusal::NotAGroupParticipant);
        }
        let mut dialog = self.new_uas_leg(gid, &req, flow, user);
        dialog.state = LegState::Confirmed;
        let expires = granted_expires(&req);
        let dialog_key = dialog.key.clone();
        let sub = Subscription {
            dialog,
            version: 0,
            expires_at: now.plus_ms(u64::from(expires) * 1000),
        };
        self.answer_subscribe(now, &key, &req, &sub, expires);
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            g.subscriptions.insert(dialog_key.clone(), sub);
        }
        if expires == 0 {
            // RFC 6665 §4.2.1: a fetch: the state once, then the subscription ends.
            return self.end_subscription(now, gid, &dialog_key, Ending::Timeout);
        }
        self.arm_expiry(&dialog_key, now, expires);
        self.notify_full(now, gid, &dialog_key);
    }

    /// GRP-11: a refresh (full state again) or `Expires: 0` (terminated NOTIFY).
    fn on_resubscribe(&mut self, now: Time, flow: Flow, key: TxKey, req: Request) {
        let Some(dialog_key) = self.subscription_of(&req) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let Some((gid, sub)) = self.subscription_mut(&dialog_key) else {
            return self.refuse_request(now, &key, &req, Refusal::NoDialog);
        };
        let d = &sub.dialog;
        if d.flow.transport != flow.transport || d.flow.peer != flow.peer {
            // REG-5: only the subscriber's own flow speaks for its dialog.
            return self.refuse_request(now, &key, &req, Refusal::NotTheLegsFlow);
        }
        if d.remote_cseq.is_some_and(|c| req.headers.cseq.seq <= c) {
            return self.refuse_request(now, &key, &req, Refusal::CSeqOutOfOrder);
        }
        let expires = granted_expires(&req);
        sub.dialog.remote_cseq = Some(req.headers.cseq.seq);
        sub.expires_at = now.plus_ms(u64::from(expires) * 1000);
        let sub = sub.clone();
        self.answer_subscribe(now, &key, &req, &sub, expires);
        if expires == 0 {
            self.out
                .disarm(&Timer::SubscriptionExpiry(dialog_key.clone()));
            return self.end_subscription(now, gid, &dialog_key, Ending::Timeout);
        }
        self.arm_expiry(&dialog_key, now, expires);
        if self.config.mutation == Mutation::RefreshWithoutState {
            return;
        }
        self.notify_full(now, gid, &dialog_key);
    }

    /// GRP-11: the subscription ran out without a refresh.
    pub(crate) fn on_subscription_expired(&mut self, now: Time, dialog_key: &LegKey) {
        if let Some((gid, _)) = self.subscription_mut(dialog_key) {
            self.end_subscription(now, gid, dialog_key, Ending::Timeout);
        }
    }

    /// GRP-12: a partial NOTIFY naming `users` to every subscriber of the group.
    pub(crate) fn announce(&mut self, now: Time, gid: SessionId, users: &[UserUri]) {
        let keys: Vec<LegKey> = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.subscriptions.keys().cloned().collect(),
            Some(Session::One(_)) | None => return,
        };
        for key in keys {
            self.notify(now, gid, &key, Some(users), None);
        }
    }

    /// GRP-13: the group ended: every subscription gets its terminated NOTIFY.
    pub(crate) fn end_all_subscriptions(&mut self, now: Time, gid: SessionId) {
        let keys: Vec<LegKey> = match self.sessions.get(&gid) {
            Some(Session::Group(g)) => g.subscriptions.keys().cloned().collect(),
            Some(Session::One(_)) | None => return,
        };
        for key in keys {
            self.out.disarm(&Timer::SubscriptionExpiry(key.clone()));
            self.end_subscription(now, gid, &key, Ending::NoResource);
        }
    }

    fn end_subscription(&mut self, now: Time, gid: SessionId, key: &LegKey, why: Ending) {
        self.notify(now, gid, key, None, Some(why));
        if let Some(Session::Group(g)) = self.sessions.get_mut(&gid) {
            g.subscriptions.remove(key);
        }
    }

    fn notify_full(&mut self, now: Time, gid: SessionId, key: &LegKey) {
        self.notify(now, gid, key, None, None);
    }

    /// Sends one NOTIFY on subscription `key`: full state (`changed: None`) or the
    /// users in `changed`; `ending` makes it the terminated one.
    fn notify(
        &mut self,
        now: Time,
        gid: SessionId,
        key: &LegKey,
        changed: Option<&[UserUri]>,
        ending: Option<Ending>,
    ) {
        let Some(Session::Group(g)) = self.sessions.get_mut(&gid) else {
            return;
        };
        let focus_user = g.focus_user.clone();
        let entity = print_uri(&domain_uri(&self.config, &focus_user));
        let doc = conference_doc(g, entity, changed);
        let Some(sub) = g.subscriptions.get_mut(key) else {
            return;
        };
        sub.version += 1;
        let doc = ConferenceInfo {
            version: sub.version,
            ..doc
        };
        let state = match ending {
            Some(why) => format!("terminated;reason={}", why.as_str()),
            None => {
                let left_s = sub.expires_at.as_ms().saturating_sub(now.as_ms()) / 1000;
                format!("active;expires={left_s}")
            }
        };
        let flow = sub.dialog.flow;
        let mut notify = sub.dialog.request(Method::Notify, &self.config, &self.ids);
        let h = &mut notify.headers;
        h.contact = vec![server_contact(&self.config, &focus_user, flow, true)];
        h.other.push(("Event".into(), "conference".into()));
        h.other.push(("Subscription-State".into(), state));
        h.content_type = Some(MediaType::new(
            CONFERENCE_INFO_TYPE.0,
            CONFERENCE_INFO_TYPE.1,
        ));
        notify.body = encode_conference_info(&doc);
        let timers = self.config.timers;
        self.tx
            .send_request(now, flow, notify, Owner::Nobody, &timers, &mut self.out);
    }

    /// The 200 to a SUBSCRIBE: the dialog's tag, the granted `Expires`, the focus's
    /// Contact (RFC 6665 §4.2.1.1).
    fn answer_subscribe(
        &mut self,
        now: Time,
        key: &TxKey,
        req: &Request,
        sub: &Subscription,
        expires: u32,
    ) {
        let mut resp: Response = sub.dialog.response(req, StatusCode::OK);
        let focus_user = match self.sessions.get(&sub.dialog.session) {
            Some(Session::Group(g)) => g.focus_user.clone(),
            Some(Session::One(_)) | None => return,
        };
        resp.headers.contact = vec![server_contact(
            &self.config,
            &focus_user,
            sub.dialog.flow,
            true,
        )];
        resp.headers.expires = Some(expires);
        let timers = self.config.timers;
        self.tx.respond(now, key, resp, &timers, &mut self.out);
    }

    fn arm_expiry(&mut self, key: &LegKey, now: Time, expires: u32) {
        let at = now.plus_ms(u64::from(expires) * 1000);
        self.out.arm(Timer::SubscriptionExpiry(key.clone()), at);
    }

    /// The live group whose focus URI is the request's target.
    pub(crate) fn group_of_focus(&self, req: &Request) -> Option<SessionId> {
        let user = req.uri.as_sip().and_then(|u| u.user.as_deref())?;
        self.sessions.values().find_map(|s| match s {
            Session::Group(g) if g.focus_user == user && g.state == GroupState::Active => {
                Some(g.id)
            }
            Session::Group(_) | Session::One(_) => None,
        })
    }

    /// Whether the Request-URI has the form of a focus URI (`conf-…`, not the
    /// factory), live or not.
    pub(crate) fn names_a_focus(&self, req: &Request) -> bool {
        req.uri
            .as_sip()
            .and_then(|u| u.user.as_deref())
            .is_some_and(|u| u.starts_with("conf-") && u != self.config.conference_factory_user)
    }

    /// The subscription dialog an in-dialog SUBSCRIBE names (Call-ID, our tag, and the
    /// subscriber's tag).
    fn subscription_of(&self, req: &Request) -> Option<LegKey> {
        let key = LegKey::new(req.headers.call_id.clone(), req.headers.to.tag()?);
        let (_, sub) = self.subscription(&key)?;
        (sub.dialog.remote_tag == req.headers.from.tag()).then_some(key)
    }

    fn subscription(&self, key: &LegKey) -> Option<(SessionId, &Subscription)> {
        self.sessions.values().find_map(|s| match s {
            Session::Group(g) => g.subscriptions.get(key).map(|sub| (g.id, sub)),
            Session::One(_) => None,
        })
    }

    fn subscription_mut(&mut self, key: &LegKey) -> Option<(SessionId, &mut Subscription)> {
        self.sessions.values_mut().find_map(|s| match s {
            Session::Group(g) => {
                let id = g.id;
                g.subscriptions.get_mut(key).map(|sub| (id, sub))
            }
            Session::One(_) => None,
        })
    }
}

/// The granted duration: the asked `Expires` (RFC 4575 §3.6 default 3600), at most
/// [`MAX_EXPIRES_S`].
fn granted_expires(req: &Request) -> u32 {
    req.headers
        .expires
        .unwrap_or(MAX_EXPIRES_S)
        .min(MAX_EXPIRES_S)
}

/// The group's state as a document (version 0: the caller numbers it): every
/// participant, or only `changed` ones as a partial update.
fn conference_doc(g: &Group, entity: String, changed: Option<&[UserUri]>) -> ConferenceInfo {
    let users = g
        .participants
        .iter()
        .filter(|(user, _)| changed.is_none_or(|c| c.contains(user)))
        .map(|(user, p)| {
            let creator = *user == g.info.from;
            let (status, disconnection) = match p.status {
                ParticipantStatus::Invited => (EndpointStatus::Pending, None),
                ParticipantStatus::Joined => (EndpointStatus::Connected, None),
                ParticipantStatus::Declined => (
                    EndpointStatus::Disconnected,
                    Some(DisconnectionMethod::Busy),
                ),
                ParticipantStatus::NoAnswer => (
                    EndpointStatus::Disconnected,
                    Some(DisconnectionMethod::Failed),
                ),
                ParticipantStatus::Left => (
                    EndpointStatus::Disconnected,
                    Some(DisconnectionMethod::Departed),
                ),
                ParticipantStatus::Removed => (
                    EndpointStatus::Disconnected,
                    Some(DisconnectionMethod::Booted),
                ),
            };
            ConferenceUser {
                entity: user.as_str().to_owned(),
                roles: if creator {
                    vec!["chairman".to_owned()]
                } else {
                    Vec::new()
                },
                status,
                joining: Some(if creator {
                    JoiningMethod::DialedIn
                } else {
                    JoiningMethod::DialedOut
                }),
                disconnection,
            }
        })
        .collect();
    let full = changed.is_none();
    let joined = g
        .participants
        .values()
        .filter(|p| p.status == ParticipantStatus::Joined)
        .count();
    ConferenceInfo {
        entity,
        version: 0,
        state: if full {
            DocState::Full
        } else {
            DocState::Partial
        },
        // A partial naming nobody announces a new subject (GRP-33).
        subject: if full || changed.is_some_and(<[UserUri]>::is_empty) {
            g.info.subject.clone()
        } else {
            None
        },
        user_count: full.then(|| u32::try_from(joined).unwrap_or(u32::MAX)),
        users,
    }
}
