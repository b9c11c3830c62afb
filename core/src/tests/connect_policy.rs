//! SEC-6 scenario tests (specs/security.md): the server as a connection cannon. A
//! terminal names a host other than its own in its MSRP `a=path` (with
//! `a=setup:passive`, so the server would connect) or in its Contact: the server
//! does not connect there, unless `[trust] connect_allow` lists it (a relay).
//! Behind a trusted proxy the terminal's address comes from the Via the proxy
//! received.

use std::net::SocketAddr;

use super::flows::*;
use super::util::*;
use crate::server::{Config, Transport};
use crate::sip::{MediaType, Method, StatusCode};

/// A's MSRP offer: `a=path` at `path_host`, `a=setup:passive` (the server connects).
fn passive_offer(path_host: &str) -> String {
    let mut sdp = msrp_sdp(path_host, 7001, "a1").replace("a=setup:active\r\n", "");
    sdp.push_str("a=setup:passive\r\n");
    sdp
}

/// A (10.0.0.1) calls B with `offer`; B answers (active, it connects itself).
fn call_with(w: &mut World, offer: &str) {
    let invite = with_sdp(invite_to(w, "bob", "conv-sec6", "contrib-sec6"), offer);
    w.h.send(&w.a, invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let tag = crate::ids::Tag::new("b-sec6");
    let mut ok = w.b.response(&b_invite, StatusCode::OK, &tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok);
    w.h.expect_response(&w.a, StatusCode::OK);
}

fn world(config: Config) -> World {
    World::with(Harness::with_config(config), Transport::Udp)
}

/// SEC-6, the attack: A's `a=path` names 10.0.0.66 (a third party), not A's own
/// address: the server does not connect; A's leg stays unbound (as with a path
/// without an address, specs/msrp.md). Its own address is connected to.
#[test]
fn sec_6_msrp_path_at_another_host_is_not_connected_to() {
    let mut w = world(Config::new(DOMAIN));
    call_with(&mut w, &passive_offer("10.0.0.66"));
    assert!(
        w.h.msrp_connects.is_empty(),
        "no connect to a host A does not signal from: {:?}",
        w.h.msrp_connects
    );

    let mut w = world(Config::new(DOMAIN));
    call_with(&mut w, &passive_offer("10.0.0.1"));
    let to: Vec<SocketAddr> = w.h.msrp_connects.iter().map(|(_, p)| *p).collect();
    assert_eq!(to, ["10.0.0.1:7001".parse::<SocketAddr>().unwrap()]);
}

/// SEC-6: an MSRP relay in `[trust] connect_allow` is connected to.
#[test]
fn sec_6_an_allowed_relay_is_connected_to() {
    let mut config = Config::new(DOMAIN);
    config.trust.connect_allow = vec!["10.0.0.64/30".parse().unwrap()];
    let mut w = world(config);
    call_with(&mut w, &passive_offer("10.0.0.66"));
    let to: Vec<SocketAddr> = w.h.msrp_connects.iter().map(|(_, p)| *p).collect();
    assert_eq!(to, ["10.0.0.66:7001".parse::<SocketAddr>().unwrap()]);
}

/// SEC-6, the attack: B registers over TCP with a Contact at 10.0.0.77 (a third
/// party); once B's connection is gone, an INVITE for B makes the server open a
/// connection to where B registered from, not to the Contact.
#[test]
fn sec_6_contact_at_another_host_is_not_connected_to() {
    let mut h = Harness::new();
    let mut a = Ua::new("alice", 1, Transport::Tcp);
    h.register(&mut a);
    let mut b = Ua::new("bob", 2, Transport::Tcp);
    let mut reg = b.request(Method::Register, sip_uri_host(DOMAIN), b.uri());
    reg.headers.expires = Some(3600);
    reg.headers.contact = vec![crate::testing::contact(
        "bob",
        "10.0.0.77:5060".parse().unwrap(),
    )];
    h.send(&b, reg);
    h.expect_response(&b, StatusCode::OK);
    h.server.handle_closed(h.now, b.flow().conn);
    let mut w = World {
        h,
        a,
        b,
        c: Ua::new("carol", 3, Transport::Tcp),
    };
    let invite = invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let peers: Vec<SocketAddr> = w.h.connects.iter().map(|(_, p)| *p).collect();
    assert_eq!(peers, [w.b.addr], "to B's source, never to its Contact");
}

/// SEC-6 with a trusted proxy: behind 10.0.0.200, A's address is the `received`
/// of the Via the proxy received, so A's own MSRP address is connected to; from an
/// untrusted source the same Vias count for nothing.
#[test]
fn sec_6_behind_a_trusted_proxy_the_terminal_is_the_via_below_it() {
    let mut config = Config::new(DOMAIN);
    config.trust.trusted_proxies = vec!["10.0.0.200".parse().unwrap()];
    let trust = config.trust.clone();
    let mut w = world(config);
    let mut invite = invite_to(&mut w, "bob", "c", "k");
    let mut terminal_via = invite.headers.via[0].clone();
    terminal_via.host = crate::uri::Host::V4("192.168.1.5".parse().unwrap());
    terminal_via.set_param("received", Some("203.0.113.9".into()));
    let mut proxy_via = invite.headers.via[0].clone();
    proxy_via.host = crate::uri::Host::V4("10.0.0.200".parse().unwrap());
    invite.headers.via = vec![proxy_via, terminal_via];
    let from = |ip: [u8; 4]| crate::server::Flow {
        transport: Transport::Udp,
        conn: crate::ids::ConnId::new(1),
        peer: SocketAddr::from((ip, 5060)),
    };
    assert_eq!(
        trust.terminal_ip(&from([10, 0, 0, 200]), &invite),
        "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        trust.terminal_ip(&from([10, 0, 0, 9]), &invite),
        "10.0.0.9".parse::<std::net::IpAddr>().unwrap(),
        "an untrusted source's Vias are not believed"
    );
    // A trusted proxy's own Via without `received` or an IP host: the proxy.
    invite.headers.via[1]
        .params
        .retain(|p| p.name != "received");
    invite.headers.via[1].host = crate::uri::Host::Name("ua.invalid".into());
    assert_eq!(
        trust.terminal_ip(&from([10, 0, 0, 200]), &invite),
        "10.0.0.200".parse::<std::net::IpAddr>().unwrap()
    );
}
