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

mod digest {
    //! Digest authentication on: REGISTER gets 401, INVITE gets 407; the right
    //! credentials pass, wrong ones get 403 (REG-2 with authentication on).
    use super::super::util::*;
    use crate::server::{AuthConfig, Config, Transport};
    use crate::sip::{Method, Request, StatusCode};
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sha(text: &str) -> String {
        hex(&Sha256::digest(text.as_bytes()))
    }

    /// The nonce of the first (SHA-256) challenge in `header`.
    fn nonce(resp: &crate::sip::Response, header: &str) -> String {
        let value = resp.headers.other(header).expect("a challenge");
        assert!(
            value.contains("algorithm=SHA-256"),
            "SHA-256 first: {value}"
        );
        let start = value.find("nonce=\"").expect("nonce") + 7;
        value[start..]
            .split('"')
            .next()
            .expect("closing quote")
            .to_owned()
    }

    fn authorize(req: &mut Request, header: &str, user: &str, password: &str, nonce: &str) {
        let uri = crate::wire::uri::print_uri(&req.uri);
        let ha1 = sha(&format!("{user}:{DOMAIN}:{password}"));
        let ha2 = sha(&format!("{}:{uri}", req.method));
        let response = sha(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        req.headers.other.push((
            header.into(),
            format!(
                "Digest username=\"{user}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c0ffee\""
            ),
        ));
    }

    fn harness() -> Harness {
        let mut config = Config::new(DOMAIN);
        let passwords = [
            ("alice".to_owned(), "wonderland".to_owned()),
            ("bob".to_owned(), "builder".to_owned()),
        ];
        config.auth = Some(AuthConfig::new(DOMAIN, passwords.into_iter().collect()));
        Harness::with_config(config)
    }

    #[test]
    fn register_is_challenged_then_accepted() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let req = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        h.send(&a, req.clone());
        let challenge = h.expect_response(&a, StatusCode::UNAUTHORIZED);
        let n = nonce(&challenge, "WWW-Authenticate");
        let all: Vec<_> = challenge
            .headers
            .other
            .iter()
            .filter(|(k, _)| k == "WWW-Authenticate")
            .collect();
        assert_eq!(all.len(), 2, "SHA-256 and MD5 offered");
        let mut again = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        authorize(&mut again, "Authorization", "alice", "wonderland", &n);
        h.send(&a, again);
        h.expect_response(&a, StatusCode::OK);
        let mut wrong = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        authorize(&mut wrong, "Authorization", "alice", "guess", &n);
        h.send(&a, wrong);
        h.expect_response(&a, StatusCode::FORBIDDEN);
    }

    #[test]
    fn invite_is_challenged_and_identity_is_the_digest_user() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let to = sip_uri("bob", DOMAIN);
        let offer = msrp_sdp("10.0.0.1", 7001, "a");
        let first = with_sdp(a.request(Method::Invite, to.clone(), to.clone()), &offer);
        h.send(&a, first);
        let challenge = h.expect_response(&a, StatusCode::PROXY_AUTH_REQUIRED);
        let n = nonce(&challenge, "Proxy-Authenticate");
        // Bob's password in Alice's name: refused.
        let mut forged = with_sdp(a.request(Method::Invite, to.clone(), to.clone()), &offer);
        authorize(&mut forged, "Proxy-Authorization", "bob", "builder", &n);
        h.send(&a, forged);
        h.expect_response(&a, StatusCode::FORBIDDEN);
        // Alice's own: accepted (bob is not registered, so the routing answers 480).
        let mut good = with_sdp(a.request(Method::Invite, to.clone(), to), &offer);
        authorize(&mut good, "Proxy-Authorization", "alice", "wonderland", &n);
        h.send(&a, good);
        h.expect_response(&a, StatusCode::TEMPORARILY_UNAVAILABLE);
    }

    #[test]
    fn expired_nonce_is_answered_stale() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let first = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        h.send(&a, first);
        let n = nonce(
            &h.expect_response(&a, StatusCode::UNAUTHORIZED),
            "WWW-Authenticate",
        );
        h.advance(300_001);
        let mut late = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        authorize(&mut late, "Authorization", "alice", "wonderland", &n);
        h.send(&a, late);
        let again = h.expect_response(&a, StatusCode::UNAUTHORIZED);
        assert!(again
            .headers
            .other("WWW-Authenticate")
            .is_some_and(|v| v.contains("stale=true")));
    }
}
