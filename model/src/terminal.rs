//! The terminals' side of SIP: who A, B, C and the attacker are, and small builders
//! for the typed requests and responses they send.
//!
//! The core's own scenario harness is private to `cpmd-core`, so the model builds its
//! messages here from the public types (`cpmd_core::sip`, `uri`, `body`, `wire`). The
//! builders are deliberately plain: every identifier is derived from the terminal's
//! name and a per-terminal counter, so the same path always yields the same messages
//! and the checker can merge equal states.

use std::net::{Ipv4Addr, SocketAddr};

use cpmd_core::body::{BodyPart, ListEntry, ResourceList};
use cpmd_core::server::{Flow, Transport};
use cpmd_core::sip::{
    CSeq, Headers, MediaType, Method, NameAddr, Replaces, Request, Response, StatusCode, Via,
};
use cpmd_core::uri::{Host, Param, SipUri, Uri, UserUri};
use cpmd_core::wire::{multipart, resource_lists};
use cpmd_core::{CallId, ConnId, ContributionId, ConversationId, Tag};

/// The server's domain.
pub const DOMAIN: &str = "example.com";
/// The conversation of the 1-to-1 (and of the group that replaces it, EXT-3).
pub const CONVERSATION: &str = "conv-x";
/// The 1-to-1's Contribution-ID (K1).
pub const ONE_CONTRIBUTION: &str = "contrib-k1";
/// The group's Contribution-ID (K2) as A proposes it.
pub const GROUP_CONTRIBUTION: &str = "contrib-k2";
/// The Contribution-ID the attacker proposes for its group.
pub const ATTACK_CONTRIBUTION: &str = "contrib-evil";
/// Call-ID of A's 1-to-1 INVITE.
pub const A_ONE_CALL: &str = "alice-call-one";
/// Call-ID of A's extension INVITE.
pub const A_EXT_CALL: &str = "alice-call-ext";
/// Call-ID of the attacker's extension INVITE.
pub const M_CALL: &str = "mallory-call-ext";

/// A terminal of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// Alice: opens the 1-to-1 and extends it.
    A,
    /// Bob: the callee, later invited to the group.
    B,
    /// Carol: invited to the group only.
    C,
    /// Mallory: a registered user who is not a party of the 1-to-1 (the attacker).
    M,
}

impl Term {
    /// Every terminal, in index order.
    pub const ALL: [Term; 4] = [Term::A, Term::B, Term::C, Term::M];

    /// Index into per-terminal arrays.
    pub fn index(self) -> usize {
        match self {
            Term::A => 0,
            Term::B => 1,
            Term::C => 2,
            Term::M => 3,
        }
    }

    /// User name.
    pub fn name(self) -> &'static str {
        match self {
            Term::A => "alice",
            Term::B => "bob",
            Term::C => "carol",
            Term::M => "mallory",
        }
    }

    fn octet(self) -> u8 {
        self.index() as u8 + 1
    }

    /// The terminal's address.
    pub fn addr(self) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, self.octet()], 5060))
    }

    /// The terminal an address belongs to.
    pub fn from_addr(addr: SocketAddr) -> Option<Term> {
        Term::ALL.into_iter().find(|t| t.addr() == addr)
    }

    /// Address-of-record URI.
    pub fn uri(self) -> Uri {
        sip_uri(self.name(), DOMAIN)
    }

    /// Address-of-record as the core compares it.
    pub fn user(self) -> UserUri {
        UserUri::from_uri(&self.uri()).expect("sip uri with a user part")
    }

    /// The flow the server sees this terminal's messages on.
    pub fn flow(self, transport: Transport) -> Flow {
        Flow {
            transport,
            // UDP terminals share the server's one socket; TCP ones get a connection each.
            conn: match transport {
                Transport::Udp => ConnId::new(1),
                Transport::Tcp => ConnId::new(100 + u64::from(self.octet())),
            },
            peer: self.addr(),
        }
    }

    /// The terminal's Contact.
    pub fn contact(self) -> NameAddr {
        NameAddr::new(Uri::Sip(SipUri {
            secure: false,
            user: Some(self.name().into()),
            password: None,
            host: Host::V4(Ipv4Addr::new(10, 0, 0, self.octet())),
            port: Some(5060),
            params: Vec::new(),
            headers: Vec::new(),
        }))
    }

    fn via(self, transport: Transport, branch: &str) -> Via {
        Via {
            transport: transport.via_token().into(),
            host: Host::V4(Ipv4Addr::new(10, 0, 0, self.octet())),
            port: Some(5060),
            params: vec![Param::new("branch", Some(format!("z9hG4bK{branch}")))],
        }
    }

    /// The MSRP offer or answer of this terminal.
    pub fn sdp(self) -> String {
        let host = format!("10.0.0.{}", self.octet());
        format!(
            "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n\
             m=message 7000 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
             a=path:msrp://{host}:7000/{}-s;tcp\r\na=setup:active\r\na=sendrecv\r\n",
            self.name()
        )
    }
}

/// A SIP URI `user@host`.
pub fn sip_uri(user: &str, host: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: Some(user.to_owned()),
        password: None,
        host: Host::Name(host.to_owned()),
        port: None,
        params: Vec::new(),
        headers: Vec::new(),
    })
}

fn host_uri(host: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: None,
        password: None,
        host: Host::Name(host.to_owned()),
        port: None,
        params: Vec::new(),
        headers: Vec::new(),
    })
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
                .map_or_else(|| host_uri(DOMAIN), |c| c.uri.clone()),
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
                .map_or_else(|| host_uri(DOMAIN), |c| c.uri.clone()),
            cseq: 100,
        }
    }
}

