//! Back-to-back MSRP scenarios (specs/msrp.md): SDP rewrite and connection setup,
//! relay in both directions, chunking, Failure-Report / Success-Report, path checks,
//! group fan-out, the switch window, closed legs and store failures. The terminals
//! speak MSRP bytes to `handle_msrp_bytes`; what the server writes is decoded back.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::flows::*;
use super::util::*;
use crate::ids::{ConnId, TransactionId};
use crate::msrp::reassembly::{split, Reassembler, Reassembly};
use crate::msrp::{FailureReport, MsrpMessage, MsrpMethod, MsrpRequest, MsrpResponse};
use crate::server::{Config, Record, StoredMessage, Transport};
use crate::sip::{MediaType, Method, StatusCode};
use crate::wire;

const CPIM: &str = "message/cpim";

/// A terminal's MSRP side: its path and its connection to the server.
struct Peer {
    path: String,
    conn: ConnId,
    addr: SocketAddr,
    n: u32,
}

impl Peer {
    fn new(host: &str, port: u16, session: &str, conn: u64) -> Self {
        Self {
            path: format!("msrp://{host}:{port}/{session};tcp"),
            conn: ConnId::new(conn),
            addr: format!("{host}:{port}").parse().unwrap(),
            n: 0,
        }
    }

    fn tid(&mut self) -> TransactionId {
        self.n += 1;
        TransactionId::new(format!("t{}x{}", self.conn.get(), self.n))
    }

    /// A complete SEND of the CPIM message `text` to `to` (the server's path on
    /// this leg).
    fn send(&mut self, to: &str, id: &str, text: &[u8]) -> MsrpRequest {
        self.send_raw(to, id, &cpim(id, text))
    }

    /// A SEND of `body` as it is (a chunk, or another content type).
    fn send_raw(&mut self, to: &str, id: &str, body: &[u8]) -> MsrpRequest {
        let mut req = MsrpRequest::new(
            self.tid(),
            MsrpMethod::Send,
            vec![to.to_owned()],
            vec![self.path.clone()],
        );
        // An MSRP ident has at least 4 characters.
        req.message_id = Some(format!("mid-{id}"));
        req.content_type = Some(CPIM.into());
        req.body = body.to_vec();
        req
    }

    /// This terminal's 200 to the server's SEND `tid` (`srv`: the server's path on
    /// this leg).
    fn ok(&self, tid: TransactionId, srv: &str) -> MsrpMessage {
        MsrpMessage::Response(MsrpResponse {
            transaction_id: tid,
            status: 200,
            comment: Some("OK".into()),
            to_path: vec![srv.to_owned()],
            from_path: vec![self.path.clone()],
            other: vec![],
        })
    }

    fn bind(&mut self, to: &str) -> MsrpRequest {
        MsrpRequest::new(
            self.tid(),
            MsrpMethod::Send,
            vec![to.to_owned()],
            vec![self.path.clone()],
        )
    }
}

/// A CPIM message as terminals send it: anonymous From/To, `imdn.Message-ID`
/// `cpim-<id>`, text/plain content.
fn cpim(id: &str, text: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: cpim-{id}\r\n\
         DateTime: 2026-11-26T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(text);
    out
}

/// The content of a CPIM body (the body itself when it is not CPIM).
fn inner(body: &[u8]) -> Vec<u8> {
    wire::cpim_codec::decode(body).map_or_else(|_| body.to_vec(), |c| c.body)
}

impl Harness {
    fn msrp_in(&mut self, peer: &Peer, msg: MsrpMessage) {
        let bytes = wire::msrp::encode(&msg);
        self.msrp_bytes(peer, &bytes);
    }

    fn msrp_bytes(&mut self, peer: &Peer, bytes: &[u8]) {
        self.server
            .handle_msrp_bytes(self.now, peer.conn, peer.addr, bytes);
        self.drain();
    }

    /// Everything the server wrote on `conn` since the last call.
    pub(crate) fn msrp_take(&mut self, conn: ConnId) -> Vec<MsrpMessage> {
        let limits = crate::wire::Limits::default();
        let mut out = Vec::new();
        if let Some(d) = self.msrp_out.get_mut(&conn) {
            while let Some(m) = d.next_message(&limits) {
                out.push(m.expect("the server writes valid msrp"));
            }
        }
        out
    }
}

fn request(m: MsrpMessage) -> MsrpRequest {
    match m {
        MsrpMessage::Request(r) => r,
        MsrpMessage::Response(r) => panic!("expected a request, got {r:?}"),
    }
}

fn response(m: MsrpMessage) -> MsrpResponse {
    match m {
        MsrpMessage::Response(r) => r,
        MsrpMessage::Request(r) => panic!("expected a response, got {r:?}"),
    }
}

/// The SDP lines of a body.
fn sdp_of(body: &[u8]) -> crate::sdp::Sdp {
    wire::sdp::decode(body).expect("the server's sdp decodes")
}

/// The server's `a=path` and `a=setup` in an SDP body it sent.
fn server_media(body: &[u8]) -> (String, String) {
    let sdp = sdp_of(body);
    let m = sdp.message_media().expect("an m=message section");
    (
        m.attribute("path").unwrap().to_owned(),
        m.attribute("setup").unwrap().to_owned(),
    )
}

fn terminal_sdp(host: &str, port: u16, session: &str, setup: Option<&str>) -> String {
    let mut sdp = msrp_sdp(host, port, session).replace("a=setup:active\r\n", "");
    if let Some(s) = setup {
        sdp.push_str(&format!("a=setup:{s}\r\n"));
    }
    sdp
}

