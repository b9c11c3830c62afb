//! Test support: builders of the typed SIP requests and responses a terminal sends
//! (REGISTER, INVITE, the extension INVITE with its resource list, ACK, BYE, CANCEL,
//! MESSAGE, OPTIONS, answers) and a terminal's view of a dialog. One implementation
//! for the core's scenario tests, the model (`cpmd-model`) and the end-to-end tests
//! (`cpmd-tests`).
//!
//! Not part of the server: compiled for the core's own tests and, for other crates,
//! with the cargo feature `testing`. The builders draw nothing themselves: every
//! identifier (Call-ID, tags, branches) comes from the caller, so a caller that
//! derives them deterministically (the model does, from terminal names) always gets
//! the same messages.

use std::net::SocketAddrV4;

use crate::body::{BodyPart, ListEntry, ResourceList};
use crate::sip::{
    CSeq, Headers, MediaType, Method, NameAddr, Replaces, Request, Response, StatusCode, Via,
};
use crate::uri::{Host, Param, SipUri, Uri};
use crate::wire::{multipart, resource_lists};
use crate::{CallId, ContributionId, ConversationId, Tag, Transport};

/// The `Date` the extension INVITEs of the tests carry.
pub const EXTENSION_DATE: &str = "Thu, 26 Nov 2026 12:30:00 GMT";

/// The SIP URI `sip:user@host`.
pub fn sip_uri(user: &str, host: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: Some(user.into()),
        host: Host::Name(host.into()),
        port: None,
        params: Vec::new(),
        extra: None,
    })
}

/// The SIP URI `sip:host` (a registrar, a domain).
pub fn host_uri(host: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: None,
        host: Host::Name(host.into()),
        port: None,
        params: Vec::new(),
        extra: None,
    })
}

/// A terminal's Contact `<sip:user@ip:port>`.
pub fn contact(user: &str, addr: SocketAddrV4) -> NameAddr {
    NameAddr::new(Uri::Sip(SipUri {
        secure: false,
        user: Some(user.into()),
        host: Host::V4(*addr.ip()),
        port: Some(addr.port()),
        params: Vec::new(),
        extra: None,
    }))
}

/// A terminal's Via over `transport` from `addr`; `branch` is prefixed with the RFC
/// 3261 magic cookie `z9hG4bK`.
pub fn via(transport: Transport, addr: SocketAddrV4, branch: &str) -> Via {
    Via {
        transport: transport.via_token().into(),
        host: Host::V4(*addr.ip()),
        port: Some(addr.port()),
        params: vec![Param::new("branch", Some(format!("z9hG4bK{branch}")))],
    }
}

/// Who sends an out-of-dialog request, with the identifiers of its transaction.
#[derive(Debug, Clone)]
pub struct Sender {
    /// From, with the sender's tag.
    pub from: NameAddr,
    /// The new Call-ID.
    pub call_id: CallId,
    /// The sender's Via (with the transaction's branch).
    pub via: Via,
    /// The sender's Contact.
    pub contact: NameAddr,
}

impl Sender {
    /// A sender with address-of-record `aor` and tag `tag`.
    pub fn new(aor: Uri, tag: &Tag, call_id: CallId, via: Via, contact: NameAddr) -> Self {
        let mut from = NameAddr::new(aor);
        from.set_tag(tag);
        Self {
            from,
            call_id,
            via,
            contact,
        }
    }
}

/// An out-of-dialog request (CSeq 1, Max-Forwards 70, the sender's Contact, no body).
pub fn request(method: Method, uri: Uri, to: Uri, sender: Sender) -> Request {
    let mut headers = Headers::new(
        sender.from,
        NameAddr::new(to),
        sender.call_id,
        CSeq {
            seq: 1,
            method: method.clone(),
        },
    );
    headers.via = vec![sender.via];
    headers.max_forwards = Some(70);
    headers.contact = vec![sender.contact];
    Request {
        method,
        uri,
        headers,
        body: Vec::new(),
    }
}

/// A REGISTER of the sender's Contact for `aor` at the registrar of `domain`.
pub fn register(domain: &str, aor: Uri, expires: u32, sender: Sender) -> Request {
    let mut req = request(Method::Register, host_uri(domain), aor, sender);
    req.headers.expires = Some(expires);
    req
}

