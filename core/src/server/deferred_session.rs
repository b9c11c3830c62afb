//! Store-and-forward chat sessions (specs/deferred.md, "Sessions to an offline
//! user", DEF-12): a chat INVITE to a known user with no registered device is
//! answered by the server itself, standing in for the recipient (a `StandIn`, kept in `deferred_queue.rs`).
//! Each complete MSRP message the caller sends becomes the pager MESSAGE it will be
//! delivered as (the CPIM body as sent, the session's Conversation-ID,
//! Contribution-ID and InReplyTo-Contribution-ID) and joins the recipient's
//! deferred queue (`deferred.rs`): durable with its history before its MSRP 200,
//! delivered in order when a device registers, expired, restored after a restart,
//! counted against the recipient's caps (DEF-6).
//!
//! What it is *not*: a session between the two users (no leg towards the
//! recipient, no session info, no history object: each message is filed as the
//! standalone message the recipient receives), nor a way to reach a registered
//! user (that is `one_to_one.rs`). A stand-in session lives until the caller's
//! BYE, or until the caller never ACKs its 200.

use super::deferred_queue::{StandIn, StandInSend};
use super::keys::{LegKey, TxKey};
use super::leg::{cpm_contact, server_contact};
use super::msrp_media::PeerMedia;
use super::msrp_relay::capture;
use super::output::Flow;
use super::refusal::{MsrpRefusal, Refusal};
use super::sender_identity::{check_from, check_imdn_recipient};
use super::tickets::DeferredAnswer;
use super::{chat_log::MsrpReply, Server, Timer};
use crate::body::InviteBody;
use crate::ids::{ContributionId, SessionId};
use crate::sip::{MediaType, Method, NameAddr, Request, StatusCode};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire;

impl Server {
    /// Whether `leg` is the caller's leg of a store-and-forward session.
    pub(crate) fn is_stand_in(&self, leg: &LegKey) -> bool {
        self.deferred.stand_ins.contains_key(leg)
    }

