//! SIP over TLS as the core sees it (specs/tls.md): a `Transport::Tls` flow is a
//! reliable stream like TCP; what differs is what the server advertises on it (Via
//! `SIP/2.0/TLS`, the TLS port, `transport=tls`) and that a closed one is reopened
//! with TLS. Not here: the handshake and certificates (the runtime's).

use crate::server::Config;
use crate::sip::{Method, StatusCode};
use crate::tests::flows::{invite_to, World};
use crate::tests::util::{Harness, Ua};
use crate::uri::Uri;
use crate::{Tag, Transport};

const TLS_PORT: u16 = 5061;

fn tls_world() -> World {
    let mut config = Config::new(crate::tests::util::DOMAIN);
    config.advertised_tls_port = Some(TLS_PORT);
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    // Dave's only device registers over TLS.
    w.b = Ua::new("dave", 22, Transport::Tls);
    w.h.register(&mut w.b);
    w
}

/// TLS-8: a request to a terminal registered over TLS goes out on its TLS flow, with
/// Via `SIP/2.0/TLS` and Contact `transport=tls` at the TLS port; the UDP caller
/// sees the plain port.
#[test]
fn requests_to_a_tls_terminal_advertise_tls() {
    let mut w = tls_world();
    let invite = invite_to(&mut w, "dave", "c", "k");
    w.h.send(&w.a, invite);
    let at_b = w.h.expect_request(&w.b, Method::Invite);
    let last =
        *w.h.sent_flows
            .iter()
            .rfind(|f| f.peer == w.b.addr)
            .expect("the INVITE was sent");
    assert_eq!(last, w.b.flow(), "on the flow B registered over");
    let via = at_b.headers.via.first().expect("the server's Via");
    assert_eq!(via.transport, "TLS");
    assert_eq!(via.port, Some(TLS_PORT));
    let contact = at_b.headers.contact.first().expect("a Contact");
    let Uri::Sip(sip) = &contact.uri else {
        panic!("sip contact: {contact:?}")
    };
    assert_eq!(sip.port, Some(TLS_PORT));
    assert!(
        sip.params
            .iter()
            .any(|p| p.name == "transport" && p.value.as_deref() == Some("tls")),
        "{contact:?}"
    );
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    let ok = w.h.expect_response(&w.a, StatusCode::OK);
    let contact = ok.headers.contact.first().expect("a Contact");
    let Uri::Sip(sip) = &contact.uri else {
        panic!("sip contact: {contact:?}")
    };
    assert_eq!(sip.port, Some(5060), "the caller's leg is UDP");
    assert!(sip.params.iter().all(|p| p.name != "transport"));
}

/// TLS-9: when the TLS connection a terminal registered over is gone, the server
/// opens a new one with `Connect { transport: Tls }` (the runtime then verifies the
/// terminal's certificate) and sends over it.
#[test]
fn a_closed_tls_connection_is_reopened_with_tls() {
    let mut w = tls_world();
    let old = w.b.flow();
    w.h.server.handle_closed(w.h.now, old.conn);
    let invite = invite_to(&mut w, "dave", "c", "k");
    w.h.send(&w.a, invite);
    let (conn, peer) = *w.h.connects.first().expect("a Connect for B");
    assert_eq!(peer, w.b.addr);
    assert_eq!(w.h.connect_transports, vec![Transport::Tls]);
    w.h.expect_request(&w.b, Method::Invite);
    let last =
        *w.h.sent_flows
            .iter()
            .rfind(|f| f.peer == w.b.addr)
            .expect("the INVITE was sent");
    assert_eq!((last.conn, last.transport), (conn, Transport::Tls));
}

/// SEC-2 over TLS: a response to a request sent on a TLS connection counts only on
/// that connection.
#[test]
fn a_response_on_another_connection_is_dropped() {
    let mut w = tls_world();
    let invite = invite_to(&mut w, "dave", "c", "k");
    w.h.send(&w.a, invite);
    let at_b = w.h.expect_request(&w.b, Method::Invite);
    let forger = Ua::new("dave", 22, Transport::Tcp);
    w.h.send(
        &forger,
        forger.response(&at_b, StatusCode::OK, &Tag::new("f")),
    );
    w.h.expect_nothing(&w.a);
    w.h.send(&w.b, w.b.response(&at_b, StatusCode::OK, &Tag::new("b")));
    w.h.expect_response(&w.a, StatusCode::OK);
}

