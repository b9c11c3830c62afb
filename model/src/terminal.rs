//! The terminals' side of SIP: who A, B, C and the attacker are, and small builders
//! for the typed requests and responses they send.
//!
//! The builders are `cpmd_core::testing`'s (shared with the core's scenario tests and
//! the end-to-end tests); this file only says who the terminals are and derives every
//! identifier from the terminal's name and the step, so the same path always yields
//! the same messages and the checker can merge equal states.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use cpmd_core::body::ResourceList;
use cpmd_core::server::{Flow, Transport};
use cpmd_core::sip::{MediaType, Method, NameAddr, Replaces, Request, Response, StatusCode, Via};
use cpmd_core::testing;
use cpmd_core::uri::{Uri, UserUri};
use cpmd_core::{CallId, ConnId, ContributionId, Tag};

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
/// Call-ID of the attacker's REFER to the focus.
pub const M_REFER_CALL: &str = "mallory-call-refer";

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
                Transport::Tcp | Transport::Tls => ConnId::new(100 + u64::from(self.octet())),
            },
            peer: self.addr(),
        }
    }

    /// The terminal's Contact.
    pub fn contact(self) -> NameAddr {
        testing::contact(self.name(), self.addr_v4())
    }

    fn addr_v4(self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, self.octet()), 5060)
    }

    fn via(self, transport: Transport, branch: &str) -> Via {
        testing::via(transport, self.addr_v4(), branch)
    }

    /// The MSRP offer or answer of this terminal.
    pub fn sdp(self) -> String {
        let host = format!("10.0.0.{}", self.octet());
        format!(
            "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n\
             m=message 7000 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
             a=path:msrp://{host}:7000/{}-s;tcp\r\na=setup:active\r\na=sendrecv\r\n",
            self.name()
        )
    }
}

pub use cpmd_core::testing::{sip_uri, Dialog};

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
    testing::request(method, uri, to, sender(term, transport, call_id, branch))
}

/// `term` as the sender of a request with Call-ID `call_id` and branch `branch`.
fn sender(term: Term, transport: Transport, call_id: &str, branch: &str) -> testing::Sender {
    testing::Sender::new(
        term.uri(),
        &Tag::new(format!("{}-from-{call_id}", term.name())),
        CallId::new(call_id),
        term.via(transport, branch),
        term.contact(),
    )
}

/// A REGISTER of `term`'s binding over `transport`.
pub fn register(term: Term, transport: Transport) -> Request {
    let call = format!("{}-call-reg", term.name());
    let branch = format!("{}-reg", term.name());
    testing::register(
        DOMAIN,
        term.uri(),
        3600,
        sender(term, transport, &call, &branch),
    )
}

/// The REGISTER of `term` after its restart: a new Call-ID and branch (it forgot
/// the old ones), the same Contact.
pub fn register_again(term: Term, transport: Transport) -> Request {
    let call = format!("{}-call-reg-again", term.name());
    let branch = format!("{}-reg-again", term.name());
    testing::register(
        DOMAIN,
        term.uri(),
        3600,
        sender(term, transport, &call, &branch),
    )
}

/// A's INVITE to B with the CPM headers and an MSRP offer; with `audio`, an audio
/// stream is offered before the MSRP one (MSRP-11: the answer declines it with port
/// 0, in its place).
pub fn invite_one(transport: Transport, audio: bool) -> Request {
    testing::invite(
        Term::B.uri(),
        CONVERSATION,
        ONE_CONTRIBUTION,
        &one_offer(audio),
        sender(Term::A, transport, A_ONE_CALL, "alice-inv"),
    )
}

/// The SDP of A's 1-to-1 INVITE: A's MSRP offer, with `audio` an audio m-line
/// before it.
pub fn one_offer(audio: bool) -> String {
    let sdp = Term::A.sdp();
    if !audio {
        return sdp;
    }
    match sdp.split_once("m=message") {
        Some((head, rest)) => format!("{head}m=audio 49170 RTP/AVP 0\r\nm=message{rest}"),
        None => sdp,
    }
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
    let sdp = term.sdp();
    let ext = testing::Extension {
        factory: sip_uri("conf-factory", DOMAIN),
        conversation: CONVERSATION,
        contribution,
        session_replaces: Some(ContributionId::new(ONE_CONTRIBUTION)),
        replaces: replaces.into_iter().collect(),
        list: ResourceList {
            entries: vec![
                testing::list_entry(Term::B.uri()),
                testing::list_entry(Term::C.uri()),
            ],
        },
        sdp: &sdp,
        boundary: "cpmd-model-boundary",
    };
    testing::extension(ext, sender(term, transport, call_id, &ext_branch(term)))
}

/// The top Via branch of `term`'s extension INVITE, without the magic cookie that
/// `testing::via` puts before it.
pub fn ext_branch(term: Term) -> String {
    format!("{}-ext", term.name())
}

/// An in-dialog request on `d` (the CSeq is advanced).
pub fn in_dialog(
    term: Term,
    transport: Transport,
    d: &mut Dialog,
    method: Method,
    branch: &str,
) -> Request {
    testing::in_dialog(d, method, term.via(transport, branch))
}

/// The ACK of a 2xx on dialog `d` (a transaction of its own, RFC 3261 §13.2.2.4).
pub fn ack_2xx(term: Term, transport: Transport, d: &Dialog, invite_cseq: u32) -> Request {
    let via = term.via(transport, &format!("{}-ack-{}", term.name(), d.call_id));
    testing::ack_2xx(d, invite_cseq, via)
}

/// The ACK of a non-2xx final response: part of the INVITE transaction (§17.1.1.3).
pub use cpmd_core::testing::ack_non_2xx;

/// A terminal's answer to a request it received; `tag` is its dialog tag (kept when
/// the request's To already has one); a 2xx to an INVITE carries the terminal's SDP.
pub fn answer(term: Term, req: &Request, status: StatusCode, tag: &Tag) -> Response {
    let to_tag = req.headers.to.tag().is_none().then_some(tag);
    let mut resp = testing::response(req, status, to_tag, term.contact());
    if req.method == Method::Invite && status.is_success() {
        resp.headers.content_type = Some(MediaType::new("application", "sdp"));
        resp.body = term.sdp().into_bytes();
    }
    resp
}

/// The RFC 3891 `Replaces` naming A's leg of the 1-to-1, as an eavesdropper learns it.
pub fn replaces_of(d: &Dialog) -> Option<Replaces> {
    d.replaces()
}
