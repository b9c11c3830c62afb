//! The notifications (RFC 5438) the server itself sends about a deferred message
//! (specs/deferred.md, DEF-10): a processing notification `stored` when it defers a
//! message whose sender asked for `processing`, and a delivery notification `failed`
//! when one whose sender asked for `negative-delivery` expires (also recorded as the
//! recipient's `Failed` disposition). The recipient's own `delivered` needs nothing
//! here: it is a pager MESSAGE to the sender like any other.
//!
//! Each goes, as a MESSAGE in the name of the recipient (SIP and CPIM `From`), to
//! every device of the sender registered at that moment (or, for a message of a
//! store-and-forward session, over MSRP in that session while it is up); for a
//! sender with no device it is deferred itself, like any message to them (DEF-13).
//!
//! What it is *not*: the IMDN decoder and encoder (`wire::imdn`).

use std::net::SocketAddr;

use super::keys::LegKey;
use super::output::Flow;
use super::tickets::DeferredAnswer;
use super::transaction::Owner;
use super::{Server, TicketUse};
use crate::cpim::{CpimHeader, CpimMessage};
use crate::ids::ConnId;
use crate::ids::{ConversationId, MessageId};
use crate::record::{Disposition, DispositionRecord, Record};
use crate::sip::{MediaType, NameAddr, Request};
use crate::time::Time;
use crate::uri::UserUri;
use crate::wire::{self, cpim_codec, imdn};
use crate::Transport;

/// What a deferred MESSAGE's sender asked to hear, and about which message.
struct Asked {
    message_id: String,
    wants: Vec<String>,
}

