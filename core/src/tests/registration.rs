//! Registration (specs/registration.md, REG-1..REG-3) and configuration checks.

use super::util::*;
use crate::ids::Tag;
use crate::server::{Config, ConfigError, Transport};
use crate::sip::{Method, StatusCode};
use crate::uri::Param;

fn register(
    h: &mut Harness,
    ua: &mut Ua,
    contact_expires: Option<u32>,
    expires: Option<u32>,
) -> crate::sip::Response {
    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
    req.headers.expires = expires;
    if let Some(e) = contact_expires {
        req.headers.contact[0]
            .params
            .push(Param::new("expires", Some(e.to_string())));
    }
    h.send(ua, req);
    h.expect_response(ua, StatusCode::OK)
}

/// REG-3: the 200 lists every current binding with its remaining expiry (capped).
#[test]
fn ok_lists_bindings_with_remaining_expiry() {
    let mut h = Harness::new();
    let mut a = Ua::new("alice", 1, Transport::Udp);
    let ok = register(&mut h, &mut a, None, Some(7200));
    assert_eq!(ok.headers.contact.len(), 1);
    assert_eq!(
        ok.headers.contact[0].param("expires"),
        Some("3600"),
        "capped at 3600 s"
    );
    h.advance(600_000);
    let mut a2 = a.clone();
    a2.addr = "10.0.0.11:5060".parse().expect("addr");
    let ok = register(&mut h, &mut a2, Some(120), None);
    let mut left: Vec<&str> = ok
        .headers
        .contact
        .iter()
        .filter_map(|c| c.param("expires"))
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec!["120", "3000"]);
}

/// REG-1: Expires 0 removes a binding; `Contact: *` with Expires 0 removes all;
/// `*` with another Expires is a 400.
#[test]
fn expires_zero_and_wildcard_remove_bindings() {
    let mut h = Harness::new();
    let mut a = Ua::new("alice", 1, Transport::Udp);
    register(&mut h, &mut a, None, Some(600));
    let ok = register(&mut h, &mut a, Some(0), None);
    assert!(ok.headers.contact.is_empty());
    register(&mut h, &mut a, None, Some(600));
    let mut star = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
    star.headers.contact.clear();
    star.headers.contact_wildcard = true;
    star.headers.expires = Some(10);
    h.send(&a, star.clone());
    h.expect_response(&a, StatusCode::BAD_REQUEST);
    let mut star = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
    star.headers.contact.clear();
    star.headers.contact_wildcard = true;
    star.headers.expires = Some(0);
    h.send(&a, star);
    let ok = h.expect_response(&a, StatusCode::OK);
    assert!(ok.headers.contact.is_empty());
}

/// Users of other domains cannot register here.
#[test]
fn foreign_domain_cannot_register() {
    let mut h = Harness::new();
    let mut ua = Ua::new("eve", 4, Transport::Udp);
    let foreign = sip_uri("eve", "elsewhere.org");
    let req = ua.request(Method::Register, sip_uri_host("elsewhere.org"), foreign);
    h.send(&ua, req);
    h.expect_response(&ua, StatusCode::FORBIDDEN);
}

/// TERM-2's precondition: a bye_wait that is not below 64·T1 is refused.
#[test]
fn config_refuses_bye_wait_beyond_the_bye_senders_timeout() {
    let mut config = Config::new(DOMAIN);
    assert_eq!(config.validate(), Ok(()));
    config.timers.bye_wait_ms = 32_000;
    assert!(matches!(
        config.validate(),
        Err(ConfigError::ByeWaitTooLong { .. })
    ));
}

/// RFC 3261 §13.3.1.4 / TERM-6: A never ACKs the 200: after 64·T1 the server ends the
/// 1-to-1 itself and seals it.
#[test]
fn unacknowledged_two_hundred_ends_the_session() {
    let mut w = super::flows::World::new();
    let invite = super::flows::invite_to(&mut w, "bob", "c", "k");
    w.h.send(&w.a, invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    w.h.send(
        &w.b,
        w.b.response(&b_invite, StatusCode::OK, &Tag::new("b")),
    );
    w.h.expect_request(&w.b, Method::Ack);
    w.h.advance(33_000);
    let mut byes = 0;
    for ua in [&w.a, &w.b] {
        while let Some(m) = w.h.next(ua) {
            if let crate::sip::SipMessage::Request(r) = m {
                assert_eq!(r.method, Method::Bye);
                byes += 1;
            }
        }
    }
    assert_eq!(byes, 2);
    w.h.advance(9_000);
    assert_eq!(w.h.sealed.len(), 1);
}