/// An established 1-to-1 with the given setup attributes; returns the call and the
/// server's paths on A's and B's legs.
fn establish_msrp(
    w: &mut World,
    a_setup: Option<&str>,
    b_setup: Option<&str>,
) -> (OneToOneCall, String, String) {
    let conversation = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
    let contribution = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
    let a_invite = with_sdp(
        invite_to(w, "bob", conversation, contribution),
        &terminal_sdp("10.0.0.1", 7001, "a1", a_setup),
    );
    w.h.send(&w.a, a_invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let (b_srv, b_offer_setup) = server_media(&b_invite.body);
    // MSRP-1: the server offers its own path, actpass, never A's path.
    assert_eq!(b_offer_setup, "actpass");
    assert!(!String::from_utf8_lossy(&b_invite.body).contains("7001"));
    let b_tag = crate::ids::Tag::new("bob-leg-tag");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = terminal_sdp("10.0.0.2", 7002, "b1", b_setup).into_bytes();
    w.h.send(&w.b, ok);
    w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let (a_srv, a_answer_setup) = server_media(&a_ok.body);
    let expected = if a_setup == Some("passive") {
        "active"
    } else {
        "passive"
    };
    assert_eq!(a_answer_setup, expected);
    assert_ne!(a_srv, b_srv, "a fresh session-id per leg");
    let a_dialog = UaDialog::caller(&a_invite, &a_ok);
    let ack = w.a.ack(&a_dialog, a_invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let b_dialog = UaDialog::callee(&b_invite, &b_tag);
    let call = OneToOneCall {
        a_invite,
        a_dialog,
        a_ok,
        b_invite,
        b_dialog,
        conversation: conversation.into(),
        contribution: crate::ids::ContributionId::new(contribution),
    };
    (call, a_srv, b_srv)
}

fn peers() -> (Peer, Peer) {
    (
        Peer::new("10.0.0.1", 7001, "a1", 501),
        Peer::new("10.0.0.2", 7002, "b1", 502),
    )
}

/// Both terminals connect and bind (they are active).
fn bind_both(w: &mut World, a: &mut Peer, b: &mut Peer, a_srv: &str, b_srv: &str) {
    let bind = a.bind(a_srv);
    w.h.msrp_in(a, MsrpMessage::Request(bind));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    let bind = b.bind(b_srv);
    w.h.msrp_in(b, MsrpMessage::Request(bind));
    assert_eq!(response(w.h.msrp_take(b.conn).remove(0)).status, 200);
}

/// A 1-to-1 over MSRP whose terminals are both active and bound: the world, the
/// server's paths on A's and B's legs, and the two terminals.
fn bound_pair() -> (World, String, String, Peer, Peer) {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, Some("active"), Some("active"));
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    (w, a_srv, b_srv, a, b)
}

/// The messages relayed to a terminal: (message id, body), reassembled.
fn received(w: &mut World, peer: &Peer, srv: &str) -> Vec<(String, Vec<u8>)> {
    let mut r = Reassembler::new();
    let limits = crate::wire::Limits::default();
    let mut out = Vec::new();
    for m in w.h.msrp_take(peer.conn) {
        let MsrpMessage::Request(req) = m else {
            continue; // answers to the terminal's own requests
        };
        assert_eq!(req.method, MsrpMethod::Send);
        assert_eq!(req.to_path, vec![peer.path.clone()]);
        assert_eq!(req.from_path, vec![srv.to_owned()]);
        if req.body.is_empty() && req.content_type.is_none() {
            continue; // the server's bind SEND
        }
        if let Reassembly::Complete(body) = r.accept_request(&req, &limits).unwrap() {
            out.push((req.message_id.clone().unwrap(), inner(&body)));
        }
    }
    out
}

fn stored_bodies(w: &World) -> Vec<Vec<u8>> {
    w.h.stored
        .iter()
        .filter_map(|r| r.message().map(|m| inner(&m.body)))
        .collect()
}

/// MSRP-1, MSRP-2, MSRP-7: terminals that connect (offer active, answer active);
/// messages relayed both ways, stored first, answered 200, new ids on the far leg.
#[test]
fn msrp_7_one_to_one_relay_both_ways_terminals_active() {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, Some("active"), Some("active"));
    assert!(w.h.msrp_connects.is_empty(), "both terminals connect");
    let (mut a, mut b) = peers();
    // A sends before B bound: the message waits in B's queue, and A's 200 waits
    // until it went out (msrp_held).
    let bind = a.bind(&a_srv);
    w.h.msrp_in(&a, MsrpMessage::Request(bind));
    w.h.msrp_take(a.conn);
    let send = a.send(&a_srv, "m1", b"hello bob");
    let tid = send.transaction_id.clone();
    w.h.msrp_in(&a, MsrpMessage::Request(send));
    assert!(w.h.msrp_take(a.conn).is_empty(), "{:#?}", w.h.log);
    assert_eq!(stored_bodies(&w), vec![b"hello bob".to_vec()]);
    let bind = b.bind(&b_srv);
    w.h.msrp_in(&b, MsrpMessage::Request(bind));
    let answers = w.h.msrp_take(a.conn);
    assert_eq!(answers.len(), 1, "{:#?}", w.h.log);
    let ok = response(answers[0].clone());
    assert_eq!((ok.transaction_id, ok.status), (tid, 200));
    assert_eq!(ok.to_path, vec![a.path.clone()]);
    assert_eq!(ok.from_path, vec![a_srv.clone()]);
    let got = w.h.msrp_take(b.conn);
    assert_eq!(response(got[0].clone()).status, 200);
    let relayed = request(got[1].clone());
    assert_eq!(relayed.to_path, vec![b.path.clone()]);
    assert_eq!(relayed.from_path, vec![b_srv.clone()]);
    assert_eq!(inner(&relayed.body), b"hello bob");
    assert_eq!(
        relayed.body,
        cpim("m1", b"hello bob"),
        "relayed byte for byte"
    );
    assert_eq!(relayed.content_type.as_deref(), Some(CPIM));
    assert_ne!(
        relayed.message_id.as_deref(),
        Some("mid-m1"),
        "the server's own id"
    );
    // B answers the server's SEND: consumed, nothing goes out.
    w.h.msrp_in(&b, b.ok(relayed.transaction_id.clone(), &b_srv));
    assert!(w.h.msrp_take(b.conn).is_empty());
    // And back.
    let send = b.send(&b_srv, "m2", b"hi alice");
    w.h.msrp_in(&b, MsrpMessage::Request(send));
    assert_eq!(response(w.h.msrp_take(b.conn).remove(0)).status, 200);
    let got = received(&mut w, &a, &a_srv);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"hi alice");
}