/// A CPM session INVITE to `to`: Conversation-ID, Contribution-ID and an SDP offer.
pub fn invite(
    to: Uri,
    conversation: &str,
    contribution: &str,
    sdp: &str,
    sender: Sender,
) -> Request {
    let mut req = request(Method::Invite, to.clone(), to, sender);
    req.headers.conversation_id = Some(ConversationId::new(conversation));
    req.headers.contribution_id = Some(ContributionId::new(contribution));
    with_sdp(req, sdp)
}

/// A pager-mode MESSAGE to `to` with `body` of type `content_type` (RFC 3428).
pub fn message(to: Uri, content_type: MediaType, body: &[u8], sender: Sender) -> Request {
    let mut req = request(Method::Message, to.clone(), to, sender);
    req.headers.content_type = Some(content_type);
    req.body = body.to_vec();
    req
}

/// An OPTIONS to `to`.
pub fn options(to: Uri, sender: Sender) -> Request {
    request(Method::Options, to.clone(), to, sender)
}

/// The CANCEL of `invite` (RFC 3261 §9.1): the same Request-URI, Call-ID, From, To,
/// CSeq number and Via, method CANCEL, no body.
pub fn cancel(invite: &Request) -> Request {
    let h = &invite.headers;
    let mut headers = Headers::new(
        h.from.clone(),
        h.to.clone(),
        h.call_id.clone(),
        CSeq {
            seq: h.cseq.seq,
            method: Method::Cancel,
        },
    );
    headers.via = h.via.first().cloned().into_iter().collect();
    headers.max_forwards = Some(70);
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

/// Gives `req` an SDP body.
pub fn with_sdp(mut req: Request, sdp: &str) -> Request {
    req.headers.content_type = Some(MediaType::new("application", "sdp"));
    req.body = sdp.as_bytes().to_vec();
    req
}

/// A resource-list entry naming `uri` and nothing else.
pub fn list_entry(uri: Uri) -> ListEntry {
    ListEntry {
        uri,
        display_name: None,
        method: None,
        session_replaces: None,
        replaces: None,
    }
}

/// What an extension INVITE carries besides its sender (protocol background:
/// `specs/protocol.md` §4, step 1).
#[derive(Debug, Clone)]
pub struct Extension<'a> {
    /// The conference-factory URI (Request-URI and To).
    pub factory: Uri,
    /// The 1-to-1's Conversation-ID (the group keeps it, EXT-3).
    pub conversation: &'a str,
    /// The group's new Contribution-ID.
    pub contribution: &'a str,
    /// `Session-Replaces`: the 1-to-1's Contribution-ID, if named that way.
    pub session_replaces: Option<ContributionId>,
    /// RFC 3891 `Replaces` headers, if the 1-to-1 is named that way.
    pub replaces: Vec<Replaces>,
    /// The recipient list (B and C; B's entry may carry the replacement).
    pub list: ResourceList,
    /// The sender's SDP offer for the group.
    pub sdp: &'a str,
    /// The multipart boundary.
    pub boundary: &'a str,
}

/// The extension INVITE: `Require: recipient-list-invite`, the CPM identities, the
/// `Date` [`EXTENSION_DATE`], the replacement, and a `multipart/mixed` body of the SDP
/// and the recipient list.
pub fn extension(ext: Extension<'_>, sender: Sender) -> Request {
    let mut req = request(Method::Invite, ext.factory.clone(), ext.factory, sender);
    req.headers.require.push("recipient-list-invite".into());
    req.headers.conversation_id = Some(ConversationId::new(ext.conversation));
    req.headers.contribution_id = Some(ContributionId::new(ext.contribution));
    req.headers.date = Some(EXTENSION_DATE.into());
    req.headers.session_replaces = ext.session_replaces;
    req.headers.replaces.extend(ext.replaces);
    recipient_list_body(req, ext.sdp, &ext.list, ext.boundary)
}

