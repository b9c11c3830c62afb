//! The seed scripts of the `server` target: complete flows (registration, a 1-to-1
//! session with MSRP, BYE, CANCEL, pager MESSAGE, the extension to a group,
//! digest authentication), written by playing them against a real [`Driver`] so that
//! every tag and session path the server chose is answered correctly.
//!
//! A fuzzer that starts from these reaches the deep states (established sessions,
//! stored messages, sealing) in its first mutations; from random bytes it would
//! first have to guess the server's tags. `cpmd-fuzz seed DIR` writes them;
//! `tests/replay.rs` checks that they still reach those states. What this is not: a
//! scenario test (`core/src/tests/` checks the flows' results).

use std::net::SocketAddrV4;

use cpmd_core::body::ResourceList;
use cpmd_core::ids::{CallId, Tag};
use cpmd_core::server::{Command, Flow, Transport};
use cpmd_core::sip::{MediaType, Method, Request, Response, SipMessage, StatusCode, Via};
use cpmd_core::testing::{self, Dialog, Sender};
use cpmd_core::uri::Uri;
use cpmd_core::wire;

use crate::script::{
    print, terminal, terminal_msrp, Conn, Driver, Op, Output, StoreAnswer, DOMAIN,
};

/// One seed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Its file name.
    pub name: &'static str,
    /// The script.
    pub bytes: Vec<u8>,
}

/// Every seed script.
pub fn all() -> Vec<Seed> {
    vec![
        seed("01-register-options", register_options),
        seed("02-session-bye-udp", |w| session_bye(w, Transport::Udp)),
        seed("03-session-bye-tcp", |w| session_bye(w, Transport::Tcp)),
        seed("04-session-msrp", session_msrp),
        seed("05-cancel", cancel),
        seed("06-pager", pager),
        seed("07-extension", extension),
        seed_auth("08-auth-register", auth_register),
    ]
}

fn seed(name: &'static str, flow: impl FnOnce(&mut Writer)) -> Seed {
    let mut w = Writer::new(false);
    flow(&mut w);
    Seed {
        name,
        bytes: w.text,
    }
}

fn seed_auth(name: &'static str, flow: impl FnOnce(&mut Writer)) -> Seed {
    let mut w = Writer::new(true);
    flow(&mut w);
    Seed {
        name,
        bytes: w.text,
    }
}

/// A terminal of a seed script.
struct Term {
    name: &'static str,
    n: u8,
    transport: Transport,
    counter: u32,
}

impl Term {
    fn new(name: &'static str, n: u8, transport: Transport) -> Self {
        Self {
            name,
            n,
            transport,
            counter: 0,
        }
    }

    fn token(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{}-{what}-{}", self.name, self.counter)
    }

    fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new([10, 0, 0, self.n].into(), 5060)
    }

    fn uri(&self) -> Uri {
        testing::sip_uri(self.name, DOMAIN)
    }

    fn via(&mut self) -> Via {
        let branch = self.token("br");
        testing::via(self.transport, self.addr(), &branch)
    }

    fn sender(&mut self) -> Sender {
        let tag = Tag::new(self.token("tag"));
        let call_id = CallId::new(self.token("call"));
        let via = self.via();
        testing::Sender::new(self.uri(), &tag, call_id, via, self.contact())
    }

    fn contact(&self) -> cpmd_core::sip::NameAddr {
        testing::contact(self.name, self.addr())
    }

    /// The record op for this terminal's SIP bytes.
    fn op(&self) -> Op {
        match self.transport {
            Transport::Udp => Op::Udp(self.n),
            Transport::Tcp | Transport::Tls => Op::Bytes(Conn::Tcp(self.n)),
        }
    }

    /// Whether the server sent `flow` to this terminal.
    fn is(&self, flow: &Flow) -> bool {
        flow.peer == terminal(self.n)
    }

    /// An MSRP offer from this terminal (active: it connects to the server).
    fn sdp(&self, session: &str) -> String {
        let addr = terminal_msrp(self.n);
        let (host, port) = (addr.ip(), addr.port());
        format!(
            "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n\
             m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
             a=accept-wrapped-types:text/plain message/imdn+xml\r\n\
             a=path:msrp://{host}:{port}/{session};tcp\r\na=setup:active\r\na=sendrecv\r\n"
        )
    }

    fn msrp_path(&self, session: &str) -> String {
        let addr = terminal_msrp(self.n);
        format!("msrp://{}:{}/{session};tcp", addr.ip(), addr.port())
    }
}