/// MSRP-2: offer passive → the server answers active and connects to A; B answers
/// without a=setup → the server (the offerer) connects to B. Each connection is
/// bound with an empty SEND before anything else.
#[test]
fn msrp_2_server_connects_when_the_terminal_is_passive() {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, Some("passive"), None);
    let connects = w.h.msrp_connects.clone();
    assert_eq!(connects.len(), 2, "{connects:?}");
    let to_b = connects
        .iter()
        .find(|(_, p)| *p == "10.0.0.2:7002".parse::<SocketAddr>().unwrap())
        .expect("a connect to B's path")
        .0;
    let to_a = connects
        .iter()
        .find(|(_, p)| *p == "10.0.0.1:7001".parse::<SocketAddr>().unwrap())
        .expect("a connect to A's path")
        .0;
    let mut a = Peer::new("10.0.0.1", 7001, "a1", to_a.get());
    let b = Peer::new("10.0.0.2", 7002, "b1", to_b.get());
    let bind = request(w.h.msrp_take(to_a).remove(0));
    assert!(bind.body.is_empty() && bind.content_type.is_none());
    // RFC 4975 §7.1.1 / §9: even the empty bind SEND has a Message-ID and a Byte-Range.
    assert!(bind.message_id.as_deref().is_some_and(wire::msrp::is_ident));
    assert_eq!(
        bind.byte_range,
        Some(crate::msrp::ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0)
        })
    );
    assert_eq!(bind.to_path, vec![a.path.clone()]);
    assert_eq!(bind.from_path, vec![a_srv.clone()]);
    // A sends on the connection the server opened.
    let send = a.send(&a_srv, "m1", b"over the server's connection");
    w.h.msrp_in(&a, MsrpMessage::Request(send));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    let got = received(&mut w, &b, &b_srv);
    assert_eq!(got[0].1, b"over the server's connection");
}

/// MSRP-8: a chunked message is reassembled, stored once, relayed (re-chunked by
/// `chunk_size`); every chunk but the last is answered at once.
#[test]
fn msrp_8_chunked_message_is_reassembled_and_rechunked() {
    let mut config = Config::new(DOMAIN);
    config.msrp.chunk_size = 7;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    let text = b"a message cut into three chunks".to_vec();
    let body = cpim("big", &text);
    let chunks = split(&body, body.len() / 3 + 1);
    assert_eq!(chunks.len(), 3);
    for (i, (range, flag, data)) in chunks.iter().enumerate() {
        let mut req = a.send_raw(&a_srv, "big", data);
        req.byte_range = Some(*range);
        req.continuation = *flag;
        w.h.msrp_in(&a, MsrpMessage::Request(req));
        let answers = w.h.msrp_take(a.conn);
        assert_eq!(answers.len(), 1, "chunk {i} answered");
        if i < 2 {
            assert!(stored_bodies(&w).is_empty());
        }
    }
    assert_eq!(stored_bodies(&w), vec![text.clone()]);
    let got = received(&mut w, &b, &b_srv);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, text);
}

/// The default `chunk_size` (specs/msrp.md, "Chunk size"): a 4 KiB chat message
/// (with its CPIM head) goes out as one SEND, not three as at 2048; a message
/// beyond the chunk size is still cut, in chunks of that size.
#[test]
fn default_chunk_size_relays_a_4k_message_in_one_send() {
    let mut w = World::new();
    assert_eq!(w.h.server.config().msrp.chunk_size, 8192);
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    for (id, len, sends) in [("k4", 4096, 1), ("k12", 12 * 1024, 2)] {
        let text = vec![b'x'; len];
        let send = a.send(&a_srv, id, &text);
        w.h.msrp_in(&a, MsrpMessage::Request(send));
        assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
        let out: Vec<_> =
            w.h.msrp_take(b.conn)
                .into_iter()
                .filter_map(|m| match m {
                    MsrpMessage::Request(r) if !r.body.is_empty() => Some(r),
                    MsrpMessage::Request(_) | MsrpMessage::Response(_) => None,
                })
                .collect();
        assert_eq!(out.len(), sends, "{id}");
        assert!(out.iter().all(|r| r.body.len() <= 8192), "{id}");
        let whole: Vec<u8> = out.iter().flat_map(|r| r.body.iter().copied()).collect();
        assert_eq!(inner(&whole), text, "{id}");
    }
}

/// MSRP-4: Failure-Report `no` → no response at all; `partial` → only the negative
/// one; `yes` → the 200 (MSG-1: only once durable).
#[test]
fn msrp_4_failure_report_yes_partial_no() {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    w.h.store_mode = StoreMode::Manual;
    for (fr, store_ok, expected) in [
        (FailureReport::Yes, true, Some(200)),
        (FailureReport::Yes, false, Some(500)),
        (FailureReport::Partial, true, None),
        (FailureReport::Partial, false, Some(500)),
        (FailureReport::No, true, None),
        (FailureReport::No, false, None),
    ] {
        let id = format!("m-{fr:?}-{store_ok}");
        let mut req = a.send(&a_srv, &id, b"x");
        req.failure_report = fr;
        w.h.msrp_in(&a, MsrpMessage::Request(req));
        assert!(w.h.msrp_take(a.conn).is_empty(), "nothing before durable");
        w.h.store_answer(store_ok);
        let answers: Vec<u16> =
            w.h.msrp_take(a.conn)
                .into_iter()
                .map(|m| response(m).status)
                .collect();
        assert_eq!(answers, expected.into_iter().collect::<Vec<_>>(), "{id}");
        let delivered = received(&mut w, &b, &b_srv);
        assert_eq!(delivered.len(), usize::from(store_ok), "{id}");
    }
}

/// MSRP-4: Success-Report yes → a REPORT 200 covering the whole message, after the
/// 200; MSRP-5: a REPORT the terminal sends is never answered.
#[test]
fn msrp_5_success_report_and_reports_never_answered() {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    let mut req = a.send(&a_srv, "sr", b"report me");
    req.success_report = Some(true);
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    let out = w.h.msrp_take(a.conn);
    assert_eq!(out.len(), 2);
    assert_eq!(response(out[0].clone()).status, 200);
    let report = request(out[1].clone());
    assert_eq!(report.method, MsrpMethod::Report);
    assert_eq!(report.status, Some((200, Some("OK".into()))));
    assert_eq!(report.message_id.as_deref(), Some("mid-sr"));
    // The stored message id is the CPIM imdn.Message-ID, not the MSRP one.
    assert!(w
        .h
        .stored
        .iter()
        .any(|r| matches!(r, Record::Message(m) if m.message_id.as_str() == "cpim-sr")));
    assert_eq!(report.to_path, vec![a.path.clone()]);
    let range = report.byte_range.unwrap();
    let total = cpim("sr", b"report me").len() as u64;
    assert_eq!(
        (range.start, range.end, range.total),
        (1, Some(total), Some(total))
    );
    // B reports on the message it got: the server answers nothing.
    let mut rep = MsrpRequest::new(
        b.tid(),
        MsrpMethod::Report,
        vec![b_srv.clone()],
        vec![b.path.clone()],
    );
    rep.status = Some((200, Some("OK".into())));
    rep.message_id = Some("whatever".into());
    w.h.msrp_take(b.conn);
    w.h.msrp_in(&b, MsrpMessage::Request(rep));
    assert!(w.h.msrp_take(b.conn).is_empty());
    assert!(w.h.msrp_take(a.conn).is_empty());
}