/// An out-of-dialog request from `term`.
pub fn request(
    term: Term,
    transport: Transport,
    method: Method,
    uri: Uri,
    to: Uri,
    call_id: &str,
    branch: &str,
) -> Request {
    let mut from = NameAddr::new(term.uri());
    from.set_tag(&Tag::new(format!("{}-from-{call_id}", term.name())));
    let mut headers = Headers::new(
        from,
        NameAddr::new(to),
        CallId::new(call_id),
        CSeq {
            seq: 1,
            method: method.clone(),
        },
    );
    headers.via = vec![term.via(transport, branch)];
    headers.max_forwards = Some(70);
    headers.contact = vec![term.contact()];
    Request {
        method,
        uri,
        headers,
        body: Vec::new(),
    }
}

/// A REGISTER of `term`'s binding over `transport`.
pub fn register(term: Term, transport: Transport) -> Request {
    let call = format!("{}-call-reg", term.name());
    let mut req = request(
        term,
        transport,
        Method::Register,
        host_uri(DOMAIN),
        term.uri(),
        &call,
        &format!("{}-reg", term.name()),
    );
    req.headers.expires = Some(3600);
    req
}

/// A's INVITE to B with the CPM headers and an MSRP offer.
pub fn invite_one(transport: Transport) -> Request {
    let to = Term::B.uri();
    let mut req = request(
        Term::A,
        transport,
        Method::Invite,
        to.clone(),
        to,
        A_ONE_CALL,
        "alice-inv",
    );
    req.headers.conversation_id = Some(ConversationId::new(CONVERSATION));
    req.headers.contribution_id = Some(ContributionId::new(ONE_CONTRIBUTION));
    with_sdp(req, &Term::A.sdp())
}

fn with_sdp(mut req: Request, sdp: &str) -> Request {
    req.headers.content_type = Some(MediaType::new("application", "sdp"));
    req.body = sdp.as_bytes().to_vec();
    req
}

/// An extension INVITE from `term` to the conference factory, naming K1 with
/// `Session-Replaces` (and RFC 3891 `Replaces` when `replaces` is given), inviting B
/// and C.
pub fn extension(
    term: Term,
    transport: Transport,
    call_id: &str,
    contribution: &str,
    replaces: Option<Replaces>,
) -> Request {
    let factory = sip_uri("conf-factory", DOMAIN);
    let mut req = request(
        term,
        transport,
        Method::Invite,
        factory.clone(),
        factory,
        call_id,
        &format!("{}-ext", term.name()),
    );
    req.headers.require.push("recipient-list-invite".into());
    req.headers.conversation_id = Some(ConversationId::new(CONVERSATION));
    req.headers.contribution_id = Some(ContributionId::new(contribution));
    req.headers.date = Some("Thu, 26 Nov 2026 12:30:00 GMT".into());
    req.headers.session_replaces = Some(ContributionId::new(ONE_CONTRIBUTION));
    req.headers.replaces.extend(replaces);
    let entry = |t: Term| ListEntry {
        uri: t.uri(),
        display_name: None,
        method: None,
        session_replaces: None,
        replaces: None,
    };
    let list = ResourceList {
        entries: vec![entry(Term::B), entry(Term::C)],
    };
    multipart_body(req, &term.sdp(), &list)
}

/// Puts an SDP part and a recipient-list part into a multipart/mixed body.
fn multipart_body(mut req: Request, sdp: &str, list: &ResourceList) -> Request {
    let boundary = "cpmd-model-boundary";
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

/// An in-dialog request on `d` (the CSeq is advanced).
pub fn in_dialog(
    term: Term,
    transport: Transport,
    d: &mut Dialog,
    method: Method,
    branch: &str,
) -> Request {
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
    headers.via = vec![term.via(transport, branch)];
    headers.max_forwards = Some(70);
    Request {
        method,
        uri: d.remote_target.clone(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK of a 2xx on dialog `d` (a transaction of its own, RFC 3261 §13.2.2.4).
pub fn ack_2xx(term: Term, transport: Transport, d: &Dialog, invite_cseq: u32) -> Request {
    let mut headers = Headers::new(
        d.local.clone(),
        d.remote.clone(),
        d.call_id.clone(),
        CSeq {
            seq: invite_cseq,
            method: Method::Ack,
        },
    );
    headers.via = vec![term.via(transport, &format!("{}-ack-{}", term.name(), d.call_id))];
    Request {
        method: Method::Ack,
        uri: d.remote_target.clone(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK of a non-2xx final response: part of the INVITE transaction (§17.1.1.3).
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

/// A terminal's answer to a request it received; `tag` is its dialog tag.
pub fn answer(term: Term, req: &Request, status: StatusCode, tag: &Tag) -> Response {
    let mut resp = Response::to_request(req, status);
    if resp.headers.to.tag().is_none() {
        resp.headers.to.set_tag(tag);
    }
    resp.headers.contact = vec![term.contact()];
    if req.method == Method::Invite && status.is_success() {
        resp.headers.content_type = Some(MediaType::new("application", "sdp"));
        resp.body = term.sdp().into_bytes();
    }
    resp
}

/// The RFC 3891 `Replaces` naming A's leg of the 1-to-1, as an eavesdropper learns it.
pub fn replaces_of(d: &Dialog) -> Option<Replaces> {
    Some(Replaces {
        call_id: d.call_id.clone(),
        to_tag: d.remote.tag()?,
        from_tag: d.local.tag()?,
        early_only: false,
    })
}
