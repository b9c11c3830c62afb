//! RFC 5922 §7.2 as the core sees it (specs/tls.md, TLS-15): when cpmd reopens a TLS
//! connection to a terminal, `Command::Connect` carries the DNS name of the
//! terminal's Contact host for the runtime to verify, and no name when the Contact
//! host is an address (the runtime then verifies the IP address).

use crate::server::Config;
use crate::sip::{Method, StatusCode};
use crate::tests::flows::{invite_to, World};
use crate::tests::util::{sip_uri_host, Harness, Ua, DOMAIN};
use crate::uri::{Host, Uri};
use crate::Transport;

/// Dave registers over TLS with a Contact whose host is `host` (None: his address).
fn world(host: Option<&str>) -> World {
    let mut config = Config::new(DOMAIN);
    config.advertised_tls_port = Some(5061);
    let mut w = World::with(Harness::with_config(config), Transport::Udp);
    w.b = Ua::new("dave", 22, Transport::Tls);
    let mut reg =
        w.b.request(Method::Register, sip_uri_host(DOMAIN), w.b.uri());
    reg.headers.expires = Some(3600);
    if let Some(name) = host {
        for c in &mut reg.headers.contact {
            if let Uri::Sip(s) = &mut c.uri {
                s.host = Host::Name(name.into());
            }
        }
    }
    w.h.send(&w.b, reg);
    w.h.expect_response(&w.b, StatusCode::OK);
    w
}

/// Dave's TLS connection closes; alice calls him: the Connect that reopens it.
fn reopen(w: &mut World) -> (std::net::SocketAddr, Option<String>) {
    w.h.server.handle_closed(w.h.now, w.b.flow().conn);
    let invite = invite_to(w, "dave", "c", "k");
    w.h.send(&w.a, invite);
    assert_eq!(w.h.connect_transports, vec![Transport::Tls]);
    let (_, peer) = *w.h.connects.first().expect("a Connect for dave");
    (peer, w.h.connect_names.first().cloned().flatten())
}

/// TLS-15: a DNS-name Contact host is the name to verify (lower-cased, no trailing
/// dot); the connection still goes to where dave registered from (SEC-6).
#[test]
fn a_dns_name_contact_is_verified_by_that_name() {
    let mut w = world(Some("Dave.Example.NET."));
    let (peer, name) = reopen(&mut w);
    assert_eq!(peer, w.b.addr);
    assert_eq!(name.as_deref(), Some("dave.example.net"));
}

/// TLS-15: an IP-literal Contact gives no name: the runtime verifies the address.
#[test]
fn an_address_contact_is_verified_by_its_address() {
    let mut w = world(None);
    let (peer, name) = reopen(&mut w);
    assert_eq!(peer, w.b.addr);
    assert_eq!(name, None);
}