/// MSRP-3: a From-Path other than the leg's a=path → 403; an unknown session-id →
/// 481; relaxed matching (RFC 6714) accepts a relay in front of the terminal.
#[test]
fn msrp_3_path_mismatch_403_unknown_session_481() {
    let mut w = World::new();
    let (_call, a_srv, _b_srv) = establish_msrp(&mut w, None, None);
    let mut a = Peer::new("10.0.0.1", 7001, "a1", 501);
    let mut intruder = Peer::new("10.0.0.1", 7001, "zz", 501);
    let req = intruder.send(&a_srv, "x", b"spoof");
    w.h.msrp_in(&intruder, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 403);
    let unknown = "msrp://127.0.0.1:2855/nope;tcp";
    let req = a.send(unknown, "y", b"lost");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 481);
    let mut relayed = a.send(&a_srv, "z", b"via a relay");
    relayed
        .from_path
        .insert(0, "msrp://10.0.0.9:2856/relay;tcp".into());
    w.h.msrp_in(&a, MsrpMessage::Request(relayed.clone()));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 403);
    assert!(stored_bodies(&w).is_empty());

    let mut config = Config::new(DOMAIN);
    config.msrp.relaxed_path_matching = true;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let (_call, a_srv, _) = establish_msrp(&mut w, None, None);
    relayed.to_path = vec![a_srv];
    w.h.msrp_in(&a, MsrpMessage::Request(relayed));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    assert_eq!(stored_bodies(&w), vec![b"via a relay".to_vec()]);
}

/// MSG-3 over MSRP: a store failure is a 500 to the sender and nothing reaches the
/// recipient; MSG-1: nothing is answered before the store confirmed.
#[test]
fn msrp_4_store_failure_is_500_and_no_answer_before_durable() {
    let mut w = World::new();
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    w.h.store_mode = StoreMode::Manual;
    let req = a.send(&a_srv, "f", b"doomed");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert!(w.h.msrp_take(a.conn).is_empty());
    assert!(w.h.msrp_take(b.conn).is_empty());
    w.h.store_answer(false);
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 500);
    assert!(w.h.msrp_take(b.conn).is_empty());
}

/// MSG-4 over MSRP: once B's leg is closed (B's BYE), A's message gets a 481, never
/// silence, and is not stored.
#[test]
fn msrp_10_closed_leg_gets_a_failure() {
    let mut w = World::new();
    let (mut call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    w.h.expect_request(&w.a, Method::Bye);
    let req = a.send(&a_srv, "late", b"anyone there?");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 481);
    assert!(stored_bodies(&w).is_empty());
}

/// Joins B and C to the group with MSRP answers (they connect: `active`); returns
/// the server's paths on A's, B's and C's group legs.
fn msrp_group(w: &mut World) -> (Extended, String, String, String) {
    let ext = extend(w, ReplaceForm::SessionReplaces);
    let (a_srv, _) = server_media(&ext.a_ok.body);
    let mut paths = Vec::new();
    for (ua, invite, port, session, tag) in [
        (
            w.b.clone(),
            &ext.b_group_invite,
            7102,
            "bg",
            "bob-group-tag",
        ),
        (
            w.c.clone(),
            &ext.c_group_invite,
            7103,
            "cg",
            "carol-group-tag",
        ),
    ] {
        let (srv, setup) = server_media(&invite.body);
        assert_eq!(setup, "actpass");
        paths.push(srv);
        let host = format!("10.0.0.{}", port - 7100);
        let mut ok = ua.response(invite, StatusCode::OK, &crate::ids::Tag::new(tag));
        ok.headers.content_type = Some(MediaType::new("application", "sdp"));
        ok.body = terminal_sdp(&host, port, session, Some("active")).into_bytes();
        w.h.send(&ua, ok);
        w.h.expect_request(&ua, Method::Ack);
    }
    let c_srv = paths.pop().unwrap();
    let b_srv = paths.pop().unwrap();
    (ext, a_srv, b_srv, c_srv)
}

/// GRP-2 over MSRP: a message from A in the group reaches B and C (each on its own
/// leg, from the server's path there), stored once.
#[test]
fn msrp_7_group_fan_out_to_two_others() {
    let mut w = World::new();
    let (_ext, a_srv, b_srv, c_srv) = msrp_group(&mut w);
    let mut a = Peer::new("10.0.0.1", 7003, "a2", 601);
    let mut b = Peer::new("10.0.0.2", 7102, "bg", 602);
    let mut c = Peer::new("10.0.0.3", 7103, "cg", 603);
    for (p, srv) in [(&mut a, &a_srv), (&mut b, &b_srv), (&mut c, &c_srv)] {
        let bind = p.bind(srv);
        w.h.msrp_in(p, MsrpMessage::Request(bind));
        assert_eq!(response(w.h.msrp_take(p.conn).remove(0)).status, 200);
    }
    let before = stored_bodies(&w).len();
    let req = a.send(&a_srv, "g1", b"hello group");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    assert_eq!(stored_bodies(&w).len(), before + 1);
    for (p, srv) in [(&b, &b_srv), (&c, &c_srv)] {
        let got = received(&mut w, p, srv);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, b"hello group");
    }
    assert!(w.h.msrp_take(a.conn).is_empty(), "no echo to the sender");
}