/// Plays a seed flow and writes its script.
struct Writer {
    driver: Driver,
    text: Vec<u8>,
}

impl Writer {
    fn new(auth: bool) -> Self {
        let text = if auth {
            print(Op::Auth, b"")
        } else {
            Vec::new()
        };
        Self {
            driver: Driver::new(auth),
            text,
        }
    }

    fn step(&mut self, op: Op, body: &[u8]) -> Vec<Output> {
        self.text.extend(print(op, body));
        self.driver.step(op, body).to_vec()
    }

    fn sip(&mut self, from: &Term, msg: impl IntoSip) -> Vec<Output> {
        let bytes = wire::encode_message(&msg.into_sip());
        self.step(from.op(), &bytes)
    }

    fn store_all(&mut self) -> Vec<Output> {
        self.step(Op::Store(StoreAnswer::All), b"")
    }

    fn tick(&mut self, ms: u64) -> Vec<Output> {
        self.step(Op::Tick(ms), b"")
    }

    fn register(&mut self, t: &mut Term) {
        let sender = t.sender();
        let req = testing::register(DOMAIN, t.uri(), 3600, sender);
        let out = self.sip(t, req);
        expect_response(&out, t, StatusCode::OK);
    }
}

/// A request or response as a [`SipMessage`] (the core's `From` impls are for its
/// own tests only).
trait IntoSip {
    fn into_sip(self) -> SipMessage;
}

impl IntoSip for Request {
    fn into_sip(self) -> SipMessage {
        SipMessage::Request(self)
    }
}

impl IntoSip for Response {
    fn into_sip(self) -> SipMessage {
        SipMessage::Response(self)
    }
}

/// The SIP messages the server sent to `t`.
fn sent_to(out: &[Output], t: &Term) -> Vec<SipMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Command(Command::Transmit { flow, message }) if t.is(flow) => {
                Some((**message).clone())
            }
            Output::Command(_) | Output::Event(_) => None,
        })
        .collect()
}

fn expect_request(out: &[Output], t: &Term, method: Method) -> Request {
    sent_to(out, t)
        .into_iter()
        .find_map(|m| match m {
            SipMessage::Request(r) if r.method == method => Some(r),
            SipMessage::Request(_) | SipMessage::Response(_) => None,
        })
        .unwrap_or_else(|| panic!("seed: no {method} to {}: {out:#?}", t.name))
}

fn expect_response(out: &[Output], t: &Term, status: StatusCode) -> Response {
    sent_to(out, t)
        .into_iter()
        .find_map(|m| match m {
            SipMessage::Response(r) if r.status == status => Some(r),
            SipMessage::Request(_) | SipMessage::Response(_) => None,
        })
        .unwrap_or_else(|| panic!("seed: no {status} to {}: {out:#?}", t.name))
}

const CONVERSATION: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const CONTRIBUTION: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
const ICSI: &str = "*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"";

/// REGISTER, OPTIONS, a refresh and a removal (Expires 0) over UDP; a TCP terminal.
fn register_options(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Udp);
    let mut b = Term::new("bob", 2, Transport::Tcp);
    w.register(&mut a);
    w.register(&mut b);
    let sender = a.sender();
    let options = testing::options(testing::host_uri(DOMAIN), sender);
    let out = w.sip(&a, options);
    expect_response(&out, &a, StatusCode::OK);
    let sender = a.sender();
    let remove = testing::register(DOMAIN, a.uri(), 0, sender);
    w.sip(&a, remove);
    w.tick(3_600_000);
}

/// A 1-to-1 as both terminals see it.
struct Call {
    a_invite: Request,
    a_dialog: Dialog,
    a_ok: Response,
    b_invite: Request,
    b_dialog: Dialog,
}