/// Puts an SDP part and a recipient-list part (RFC 5366) into a `multipart/mixed`
/// body of `req`.
pub fn recipient_list_body(
    mut req: Request,
    sdp: &str,
    list: &ResourceList,
    boundary: &str,
) -> Request {
    let sdp_part = BodyPart {
        content_type: Some(MediaType::new("application", "sdp")),
        disposition: None,
        headers: vec![("Content-Type".into(), "application/sdp".into())],
        body: sdp.as_bytes().to_vec(),
    };
    let list_part = BodyPart {
        content_type: Some(MediaType::new("application", "resource-lists+xml")),
        disposition: Some("recipient-list".into()),
        headers: vec![
            (
                "Content-Type".into(),
                "application/resource-lists+xml".into(),
            ),
            ("Content-Disposition".into(), "recipient-list".into()),
        ],
        body: resource_lists::encode(list).into_bytes(),
    };
    let mut ct = MediaType::new("multipart", "mixed");
    ct.params.push(Param::new("boundary", Some(boundary)));
    req.headers.content_type = Some(ct);
    req.body = multipart::encode(boundary, &[sdp_part, list_part]);
    req
}

/// A terminal's answer to a request it received, with its Contact; `to_tag` (its
/// dialog tag) is set on To when given.
pub fn response(
    req: &Request,
    status: StatusCode,
    to_tag: Option<&Tag>,
    contact: NameAddr,
) -> Response {
    let mut resp = Response::to_request(req, status);
    if let Some(tag) = to_tag {
        resp.headers.to.set_tag(tag);
    }
    resp.headers.contact = vec![contact];
    resp
}

/// A terminal's view of one dialog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: CallId,
    /// Local From/To (with the terminal's tag).
    pub local: NameAddr,
    /// Remote From/To (with the server's tag).
    pub remote: NameAddr,
    /// Where in-dialog requests go.
    pub remote_target: Uri,
    /// Last local CSeq.
    pub cseq: u32,
}

/// The domain part of `uri` as a URI (`sip:host`): where in-dialog requests go when
/// the peer gave no Contact.
fn domain_of(uri: &Uri) -> Uri {
    match uri {
        Uri::Sip(s) => Uri::Sip(SipUri {
            secure: s.secure,
            user: None,
            host: s.host.clone(),
            port: None,
            params: Vec::new(),
            extra: None,
        }),
        Uri::Tel(_) | Uri::Other(_) => uri.clone(),
    }
}

impl Dialog {
    /// The caller's side, from its INVITE and the 2xx.
    pub fn caller(invite: &Request, ok: &Response) -> Self {
        Self {
            call_id: invite.headers.call_id.clone(),
            local: invite.headers.from.clone(),
            remote: ok.headers.to.clone(),
            remote_target: ok
                .headers
                .contact
                .first()
                .map_or_else(|| domain_of(&invite.headers.to.uri), |c| c.uri.clone()),
            cseq: invite.headers.cseq.seq,
        }
    }

    /// The callee's side, from the INVITE it received and its own tag.
    pub fn callee(invite: &Request, tag: &Tag) -> Self {
        let mut local = invite.headers.to.clone();
        local.set_tag(tag);
        Self {
            call_id: invite.headers.call_id.clone(),
            local,
            remote: invite.headers.from.clone(),
            remote_target: invite
                .headers
                .contact
                .first()
                .map_or_else(|| domain_of(&invite.headers.from.uri), |c| c.uri.clone()),
            cseq: 100,
        }
    }

    /// The terminal's own tag.
    pub fn local_tag(&self) -> Tag {
        self.local.tag().expect("dialog has a local tag")
    }

    /// The peer's tag.
    pub fn remote_tag(&self) -> Tag {
        self.remote.tag().expect("dialog has a remote tag")
    }

    /// The RFC 3891 `Replaces` naming this dialog as its peer holds it (the peer's
    /// local tag is this side's remote tag).
    pub fn replaces(&self) -> Option<Replaces> {
        Some(Replaces {
            call_id: self.call_id.clone(),
            to_tag: self.remote.tag()?,
            from_tag: self.local.tag()?,
            early_only: false,
        })
    }
}

/// An in-dialog request on `d` (its CSeq advanced), e.g. BYE.
pub fn in_dialog(d: &mut Dialog, method: Method, via: Via) -> Request {
    d.cseq += 1;
    let mut headers = Headers::new(
        d.local.clone(),
        d.remote.clone(),
        d.call_id.clone(),
        CSeq {
            seq: d.cseq,
            method: method.clone(),
        },
    );
    headers.via = vec![via];
    headers.max_forwards = Some(70);
    Request {
        method,
        uri: d.remote_target.clone(),
        headers,
        body: Vec::new(),
    }
}