/// An IMDN in a group (CPIM `To` = the original sender) goes only to that sender
/// and is recorded as a disposition of the original message.
#[test]
fn msrp_group_imdn_goes_to_the_original_sender_and_is_recorded() {
    let mut w = World::new();
    let (_ext, a_srv, b_srv, c_srv) = msrp_group(&mut w);
    let mut a = Peer::new("10.0.0.1", 7003, "a2", 601);
    let mut b = Peer::new("10.0.0.2", 7102, "bg", 602);
    let mut c = Peer::new("10.0.0.3", 7103, "cg", 603);
    for (p, srv) in [(&mut a, &a_srv), (&mut b, &b_srv), (&mut c, &c_srv)] {
        let bind = p.bind(srv);
        w.h.msrp_in(p, MsrpMessage::Request(bind));
        w.h.msrp_take(p.conn);
    }
    let imdn_xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
        <imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>cpim-g1</message-id>\
        <delivery-notification><status><delivered/></status></delivery-notification></imdn>";
    let body = format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:alice@example.com>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: imdn-1\r\n\
         DateTime: 2026-11-26T12:00:01Z\r\n\r\nContent-Type: message/imdn+xml\r\n\
         Content-Disposition: notification\r\n\r\n{imdn_xml}"
    );
    let req = b.send_raw(&b_srv, "imdn", body.as_bytes());
    w.h.msrp_in(&b, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(b.conn).remove(0)).status, 200);
    let got = received(&mut w, &a, &a_srv);
    assert_eq!(got.len(), 1, "the original sender gets the notification");
    assert!(received(&mut w, &c, &c_srv).is_empty(), "nobody else does");
    let disposition =
        w.h.stored
            .iter()
            .find_map(|r| r.disposition().cloned())
            .expect("a disposition record");
    assert_eq!(disposition.message_id.as_str(), "cpim-g1");
    assert_eq!(disposition.recipient, w.b.user());
    assert_eq!(
        disposition.disposition,
        crate::server::Disposition::Delivered
    );
}

/// A `message/cpim` body that does not parse is answered 400 and not stored.
#[test]
fn msrp_bad_cpim_is_400() {
    let mut w = World::new();
    let (_call, a_srv, _) = establish_msrp(&mut w, None, None);
    let (mut a, _) = peers();
    let req = a.send_raw(&a_srv, "bad", b"no cpim headers here");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 400);
    assert!(stored_bodies(&w).is_empty());
}

/// EXT-8 / MSRP-10 over MSRP: in the switch window, a message A sends on the old
/// 1-to-1 MSRP session reaches B on the old 1-to-1 leg and is in the 1-to-1's
/// sealed history.
#[test]
fn msrp_10_switch_window_messages_delivered_and_in_one_to_one_history() {
    let mut w = World::new();
    let (ext, _a_grp, _b_grp, _c_grp) = msrp_group(&mut w);
    // The 1-to-1 was set up by `establish` (terminals active on both legs).
    let (a_srv, _) = server_media(&ext.call.a_ok.body);
    let (b_srv, _) = server_media(&ext.call.b_invite.body);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    let req = a.send(&a_srv, "sw1", b"in the switch window");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    let got = received(&mut w, &b, &b_srv);
    assert_eq!(got[0].1, b"in the switch window");
    // The 1-to-1 ends (B's BYE, relayed, answered) and is sealed with the message.
    let mut call = ext.call;
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let relayed = w.h.expect_request(&w.a, Method::Bye);
    let mut ok =
        w.a.response(&relayed, StatusCode::OK, &call.a_dialog.local_tag());
    ok.headers.to = relayed.headers.to.clone();
    w.h.send(&w.a, ok);
    w.h.expect_response(&w.b, StatusCode::OK);
    let history =
        w.h.sealed
            .iter()
            .find(|h| h.info.key.contribution_id == call.contribution)
            .expect("the 1-to-1 is sealed");
    let seq =
        w.h.stored
            .iter()
            .filter_map(Record::message)
            .find(|m| inner(&m.body) == b"in the switch window")
            .map(|m| m.seq)
            .unwrap();
    assert_eq!(history.messages, vec![seq]);
}

/// HIST-2, HIST-3, MSG-4 (the model's `check sim --config faults` found it): a
/// message queued for B's MSRP leg, which B never binds, is not delivered: A gets no
/// 200 while it waits; when the 1-to-1 is sealed it fails back to A (481) and is
/// not in the sealed set; B's bind arriving after the seal gets nothing of it.
#[test]
fn msrp_held_message_never_bound_fails_at_seal_and_stays_out_of_history() {
    let mut w = World::new();
    let (mut call, a_srv, b_srv) = establish_msrp(&mut w, Some("active"), Some("active"));
    let (mut a, mut b) = peers();
    let bind = a.bind(&a_srv);
    w.h.msrp_in(&a, MsrpMessage::Request(bind));
    w.h.msrp_take(a.conn);
    let req = a.send(&a_srv, "h1", b"held");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(stored_bodies(&w), vec![b"held".to_vec()], "stored (MSG-1)");
    assert!(w.h.msrp_take(a.conn).is_empty(), "no 200 before delivery");
    // B ends the 1-to-1 without ever binding its MSRP leg.
    let bye = w.b.in_dialog(&mut call.b_dialog, Method::Bye);
    w.h.send(&w.b, bye);
    let relayed = w.h.expect_request(&w.a, Method::Bye);
    let mut ok =
        w.a.response(&relayed, StatusCode::OK, &call.a_dialog.local_tag());
    ok.headers.to = relayed.headers.to.clone();
    w.h.send(&w.a, ok);
    let history =
        w.h.sealed
            .iter()
            .find(|h| h.info.key.contribution_id == call.contribution)
            .expect("the 1-to-1 is sealed");
    assert!(
        history.messages.is_empty(),
        "HIST-3: {:?}",
        history.messages
    );
    let answer = response(w.h.msrp_take(a.conn).remove(0));
    assert_eq!(answer.status, 481, "MSG-4: the sender learns it failed");
    // B's connection arrives after the seal: nothing is delivered (HIST-2).
    let bind = b.bind(&b_srv);
    w.h.msrp_in(&b, MsrpMessage::Request(bind));
    assert!(received(&mut w, &b, &b_srv).is_empty());
    w.h.expect_response(&w.b, StatusCode::OK);
}

/// A message that is not in the leg's accept-types → 415, not stored.
#[test]
fn msrp_unsupported_type_is_415() {
    let mut w = World::new();
    let (_call, a_srv, _) = establish_msrp(&mut w, None, None);
    let (mut a, _) = peers();
    let mut req = a.send_raw(&a_srv, "t", b"<html/>");
    req.content_type = Some("text/html".into());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 415);
    assert!(stored_bodies(&w).is_empty());
}

