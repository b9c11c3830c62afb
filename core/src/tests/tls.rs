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