/// The BYE on `d`.
pub fn bye(d: &mut Dialog, via: Via) -> Request {
    in_dialog(d, Method::Bye, via)
}

/// The ACK of a 2xx on `d`: a transaction of its own (RFC 3261 §13.2.2.4).
pub fn ack_2xx(d: &Dialog, invite_cseq: u32, via: Via) -> Request {
    let mut headers = Headers::new(
        d.local.clone(),
        d.remote.clone(),
        d.call_id.clone(),
        CSeq {
            seq: invite_cseq,
            method: Method::Ack,
        },
    );
    headers.via = vec![via];
    Request {
        method: Method::Ack,
        uri: d.remote_target.clone(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK of a non-2xx final response: part of the INVITE transaction (RFC 3261
/// §17.1.1.3).
pub fn ack_non_2xx(invite: &Request, resp: &Response) -> Request {
    let mut headers = Headers::new(
        invite.headers.from.clone(),
        resp.headers.to.clone(),
        invite.headers.call_id.clone(),
        CSeq {
            seq: invite.headers.cseq.seq,
            method: Method::Ack,
        },
    );
    headers.via = invite.headers.via.clone();
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::sip::SipMessage;
    use crate::wire::{decode_message, encode_message};

    fn alice(call: &str) -> Sender {
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5060);
        Sender::new(
            sip_uri("alice", "example.com"),
            &Tag::new("a-tag"),
            CallId::new(call),
            via(Transport::Udp, addr, "b1"),
            contact("alice", addr),
        )
    }

    /// Every builder's request survives the wire: encoded, decoded, equal.
    #[test]
    fn requests_round_trip_through_the_wire() {
        let bob = sip_uri("bob", "example.com");
        let invite = invite(bob.clone(), "conv", "k1", "v=0\r\n", alice("c1"));
        let ext = extension(
            Extension {
                factory: sip_uri("conf-factory", "example.com"),
                conversation: "conv",
                contribution: "k2",
                session_replaces: Some(ContributionId::new("k1")),
                replaces: Vec::new(),
                list: ResourceList {
                    entries: vec![list_entry(bob.clone()), list_entry(sip_uri("carol", "x"))],
                },
                sdp: "v=0\r\n",
                boundary: "bb",
            },
            alice("c2"),
        );
        let text = MediaType::new("text", "plain");
        let requests = [
            register(
                "example.com",
                sip_uri("alice", "example.com"),
                3600,
                alice("c0"),
            ),
            cancel(&invite),
            message(bob.clone(), text, b"hi", alice("c3")),
            options(bob, alice("c4")),
            invite,
            ext,
        ];
        for req in requests {
            let msg = SipMessage::Request(req);
            let bytes = encode_message(&msg);
            let back = decode_message(&bytes, &crate::wire::Limits::default()).expect("decodes");
            assert_eq!(back, msg, "{}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn dialog_requests_follow_the_dialog() {
        let bob = sip_uri("bob", "example.com");
        let invite = invite(bob, "conv", "k1", "v=0\r\n", alice("c1"));
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5060);
        let ok = response(
            &invite,
            StatusCode::OK,
            Some(&Tag::new("b-tag")),
            contact("bob", addr),
        );
        let mut d = Dialog::caller(&invite, &ok);
        assert_eq!(d.remote_tag(), Tag::new("b-tag"));
        let ack = ack_2xx(&d, 1, invite.headers.via[0].clone());
        assert_eq!(
            (ack.headers.cseq.seq, ack.uri.clone()),
            (1, contact("bob", addr).uri)
        );
        let bye = bye(&mut d, invite.headers.via[0].clone());
        assert_eq!(bye.headers.cseq.seq, 2);
        assert_eq!(bye.headers.to.tag(), Some(Tag::new("b-tag")));
        let r = d.replaces().expect("both tags");
        assert_eq!(
            (r.to_tag, r.from_tag),
            (Tag::new("b-tag"), Tag::new("a-tag"))
        );
    }
}