/// MSRP-9: a closed connection unbinds its legs; undecodable MSRP closes the
/// connection; a failed `MsrpConnect` (nobody listens) is a quiet `handle_closed`
/// and the SIP session goes on.
#[test]
fn msrp_9_closed_and_broken_connections() {
    let mut w = World::new();
    let (mut call, a_srv, b_srv) = establish_msrp(&mut w, Some("passive"), None);
    for (conn, _) in w.h.msrp_connects.clone() {
        w.h.server.handle_closed(w.h.now, conn);
        w.h.drain();
    }
    // A reconnects itself and sends: B's message waits for B's leg to bind again,
    // and A's 200 with it (a queued message is not yet delivered: msrp_held).
    let (mut a, mut b) = peers();
    let req = a.send(&a_srv, "q", b"queued");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert!(
        w.h.msrp_take(a.conn).is_empty(),
        "no answer before B's bind"
    );
    let bind = b.bind(&b_srv);
    w.h.msrp_in(&b, MsrpMessage::Request(bind));
    assert_eq!(received(&mut w, &b, &b_srv)[0].1, b"queued");
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    w.h.msrp_bytes(&a, b"garbage\r\n\r\n");
    assert!(w.h.closed.contains(&a.conn));
    let bye = w.a.in_dialog(&mut call.a_dialog, Method::Bye);
    w.h.send(&w.a, bye);
    w.h.expect_request(&w.b, Method::Bye);
}

/// MSRP-9's bound: while B's leg has no connection its queue holds `max_queued`
/// requests; a message beyond fails back to its sender at once and never reaches B,
/// while the one queued is written out at B's new bind. Under
/// `Mutation::UnboundedMsrpQueue` the second message waits too: the check can fail.
#[test]
fn msrp_9_a_full_queue_fails_the_message() {
    assert!(second_message_refused(crate::server::Mutation::None));
    assert!(!second_message_refused(
        crate::server::Mutation::UnboundedMsrpQueue
    ));
}

/// Whether A's second message to B's unbound leg (queue bound 1) is refused.
fn second_message_refused(mutation: crate::server::Mutation) -> bool {
    let mut config = Config::new(DOMAIN);
    config.msrp.max_queued = 1;
    config.mutation = mutation;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, Some("active"), Some("active"));
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    // B's connection closes: its leg is unbound until B binds again.
    w.h.server.handle_closed(w.h.now, b.conn);
    w.h.drain();
    let first = a.send(&a_srv, "q1", b"one");
    w.h.msrp_in(&a, MsrpMessage::Request(first));
    assert!(
        w.h.msrp_take(a.conn).is_empty(),
        "the first waits for B's bind"
    );
    let second = a.send(&a_srv, "q2", b"two");
    w.h.msrp_in(&a, MsrpMessage::Request(second));
    let refused =
        w.h.msrp_take(a.conn)
            .into_iter()
            .any(|m| matches!(m, MsrpMessage::Response(r) if r.status >= 400));
    let bind = b.bind(&b_srv);
    w.h.msrp_in(&b, MsrpMessage::Request(bind));
    let got: Vec<Vec<u8>> = received(&mut w, &b, &b_srv)
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    assert_eq!(got.first().map(Vec::as_slice), Some(&b"one"[..]));
    if refused {
        assert_eq!(got.len(), 1, "the refused message never reaches B");
    }
    refused
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// MSRP-8 / MSG-2: random messages, cut into random chunks and delivered to the
    /// server in random reads, reach the recipient once each, whole and in order.
    #[test]
    fn msrp_8_random_chunking_delivers_each_message_once_in_order(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6),
        chunk in 1usize..64,
        out_chunk in 1usize..64,
        read in 1usize..97,
    ) {
        let mut config = Config::new(DOMAIN);
        config.msrp.chunk_size = out_chunk;
        let mut w = World::with(Harness::with_config(config), Transport::Udp);
        let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
        let (mut a, mut b) = peers();
        bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
        let mut stream = Vec::new();
        for (i, text) in messages.iter().enumerate() {
            let body = cpim(&format!("p{i}"), text);
            for (range, flag, data) in split(&body, chunk) {
                let mut req = a.send_raw(&a_srv, &format!("p{i}"), data);
                req.byte_range = Some(range);
                req.continuation = flag;
                stream.extend(wire::msrp::encode(&MsrpMessage::Request(req)));
            }
        }
        for piece in stream.chunks(read) {
            w.h.msrp_bytes(&a, piece);
        }
        let got: Vec<Vec<u8>> = received(&mut w, &b, &b_srv).into_iter().map(|(_, body)| body).collect();
        prop_assert_eq!(got, messages);
    }
}

/// LIM-5 (specs/limits.md): partial messages hold the bytes received, capped per leg
/// and over all legs (MSRP 413 beyond), and are dropped after
/// `msrp_partial_timeout_ms` without a chunk, which frees their bytes.
#[test]
fn lim_5_partial_messages_are_capped_and_time_out() {
    let mut config = Config::new(DOMAIN);
    config.limits.max_msrp_pending_bytes = 100;
    config.limits.max_msrp_pending_bytes_total = 150;
    config.limits.msrp_partial_timeout_ms = 1_000;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    // A chunk of `n` bytes at the end of a 16 MiB message (held: n bytes).
    let total = 16 * 1024 * 1024;
    let chunk = |w: &mut World, p: &mut Peer, srv: &str, id: &str, n: usize| -> u16 {
        let mut req = p.send_raw(srv, id, &vec![b'x'; n]);
        req.byte_range = Some(crate::msrp::ByteRange {
            start: total - n as u64 + 1,
            end: Some(total),
            total: Some(total),
        });
        req.continuation = crate::msrp::Continuation::More;
        w.h.msrp_in(p, MsrpMessage::Request(req));
        let answers = w.h.msrp_take(p.conn);
        assert_eq!(answers.len(), 1);
        response(answers.into_iter().next().unwrap()).status
    };
    assert_eq!(chunk(&mut w, &mut a, &a_srv, "m1", 60), 200);
    assert_eq!(chunk(&mut w, &mut a, &a_srv, "m2", 50), 413, "leg cap 100");
    w.h.advance(1_000);
    assert_eq!(chunk(&mut w, &mut a, &a_srv, "m2", 50), 200, "m1 timed out");
    assert_eq!(chunk(&mut w, &mut b, &b_srv, "m3", 60), 200);
    assert_eq!(
        chunk(&mut w, &mut a, &a_srv, "m4", 50),
        413,
        "all-legs cap 150"
    );
    assert!(
        stored_bodies(&w).is_empty(),
        "nothing complete, nothing stored"
    );
}