/// alice invites bob; bob rings and answers; alice ACKs.
fn establish(w: &mut Writer, a: &mut Term, b: &mut Term) -> Call {
    let sender = a.sender();
    let mut a_invite = testing::invite(b.uri(), CONVERSATION, CONTRIBUTION, &a.sdp("a1"), sender);
    a_invite.headers.accept_contact.push(ICSI.into());
    let out = w.sip(a, a_invite.clone());
    let b_invite = expect_request(&out, b, Method::Invite);
    let b_tag = Tag::new("bob-leg-tag");
    let ringing = testing::response(&b_invite, StatusCode::RINGING, Some(&b_tag), b.contact());
    w.sip(b, ringing);
    let mut ok = testing::response(&b_invite, StatusCode::OK, Some(&b_tag), b.contact());
    let ok_sdp = b.sdp("b1");
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = ok_sdp.into_bytes();
    let out = w.sip(b, ok);
    let a_ok = expect_response(&out, a, StatusCode::OK);
    let a_dialog = Dialog::caller(&a_invite, &a_ok);
    let via = a.via();
    let ack = testing::ack_2xx(&a_dialog, a_invite.headers.cseq.seq, via);
    w.sip(a, ack);
    Call {
        b_dialog: Dialog::callee(&b_invite, &b_tag),
        a_invite,
        a_dialog,
        a_ok,
        b_invite,
    }
}

/// An established session ended by alice's BYE; bob answers the relayed BYE; the
/// store seals the history.
fn session_bye(w: &mut Writer, transport: Transport) {
    let mut a = Term::new("alice", 1, transport);
    let mut b = Term::new("bob", 2, transport);
    w.register(&mut a);
    w.register(&mut b);
    let mut call = establish(w, &mut a, &mut b);
    let via = a.via();
    let bye = testing::bye(&mut call.a_dialog, via);
    let out = w.sip(&a, bye);
    let b_bye = expect_request(&out, &b, Method::Bye);
    let ok = testing::response(&b_bye, StatusCode::OK, None, b.contact());
    w.sip(&b, ok);
    w.store_all();
    w.tick(40_000);
    let _ = (call.a_ok, call.b_invite, call.a_invite, call.b_dialog);
}

/// A chat message over MSRP: alice's SEND, stored, relayed to bob, bob's 200.
fn session_msrp(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Tcp);
    let mut b = Term::new("bob", 2, Transport::Tcp);
    w.register(&mut a);
    w.register(&mut b);
    let call = establish(w, &mut a, &mut b);
    let server_path_a = msrp_path_of(&call.a_ok.body);
    let server_path_b = msrp_path_of(&call.b_invite.body);
    // bob connects too (active), with an empty first SEND to bind his connection.
    let bind = msrp_send(
        "b-bind",
        &server_path_b,
        &b.msrp_path("b1"),
        "bob-bind",
        None,
    );
    w.step(Op::Bytes(Conn::Msrp(b.n)), &bind);
    let cpim = format!(
        "From: <sip:alice@{DOMAIN}>\r\nTo: <sip:bob@{DOMAIN}>\r\nDateTime: 2026-11-26T12:30:00Z\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m-0001\r\n\
         imdn.Disposition-Notification: positive-delivery\r\n\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\r\nhello bob"
    );
    let send = msrp_send(
        "a-tx-1",
        &server_path_a,
        &a.msrp_path("a1"),
        "m-0001",
        Some(&cpim),
    );
    let out = w.step(Op::Bytes(Conn::Msrp(a.n)), &send);
    let _ = out;
    let out = w.store_all();
    // bob's 200 to every SEND the server wrote him.
    for o in &out {
        if let Output::Command(Command::MsrpSend { bytes, .. }) = o {
            if let Some(tid) = msrp_send_tid(bytes) {
                let ok = format!(
                    "MSRP {tid} 200 OK\r\nTo-Path: {server_path_b}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
                    b.msrp_path("b1")
                );
                w.step(Op::Bytes(Conn::Msrp(b.n)), ok.as_bytes());
            }
        }
    }
    w.step(Op::Close(Conn::Msrp(a.n)), b"");
    w.tick(1000);
}