fn msrp_sdp_of(body: &[u8]) -> (String, String, u16, String) {
    let sdp = crate::wire::sdp::decode(body).expect("the server's sdp decodes");
    let m = sdp.message_media().expect("an m=message section");
    (
        m.proto.clone(),
        m.attribute("path").unwrap_or_default().to_owned(),
        m.port,
        m.attribute("setup").unwrap_or_default().to_owned(),
    )
}

fn terminal_sdp(host: &str, port: u16, session: &str, tls: bool, setup: &str) -> String {
    let sdp = crate::tests::util::msrp_sdp(host, port, session)
        .replace("a=setup:active", &format!("a=setup:{setup}"));
    if tls {
        sdp.replace("TCP/MSRP", "TCP/TLS/MSRP")
            .replace("msrp://", "msrps://")
    } else {
        sdp
    }
}

/// TLS-11: A offers `TCP/TLS/MSRP`; the server answers A with `TCP/TLS/MSRP` and an
/// `msrps:` path on its TLS listener and connects to A with TLS; it offers B MSRP
/// over TLS too, B answers plain `TCP/MSRP`, and B's leg is plain: one session, one
/// TLS leg and one TCP leg.
#[test]
fn msrp_leg_protocol_follows_each_terminal() {
    let tls_listener: std::net::SocketAddr = "127.0.0.1:2856".parse().unwrap();
    let mut config = Config::new(crate::tests::util::DOMAIN);
    config.msrp.advertised_tls = Some(tls_listener);
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    let invite = crate::testing::with_sdp(
        invite_to(&mut w, "bob", "c", "k"),
        &terminal_sdp("10.0.0.1", 7001, "a1", true, "passive"),
    );
    w.h.send(&w.a, invite);
    let at_b = w.h.expect_request(&w.b, Method::Invite);
    let (proto, path, port, _) = msrp_sdp_of(&at_b.body);
    assert_eq!(proto, "TCP/TLS/MSRP", "B is offered what A asked for");
    assert!(path.starts_with("msrps://127.0.0.1:2856/"), "{path}");
    assert_eq!(port, 2856);
    let mut ok = w.b.response(&at_b, StatusCode::OK, &Tag::new("b"));
    ok.headers.content_type = Some(crate::sip::MediaType::new("application", "sdp"));
    ok.body = terminal_sdp("10.0.0.2", 7002, "b1", false, "passive").into_bytes();
    w.h.send(&w.b, ok);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    let (proto, path, port, setup) = msrp_sdp_of(&a_ok.body);
    assert_eq!(proto, "TCP/TLS/MSRP");
    assert!(path.starts_with("msrps://127.0.0.1:2856/"), "{path}");
    assert_eq!((port, setup.as_str()), (2856, "active"));
    let by_peer: Vec<(std::net::SocketAddr, bool)> =
        w.h.msrp_connects
            .iter()
            .map(|(_, p)| *p)
            .zip(w.h.msrp_connect_tls.iter().copied())
            .collect();
    assert!(
        by_peer.contains(&("10.0.0.1:7001".parse().unwrap(), true)),
        "{by_peer:?}"
    );
    assert!(
        by_peer.contains(&("10.0.0.2:7002".parse().unwrap(), false)),
        "{by_peer:?}"
    );
    // B's leg is plain: cpmd's bind SEND on it names an msrp: (not msrps:) path.
    let (to_b, _) =
        *w.h.msrp_connects
            .iter()
            .find(|(_, p)| *p == "10.0.0.2:7002".parse().unwrap())
            .unwrap();
    let bind = w.h.msrp_take(to_b).remove(0);
    let crate::msrp::MsrpMessage::Request(bind) = bind else {
        panic!("a bind SEND: {bind:?}")
    };
    assert!(
        bind.from_path[0].starts_with("msrp://127.0.0.1:2855/"),
        "{bind:?}"
    );
}

/// TLS-11: without an MSRP-over-TLS listener a `TCP/TLS/MSRP` offer gets 488 (and a
/// plain offer never gets `msrps:`).
#[test]
fn msrp_tls_offer_without_a_tls_listener_is_488() {
    let mut w = World::new();
    let invite = crate::testing::with_sdp(
        invite_to(&mut w, "bob", "c", "k"),
        &terminal_sdp("10.0.0.1", 7001, "a1", true, "active"),
    );
    w.h.send(&w.a, invite);
    w.h.expect_response(&w.a, StatusCode::NOT_ACCEPTABLE_HERE);
}