/// SEC-3 over MSRP: A's message whose CPIM From names B (or anyone but A) is
/// answered 403 and neither stored nor relayed; A's own identity behind another
/// display name passes. B's IMDN naming a message B sent itself, or whose
/// `<recipient-uri>` is someone else, is refused 403 and not recorded.
#[test]
fn sec_3_msrp_cpim_from_and_imdn_sender_must_be_the_leg_user() {
    let (mut w, a_srv, b_srv, mut a, mut b) = bound_pair();

    let posing = String::from_utf8(cpim("p1", b"I am bob"))
        .unwrap()
        .replacen(
            "From: <sip:anonymous@anonymous.invalid>",
            "From: Alice <sip:bob@example.com>",
            1,
        );
    let req = a.send_raw(&a_srv, "p1", posing.as_bytes());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    let refused = response(w.h.msrp_take(a.conn).remove(0));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.comment.as_deref(),
        Some("CPIM From is not the sender")
    );
    assert!(stored_bodies(&w).is_empty());
    assert!(received(&mut w, &b, &b_srv).is_empty());

    let own = String::from_utf8(cpim("p2", b"really alice"))
        .unwrap()
        .replacen(
            "From: <sip:anonymous@anonymous.invalid>",
            "From: Bob <sip:alice@example.com>",
            1,
        );
    let req = a.send_raw(&a_srv, "p2", own.as_bytes());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    assert_eq!(received(&mut w, &b, &b_srv).len(), 1);
    // The leg remembers the From that passed (a memo): the same value passes
    // again, another one is still checked and refused.
    let again = own.replacen("cpim-p2", "cpim-p3", 1);
    let req = a.send_raw(&a_srv, "p3", again.as_bytes());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    assert_eq!(received(&mut w, &b, &b_srv).len(), 1);
    let posing = posing.replacen("cpim-p1", "cpim-p4", 1);
    let req = a.send_raw(&a_srv, "p4", posing.as_bytes());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 403);
    assert!(received(&mut w, &b, &b_srv).is_empty());

    // B sends a message of its own, then "reports" on it, and on A's message with
    // carol as the reporting recipient.
    let send = b.send(&b_srv, "b1", b"from bob");
    w.h.msrp_in(&b, MsrpMessage::Request(send));
    assert_eq!(response(w.h.msrp_take(b.conn).remove(0)).status, 200);
    received(&mut w, &a, &a_srv);
    let imdn = |id: &str, recipient: &str| {
        format!(
            "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:alice@example.com>\r\n\
             NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: imdn-{id}\r\n\
             DateTime: 2026-11-26T12:00:01Z\r\n\r\nContent-Type: message/imdn+xml\r\n\
             Content-Disposition: notification\r\n\r\n\
             <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
             <imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>{id}</message-id>\
             {recipient}<delivery-notification><status><delivered/></status>\
             </delivery-notification></imdn>"
        )
    };
    let records = w.h.stored.len();
    for body in [
        imdn("cpim-b1", ""),
        imdn(
            "cpim-p2",
            "<recipient-uri>sip:carol@example.com</recipient-uri>",
        ),
    ] {
        let req = b.send_raw(&b_srv, "imdn", body.as_bytes());
        w.h.msrp_in(&b, MsrpMessage::Request(req));
        let refused = response(w.h.msrp_take(b.conn).remove(0));
        assert_eq!(refused.status, 403, "{body}");
        assert_eq!(
            refused.comment.as_deref(),
            Some("IMDN not from a recipient")
        );
    }
    assert_eq!(w.h.stored.len(), records, "no disposition recorded");
    assert!(received(&mut w, &a, &a_srv).is_empty());
    // B's genuine report on A's message passes.
    let req = b.send_raw(&b_srv, "imdn", imdn("cpim-p2", "").as_bytes());
    w.h.msrp_in(&b, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(b.conn).remove(0)).status, 200);
}