/// The `a=path` of an SDP body.
fn msrp_path_of(sdp: &[u8]) -> String {
    let text = String::from_utf8_lossy(sdp);
    text.lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .unwrap_or_else(|| panic!("seed: no a=path in {text:?}"))
        .trim()
        .to_owned()
}

/// An MSRP SEND with a CPIM body (or an empty one).
fn msrp_send(tid: &str, to: &str, from: &str, message_id: &str, cpim: Option<&str>) -> Vec<u8> {
    let mut out = format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {message_id}\r\n"
    );
    match cpim {
        Some(body) => out.push_str(&format!(
            "Byte-Range: 1-{len}/{len}\r\nContent-Type: message/cpim\r\n\r\n{body}\r\n",
            len = body.len()
        )),
        None => out.push_str("Byte-Range: 1-0/0\r\n"),
    }
    out.push_str(&format!("-------{tid}$\r\n"));
    out.into_bytes()
}

/// The transaction id of an MSRP SEND the server wrote.
fn msrp_send_tid(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut first = text.lines().next()?.split(' ');
    let (_, tid, method) = (first.next()?, first.next()?, first.next()?);
    (method == "SEND").then(|| tid.to_owned())
}

/// alice invites bob, bob rings, alice cancels; bob answers 487; the server ACKs.
fn cancel(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Udp);
    let mut b = Term::new("bob", 2, Transport::Udp);
    w.register(&mut a);
    w.register(&mut b);
    let sender = a.sender();
    let a_invite = testing::invite(b.uri(), CONVERSATION, CONTRIBUTION, &a.sdp("a1"), sender);
    let out = w.sip(&a, a_invite.clone());
    let b_invite = expect_request(&out, &b, Method::Invite);
    let b_tag = Tag::new("bob-leg-tag");
    let ringing = testing::response(&b_invite, StatusCode::RINGING, Some(&b_tag), b.contact());
    w.sip(&b, ringing);
    let mut out = w.sip(&a, testing::cancel(&a_invite));
    let b_cancel = expect_request(&out, &b, Method::Cancel);
    w.sip(
        &b,
        testing::response(&b_cancel, StatusCode::OK, Some(&b_tag), b.contact()),
    );
    let terminated = StatusCode::REQUEST_TERMINATED;
    out.extend(w.sip(
        &b,
        testing::response(&b_invite, terminated, Some(&b_tag), b.contact()),
    ));
    let a_487 = expect_response(&out, &a, terminated);
    w.sip(&a, testing::ack_non_2xx(&a_invite, &a_487));
    w.tick(40_000);
}

/// A pager-mode MESSAGE from alice to bob: stored, relayed, answered.
fn pager(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Udp);
    let mut b = Term::new("bob", 2, Transport::Udp);
    w.register(&mut a);
    w.register(&mut b);
    let sender = a.sender();
    let mut msg = testing::message(
        b.uri(),
        MediaType::new("text", "plain"),
        b"hello bob",
        sender,
    );
    msg.headers.conversation_id = Some(cpmd_core::ids::ConversationId::new(CONVERSATION));
    let mut out = w.sip(&a, msg);
    out.extend(w.store_all());
    let b_msg = expect_request(&out, &b, Method::Message);
    w.sip(
        &b,
        testing::response(
            &b_msg,
            StatusCode::OK,
            Some(&Tag::new("bob-pager")),
            b.contact(),
        ),
    );
    w.store_all();
    w.tick(40_000);
}