    /// An INVITE to a local user with no binding (after the caller's identity and
    /// the offer were checked): 480 unless deferral is open to the user and its
    /// queue has room (DEF-1, DEF-6); otherwise the server answers 200 itself with
    /// its own MSRP endpoint (DEF-12).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stand_in_for(
        &mut self,
        now: Time,
        flow: Flow,
        key: TxKey,
        req: Request,
        caller: UserUri,
        callee: UserUri,
        body: &InviteBody,
    ) {
        if !self.deferral_open_to(&callee) {
            return self.refuse_request(now, &key, &req, Refusal::NotRegistered);
        }
        if let Some(why) = self.deferral_admission(&callee, 0) {
            // DEF-6: a full queue refuses the session before it starts.
            return self.refuse_request(now, &key, &req, why);
        }
        if self.deferred.stand_ins.len() >= self.config.caps.max_sessions {
            // LIM-12: stand-in sessions have a table of their own, as large.
            return self.refuse_request(now, &key, &req, Refusal::Overloaded);
        }
        let Some(offer) = body.sdp.as_ref().and_then(PeerMedia::of) else {
            return self.refuse_request(now, &key, &req, Refusal::NoUsableOffer);
        };
        let sid = SessionId::new(self.ids.next_number());
        let h = &req.headers;
        let in_reply_to = h.in_reply_to_contribution_id.clone();
        let conversation_id = match h.conversation_id.clone() {
            Some(c) => c,
            None => self.ids.conversation_id(),
        };
        let contribution_id = match req.headers.contribution_id.clone() {
            Some(c) => c,
            None => ContributionId::new(self.ids.uuid()),
        };
        let leg = self.new_uas_leg(sid, &req, flow, caller.clone());
        let leg_key = leg.key.clone();
        // MSRP-1: the server answers the caller's offer with its own path.
        self.msrp_answer_offer(&leg_key, &offer, None);
        let mut ok = leg.response(&req, StatusCode::OK);
        let secure = super::sips::secure(&req.uri, leg.flow);
        ok.headers.contact = vec![cpm_contact(super::sips::contact(
            server_contact(&self.config, "cpmd", leg.flow, false),
            secure,
        ))];
        ok.headers.conversation_id = Some(conversation_id.clone());
        ok.headers.contribution_id = Some(contribution_id.clone());
        ok.headers.content_type = Some(MediaType::new("application", "sdp"));
        ok.body = self.msrp_sdp(&leg_key);
        self.legs.insert(leg_key.clone(), leg.into());
        self.deferred.stand_ins.insert(
            leg_key.clone(),
            StandIn {
                caller,
                callee,
                conversation_id,
                contribution_id,
                in_reply_to,
            },
        );
        self.respond_2xx(now, &leg_key, &key, ok);
        self.msrp_start(&leg_key);
    }

    /// A complete message on a stand-in leg: checked like any (SEC-3), an
    /// is-composing answered and dropped, anything else deferred as the pager
    /// MESSAGE the recipient will get; its MSRP response comes once it is durable
    /// (DEF-12, through `deferred.rs`).
    pub(crate) fn on_stand_in_send(&mut self, now: Time, m: StandInSend) {
        let Some(stand_in) = self.deferred.stand_ins.get(&m.leg).cloned() else {
            return self.msrp_refuse(m.conn, &m.req, MsrpRefusal::NoSession);
        };
        let captured = match capture(&m.content_type, &m.body) {
            Ok(c) => c,
            Err(why) => return self.msrp_refuse(m.conn, &m.req, why),
        };
        let identity = check_from(captured.from, &stand_in.caller).and_then(|()| {
            captured
                .imdn
                .as_ref()
                .map_or(Ok(()), |i| check_imdn_recipient(i, &stand_in.caller))
        });
        if let Err(fault) = identity {
            return self.msrp_refuse(m.conn, &m.req, fault.msrp());
        }
        if super::is_composing::is_composing(&m.content_type, &m.body) {
            // Nobody to tell that the caller is typing: answered, never kept (DEF-1).
            return self.msrp_respond(m.conn, &m.req, 200, "OK");
        }
        let (Ok(caller_uri), Ok(callee_uri), Some(flow)) = (
            wire::parse_uri(stand_in.caller.as_str()),
            wire::parse_uri(stand_in.callee.as_str()),
            self.legs.get(&m.leg).map(|l| l.flow),
        ) else {
            return self.msrp_refuse(m.conn, &m.req, MsrpRefusal::NoSession);
        };
        let mut message = self.server_message(
            NameAddr::new(caller_uri),
            NameAddr::new(callee_uri.clone()),
            flow,
            &callee_uri,
            m.body,
        );
        let h = &mut message.headers;
        h.content_type = wire::multipart::parse_media_type(&m.content_type);
        h.conversation_id = Some(stand_in.conversation_id.clone());
        h.contribution_id = Some(stand_in.contribution_id.clone());
        h.in_reply_to_contribution_id = stand_in.in_reply_to.clone();
        let Some(history) = self.pager_record(
            &message,
            &stand_in.conversation_id,
            stand_in.caller.clone(),
            stand_in.callee.clone(),
        ) else {
            return self.msrp_refuse(m.conn, &m.req, MsrpRefusal::BadCpim);
        };
        let reply = MsrpReply {
            conn: m.conn,
            leg: m.leg,
            tid: m.req.transaction_id.clone(),
            from_path: m.req.from_path.clone(),
            own: m.own,
            message_id: m.req.message_id.clone(),
            failure_report: m.req.failure_report,
            success_report: m.req.success_report == Some(true),
            total: message.body.len() as u64,
            only_to: None,
        };
        let incoming = super::deferred::Incoming {
            answer: DeferredAnswer::Msrp(Box::new(reply)),
            req: message,
            sender: stand_in.caller,
            target: stand_in.callee,
            conversation_id: stand_in.conversation_id,
            history: Some(history),
        };
        self.defer_message(now, incoming);
    }

    /// A request in a stand-in session's dialog: BYE ends it; the stand-in does not
    /// renegotiate (re-INVITE, UPDATE: 488); OPTIONS and INFO get 200.
    pub(crate) fn stand_in_in_dialog(&mut self, now: Time, leg: &LegKey, key: TxKey, req: Request) {
        match req.method {
            Method::Bye => {
                self.reply(now, &key, &req, StatusCode::OK);
                self.end_stand_in(leg);
            }
            Method::Invite | Method::Update => {
                self.refuse_request(now, &key, &req, Refusal::NoUsableOffer)
            }
            Method::Options | Method::Info => self.reply(now, &key, &req, StatusCode::OK),
            Method::Ack | Method::Cancel => {}
            Method::Register
            | Method::Message
            | Method::Prack
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Publish => self.refuse_request(now, &key, &req, Refusal::MethodNotAllowed),
            Method::Other(_) => self.refuse_request(now, &key, &req, Refusal::UnknownMethod),
        }
    }

    /// The caller never ACKed the stand-in's 200 (RFC 3261 §13.3.1.4): BYE, and the
    /// session is gone. Messages already durable stay queued.
    pub(crate) fn stand_in_unacknowledged(&mut self, now: Time, sid: SessionId, leg: &LegKey) {
        if self.is_stand_in(leg) {
            self.send_bye(now, sid, leg);
            self.end_stand_in(leg);
        }
    }

    /// Forgets a stand-in session: its leg and MSRP endpoint. What it deferred is
    /// the queue's.
    pub(crate) fn end_stand_in(&mut self, leg: &LegKey) {
        if self.deferred.stand_ins.remove(leg).is_none() {
            return;
        }
        self.out.disarm(&Timer::Retransmit2xx(leg.clone()));
        self.legs.remove(leg);
        self.forget_msrp_leg(leg);
    }

    /// Stand-in sessions up now.
    pub fn stand_in_sessions(&self) -> usize {
        self.deferred.stand_ins.len()
    }
}