/// MSG-4: B answered with an MSRP media line but no `a=path`, so the server has
/// nowhere to send B's messages: A's message gets a failure (481), is not stored and
/// not counted as delivered, instead of `200` for a message nobody was sent.
#[test]
fn msg_4_recipient_without_msrp_path_fails_the_message() {
    let mut w = World::new();
    let a_invite = with_sdp(
        invite_to(&mut w, "bob", "conv-no-path", "contrib-no-path"),
        &terminal_sdp("10.0.0.1", 7001, "a1", Some("active")),
    );
    w.h.send(&w.a, a_invite.clone());
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = crate::ids::Tag::new("bob-leg-tag");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    let no_path: String = terminal_sdp("10.0.0.2", 7002, "b1", Some("active"))
        .lines()
        .filter(|l| !l.starts_with("a=path:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    ok.body = no_path.into_bytes();
    w.h.send(&w.b, ok);
    w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let (a_srv, _) = server_media(&a_ok.body);
    let a_dialog = UaDialog::caller(&a_invite, &a_ok);
    let ack = w.a.ack(&a_dialog, a_invite.headers.cseq.seq);
    w.h.send(&w.a, ack);
    let (mut a, _) = peers();
    let bind = a.bind(&a_srv);
    w.h.msrp_in(&a, MsrpMessage::Request(bind));
    w.h.msrp_take(a.conn);
    let send = a.send(&a_srv, "m1", b"to nowhere");
    w.h.msrp_in(&a, MsrpMessage::Request(send));
    let answer = response(w.h.msrp_take(a.conn).remove(0));
    assert_eq!(answer.status, 481, "{:#?}", w.h.log);
    assert!(stored_bodies(&w).is_empty());
}

/// MSG-7: an is-composing indication (RFC 3994) in CPIM over MSRP is relayed and
/// answered 200, but not stored and not a message of the session.
#[test]
fn msg_7_is_composing_over_msrp_is_relayed_not_stored() {
    let (mut w, a_srv, b_srv, mut a, b) = bound_pair();
    let body = "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
        DateTime: 2026-11-26T12:00:00Z\r\n\r\n\
        Content-Type: application/im-iscomposing+xml\r\n\r\n\
        <?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state>\
        </isComposing>";
    let records = w.h.stored.len();
    let req = a.send_raw(&a_srv, "typing", body.as_bytes());
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    let got = received(&mut w, &b, &b_srv);
    assert_eq!(got.len(), 1, "relayed");
    assert!(String::from_utf8_lossy(&got[0].1).contains("isComposing"));
    assert_eq!(w.h.stored.len(), records, "not stored: {:?}", w.h.stored);
}

/// BODIES-1 (`store_messages = false`): the message is relayed with its body, but
/// the `Persist` record carries only its metadata; the 200 still waits for that
/// record's commit (MSG-1).
#[test]
fn bodies_1_store_messages_off_keeps_metadata_not_bodies() {
    let mut config = Config::new(super::util::DOMAIN);
    config.store_messages = false;
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let (_call, a_srv, b_srv) = establish_msrp(&mut w, None, None);
    let (mut a, mut b) = peers();
    bind_both(&mut w, &mut a, &mut b, &a_srv, &b_srv);
    w.h.store_mode = StoreMode::Manual;
    let send = a.send(&a_srv, "nb", b"not kept");
    w.h.msrp_in(&a, MsrpMessage::Request(send));
    assert!(w.h.msrp_take(a.conn).is_empty(), "no 200 before the commit");
    assert!(
        w.h.msrp_take(b.conn).is_empty(),
        "nothing relayed before it"
    );
    w.h.store_answer(true);
    assert_eq!(response(w.h.msrp_take(a.conn).remove(0)).status, 200);
    let got = received(&mut w, &b, &b_srv);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"not kept", "relayed with its body");
    let stored: Vec<&StoredMessage> = w.h.stored.iter().filter_map(Record::message).collect();
    assert_eq!(stored.len(), 1, "{:#?}", w.h.stored);
    assert!(stored[0].body.is_empty(), "the body is not stored");
    assert_eq!(stored[0].message_id.as_str(), "cpim-nb");
    assert_eq!(stored[0].content_type, CPIM);
    assert_eq!(stored[0].recipients.len(), 1);
}

/// MSRP-6 bookkeeping: each of the server's own SENDs is due until its response
/// arrives (in any order, then consumed: nothing goes out), and at most
/// `MAX_OUTGOING` are remembered, the oldest forgotten first; a response to one
/// forgotten is consumed too, and changes nothing.
#[test]
fn msrp_6_own_sends_are_due_until_answered_in_any_order_and_bounded() {
    use crate::server::msrp_media::MAX_OUTGOING;
    let (mut w, a_srv, b_srv, mut a, b) = bound_pair();
    let due = |w: &World| w.h.server.table_sizes().msrp_outgoing;
    let base = due(&w);
    let send = |w: &mut World, a: &mut Peer, tag: &str, n: usize| -> Vec<MsrpRequest> {
        let mut relayed = Vec::new();
        for i in 0..n {
            let req = a.send(&a_srv, &format!("{tag}{i}"), b"x");
            w.h.msrp_in(a, MsrpMessage::Request(req));
            w.h.msrp_take(a.conn);
            relayed.extend(w.h.msrp_take(b.conn).into_iter().map(request));
        }
        relayed
    };
    let ok = |w: &mut World, b: &Peer, r: &MsrpRequest| {
        w.h.msrp_in(b, b.ok(r.transaction_id.clone(), &b_srv));
        assert!(w.h.msrp_take(b.conn).is_empty(), "MSRP-6: consumed");
    };
    let three = send(&mut w, &mut a, "t", 3);
    assert_eq!(three.len(), 3);
    assert_eq!(due(&w), base + 3);
    ok(&mut w, &b, &three[1]);
    assert_eq!(due(&w), base + 2, "answered out of order");
    ok(&mut w, &b, &three[2]);
    ok(&mut w, &b, &three[0]);
    ok(&mut w, &b, &three[0]);
    assert_eq!(
        due(&w),
        base,
        "all answered; a repeated answer changes nothing"
    );
    let many = send(&mut w, &mut a, "m", MAX_OUTGOING + 5);
    assert_eq!(due(&w), MAX_OUTGOING, "bounded");
    ok(&mut w, &b, &many[0]);
    assert_eq!(due(&w), MAX_OUTGOING, "the oldest were forgotten");
    ok(&mut w, &b, many.last().unwrap());
    assert_eq!(due(&w), MAX_OUTGOING - 1, "the newest are still due");
}

/// MSRP-6 bookkeeping by the ids' bits: a response matches a due SEND only by its
/// exact id (the same digits in upper case, one digit more or less, are other ids
/// and change nothing).
#[test]
fn msrp_6_own_sends_are_matched_by_their_exact_id() {
    use crate::server::msrp_media::own_tid_bits;
    assert_eq!(own_tid_bits(&"0".repeat(32)), Some(0));
    assert_eq!(own_tid_bits(&"f".repeat(32)), Some(u128::MAX));
    assert_eq!(
        own_tid_bits("0123456789abcdef0123456789abcdef"),
        Some(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
    );
    for other in [
        "F".repeat(32),
        "f".repeat(31),
        "f".repeat(33),
        "g".repeat(32),
    ] {
        assert_eq!(own_tid_bits(&other), None, "{other}");
    }
    // Every byte as the eighth digit: a value for lowercase hex digits only.
    for c in 0..=u8::MAX {
        let mut id = vec![b'0'; 32];
        id[7] = c;
        let expected = match c {
            b'0'..=b'9' => Some(u128::from(c - b'0') << 96),
            b'a'..=b'f' => Some(u128::from(c - b'a' + 10) << 96),
            _ => None,
        };
        if let Ok(id) = std::str::from_utf8(&id) {
            assert_eq!(own_tid_bits(id), expected, "{c:#x}");
        }
    }
    let (mut w, a_srv, b_srv, mut a, b) = bound_pair();
    let due = |w: &World| w.h.server.table_sizes().msrp_outgoing;
    let base = due(&w);
    let req = a.send(&a_srv, "x1", b"x");
    w.h.msrp_in(&a, MsrpMessage::Request(req));
    w.h.msrp_take(a.conn);
    let relayed: Vec<MsrpRequest> = w.h.msrp_take(b.conn).into_iter().map(request).collect();
    assert_eq!(relayed.len(), 1);
    assert_eq!(due(&w), base + 1);
    let tid = relayed[0].transaction_id.as_str().to_owned();
    let answer = |w: &mut World, tid: &str| {
        w.h.msrp_in(&b, b.ok(TransactionId::new(tid), &b_srv));
        assert!(w.h.msrp_take(b.conn).is_empty(), "MSRP-6: consumed");
    };
    for other in [tid.to_uppercase(), format!("{tid}0"), tid[1..].to_owned()] {
        answer(&mut w, &other);
        assert_eq!(due(&w), base + 1, "{other} is not {tid}");
    }
    answer(&mut w, &tid);
    assert_eq!(due(&w), base, "answered by its own id");
}