/// The claim: a 1-to-1 extended to a group with carol; bob and carol accept; the
/// replaced session ends.
fn extension(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Udp);
    let mut b = Term::new("bob", 2, Transport::Udp);
    let mut c = Term::new("carol", 3, Transport::Udp);
    w.register(&mut a);
    w.register(&mut b);
    w.register(&mut c);
    let call = establish(w, &mut a, &mut b);
    let list = ResourceList {
        entries: vec![testing::list_entry(b.uri()), testing::list_entry(c.uri())],
    };
    let sdp = a.sdp("a2");
    let ext = testing::Extension {
        factory: testing::sip_uri("conf-factory", DOMAIN),
        conversation: CONVERSATION,
        contribution: "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77",
        session_replaces: Some(cpmd_core::ids::ContributionId::new(CONTRIBUTION)),
        replaces: Vec::new(),
        list,
        sdp: &sdp,
        boundary: "cpmd-boundary",
    };
    let sender = a.sender();
    let ext_invite = testing::extension(ext, sender);
    let mut out = w.sip(&a, ext_invite.clone());
    out.extend(w.store_all());
    let a_ok = expect_response(&out, &a, StatusCode::OK);
    let a_group = Dialog::caller(&ext_invite, &a_ok);
    let via = a.via();
    out.extend(w.sip(
        &a,
        testing::ack_2xx(&a_group, ext_invite.headers.cseq.seq, via),
    ));
    out.extend(w.store_all());
    for t in [&b, &c] {
        let invite = sent_to(&out, t).into_iter().find_map(|m| match m {
            SipMessage::Request(r) if r.method == Method::Invite => Some(r),
            SipMessage::Request(_) | SipMessage::Response(_) => None,
        });
        if let Some(invite) = invite {
            let tag = Tag::new(format!("{}-group-tag", t.name));
            let ok = testing::response(&invite, StatusCode::OK, Some(&tag), t.contact());
            w.sip(t, ok);
        }
    }
    // bob ends the replaced 1-to-1; alice answers the relayed BYE.
    let mut b_dialog = call.b_dialog;
    let via = b.via();
    let out = w.sip(&b, testing::bye(&mut b_dialog, via));
    if let Some(SipMessage::Request(a_bye)) = sent_to(&out, &a)
        .into_iter()
        .find(|m| matches!(m, SipMessage::Request(r) if r.method == Method::Bye))
    {
        w.sip(
            &a,
            testing::response(&a_bye, StatusCode::OK, None, a.contact()),
        );
    }
    w.store_all();
    w.tick(40_000);
    let _ = (call.a_invite, call.a_dialog);
}

/// With digest authentication: alice's REGISTER is challenged, her answer with
/// the right MD5 response is accepted; bob's wrong one is refused.
fn auth_register(w: &mut Writer) {
    let mut a = Term::new("alice", 1, Transport::Udp);
    let sender = a.sender();
    let first = testing::register(DOMAIN, a.uri(), 3600, sender.clone());
    let out = w.sip(&a, first.clone());
    let challenge = expect_response(&out, &a, StatusCode::UNAUTHORIZED);
    let header = challenge
        .headers
        .other
        .iter()
        .find(|(n, v)| n.eq_ignore_ascii_case("WWW-Authenticate") && v.contains("MD5"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("seed: no MD5 challenge: {challenge:?}"));
    let nonce = param(&header, "nonce");
    let qop = header.contains("qop");
    let uri = wire::print_uri(&first.uri);
    let ha1 = md5_hex(&format!("alice:{DOMAIN}:alice-pw"));
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    let (response, qop_part) = if qop {
        let r = md5_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        (r, ", qop=auth, nc=00000001, cnonce=\"c0ffee\"")
    } else {
        (md5_hex(&format!("{ha1}:{nonce}:{ha2}")), "")
    };
    let mut second = first;
    second.headers.cseq.seq += 1;
    second.headers.via = vec![a.via()];
    second.headers.other.push((
        "Authorization".into(),
        format!(
            "Digest username=\"alice\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5{qop_part}"
        ),
    ));
    let out = w.sip(&a, second);
    expect_response(&out, &a, StatusCode::OK);
    let mut b = Term::new("bob", 2, Transport::Udp);
    let sender = b.sender();
    let mut wrong = testing::register(DOMAIN, b.uri(), 3600, sender);
    wrong.headers.other.push((
        "Authorization".into(),
        format!(
            "Digest username=\"bob\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"00000000000000000000000000000000\", algorithm=MD5"
        ),
    ));
    w.sip(&b, wrong);
}

/// The value of `name=` in a challenge.
fn param(header: &str, name: &str) -> String {
    let at = header
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("seed: no {name} in {header}"));
    let rest = &header[at + name.len() + 1..];
    let rest = rest.trim_start_matches('"');
    rest.split(['"', ',']).next().unwrap_or("").to_owned()
}

fn md5_hex(text: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