impl Server {
    /// The CPIM `imdn.Message-ID` and `Disposition-Notification` of `req`, if any.
    fn asked(&self, req: &Request) -> Option<Asked> {
        let ct = req.headers.content_type.as_ref()?;
        if !ct.is("message", "cpim") {
            return None;
        }
        let m = cpim_codec::decode_with(&req.body, &self.config.limits).ok()?;
        if m.is_imdn() {
            return None;
        }
        Some(Asked {
            message_id: m.imdn_message_id()?.to_owned(),
            wants: m
                .disposition_notification()
                .iter()
                .map(|w| w.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    /// DEF-10: `stored`, when the sender asked for `processing`; for a message of a
    /// store-and-forward session (`in_session`, the caller's leg) over MSRP in that
    /// session while it is up (DEF-12).
    pub(crate) fn notify_stored(
        &mut self,
        now: Time,
        sender: &UserUri,
        recipient: &UserUri,
        req: &Request,
        in_session: Option<&LegKey>,
    ) {
        let Some(asked) = self
            .asked(req)
            .filter(|a| a.wants.iter().any(|w| w == "processing"))
        else {
            return;
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"{}\">\r\n\
             <message-id>{}</message-id>\r\n<original-recipient-uri>{}</original-recipient-uri>\r\n\
             <processing-notification><status><stored/></status></processing-notification>\r\n</imdn>\r\n",
            imdn::NAMESPACE,
            xml_escape(&asked.message_id),
            xml_escape(recipient.as_str()),
        );
        self.send_notification(now, sender, recipient, req, xml, in_session);
    }

    /// DEF-10: `failed`, when the sender asked for `negative-delivery`; the failure
    /// is recorded against the stored message either way.
    pub(crate) fn notify_expired(
        &mut self,
        now: Time,
        sender: &UserUri,
        recipient: &UserUri,
        req: &Request,
    ) {
        let Some(asked) = self.asked(req) else {
            return;
        };
        let conversation_id = req
            .headers
            .conversation_id
            .clone()
            .unwrap_or_else(|| ConversationId::new(""));
        let ticket = self.ticket(TicketUse::Disposition);
        self.out.command(super::Command::Persist {
            ticket,
            record: Record::Disposition(DispositionRecord {
                conversation_id,
                contribution_id: None,
                message_id: MessageId::new(asked.message_id.clone()),
                recipient: recipient.clone(),
                disposition: Disposition::Failed,
            }),
        });
        if !asked.wants.iter().any(|w| w == "negative-delivery") {
            return;
        }
        let xml = imdn::encode(&imdn::Imdn {
            message_id: asked.message_id,
            datetime: None,
            recipient_uri: None,
            original_recipient_uri: Some(recipient.as_str().to_owned()),
            disposition: Disposition::Failed,
        });
        self.send_notification(now, sender, recipient, req, xml, None);
    }

    /// Sends `xml` wrapped in CPIM from `recipient` over MSRP on the stand-in
    /// session `in_session` while it is up, else to every device of `sender`.
    fn send_notification(
        &mut self,
        now: Time,
        sender: &UserUri,
        recipient: &UserUri,
        original: &Request,
        xml: String,
        in_session: Option<&LegKey>,
    ) {
        let cpim = CpimMessage {
            headers: vec![
                CpimHeader::new("From", format!("<{}>", recipient.as_str())),
                CpimHeader::new("To", format!("<{}>", sender.as_str())),
                CpimHeader::new("NS", "imdn <urn:ietf:params:imdn>"),
                CpimHeader::new("imdn.Message-ID", self.ids.uuid()),
                CpimHeader::new("DateTime", self.wall_clock.to_rfc3339()),
            ],
            content_type: "message/imdn+xml".into(),
            content_headers: vec![("Content-Disposition".into(), "notification".into())],
            body: xml.into_bytes(),
        };
        let body = cpim_codec::encode(&cpim);
        if let Some(leg) = in_session.filter(|l| self.is_stand_in(l)) {
            self.msrp_send_on(leg, "message/cpim", &body, None);
            return;
        }
        let devices = self.registrar.lookup_all(sender);
        if devices.is_empty() {
            return self.defer_notification(now, sender, recipient, original, body);
        }
        let timers = self.config.timers;
        for b in devices {
            let out_flow = self.reach(b.flow, Some(&b.contact.uri), b.flow.peer.ip());
            let mut req = self.server_message(
                NameAddr::new(original.headers.to.uri.clone()),
                NameAddr::new(original.headers.from.uri.clone()),
                out_flow,
                &b.contact.uri,
                body.clone(),
            );
            req.headers.content_type = Some(MediaType::new("message", "cpim"));
            req.headers.conversation_id = original.headers.conversation_id.clone();
            self.tx
                .send_request(now, out_flow, req, Owner::Nobody, &timers, &mut self.out);
        }
    }
}

impl Server {
    /// DEF-13: a notification for a sender with no device now is deferred like any
    /// message to them (their queue, caps, expiry, restarts), with no history of its
    /// own and nobody to answer; a full queue or a sender deferral is not open to
    /// drops it (the store keeps the disposition it reports, if any).
    fn defer_notification(
        &mut self,
        now: Time,
        sender: &UserUri,
        recipient: &UserUri,
        original: &Request,
        body: Vec<u8>,
    ) {
        let (Ok(from), Ok(to)) = (
            wire::parse_uri(recipient.as_str()),
            wire::parse_uri(sender.as_str()),
        ) else {
            return;
        };
        // The Via of a stored request is never used: delivery builds a new MESSAGE
        // for each device (`pager_relay`), so any flow does to print it.
        let unsent = Flow {
            transport: Transport::Udp,
            conn: ConnId::new(0),
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let mut req = self.server_message(
            NameAddr::new(from),
            NameAddr::new(to.clone()),
            unsent,
            &to,
            body,
        );
        let conversation_id = match original.headers.conversation_id.clone() {
            Some(c) => c,
            None => self.ids.conversation_id(),
        };
        req.headers.content_type = Some(MediaType::new("message", "cpim"));
        req.headers.conversation_id = Some(conversation_id.clone());
        let incoming = super::deferred::Incoming {
            answer: DeferredAnswer::Nobody,
            req,
            sender: recipient.clone(),
            target: sender.clone(),
            conversation_id,
            history: None,
        };
        self.defer_message(now, incoming);
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
