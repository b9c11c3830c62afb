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
        authorize_with(req, header, user, password, nonce, 1);
    }

    /// `authorize` with count `nc` (SEC-4b: each count once per nonce).
    fn authorize_with(
        req: &mut Request,
        header: &str,
        user: &str,
        password: &str,
        nonce: &str,
        nc: u32,
    ) {
        let uri = crate::wire::uri::print_uri(&req.uri);
        let value = credentials(req.method.clone(), &uri, user, password, nonce, Some(nc));
        req.headers.other.push((header.into(), value));
    }

    /// A `Digest` credentials value for `method` and `uri` as a client computes it:
    /// `qop=auth` with count `nc`, or the RFC 2069 form (no qop) when `nc` is `None`.
    fn credentials(
        method: Method,
        uri: &str,
        user: &str,
        password: &str,
        nonce: &str,
        nc: Option<u32>,
    ) -> String {
        let ha1 = sha(&format!("{user}:{DOMAIN}:{password}"));
        let ha2 = sha(&format!("{method}:{uri}"));
        let common = format!(
            "Digest username=\"{user}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm=SHA-256"
        );
        match nc {
            Some(nc) => {
                let response = sha(&format!("{ha1}:{nonce}:{nc:08x}:c0ffee:auth:{ha2}"));
                format!(
                    "{common}, response=\"{response}\", qop=auth, nc={nc:08x}, cnonce=\"c0ffee\""
                )
            }
            None => {
                let response = sha(&format!("{ha1}:{nonce}:{ha2}"));
                format!("{common}, response=\"{response}\"")
            }
        }
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
        // SEC-4f: a wrong password's answer is held for a while.
        h.expect_nothing(&a);
        h.advance(500);
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
        // Alice's own: accepted (bob is not registered but has a password, so the
        // server stands in for him: specs/deferred.md, DEF-12).
        // Count 2: Bob's right password spent count 1 of this nonce (SEC-4b).
        let mut good = with_sdp(a.request(Method::Invite, to.clone(), to), &offer);
        authorize_with(
            &mut good,
            "Proxy-Authorization",
            "alice",
            "wonderland",
            &n,
            2,
        );
        h.send(&a, good);
        h.expect_response(&a, StatusCode::OK);
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

    /// A REGISTER's answer to `value` in `Authorization`.
    fn register_with(h: &mut Harness, a: &mut Ua, value: String) -> crate::sip::Response {
        let mut req = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        req.headers.other.push(("Authorization".into(), value));
        h.send(a, req);
        match h.next(a) {
            Some(crate::sip::SipMessage::Response(r)) => r,
            other => panic!("{} expected a response, got {other:?}", a.name),
        }
    }

    /// A fresh nonce from a 401 to an unauthenticated REGISTER.
    fn fresh_nonce(h: &mut Harness, a: &mut Ua) -> String {
        let req = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        h.send(a, req);
        nonce(
            &h.expect_response(a, StatusCode::UNAUTHORIZED),
            "WWW-Authenticate",
        )
    }

    fn is_stale(resp: &crate::sip::Response) -> bool {
        resp.headers
            .other
            .iter()
            .any(|(k, v)| k == "WWW-Authenticate" && v.contains("stale=true"))
    }

    /// SEC-4a, the attack: guess passwords without ever asking for a nonce. With a
    /// made-up nonce the right password and a wrong one get the same answer (a fresh
    /// challenge, not stale), so the answer says nothing about the password. Before
    /// SEC-4a the right password got `401 stale=true` and a wrong one `403`.
    #[test]
    fn sec_4a_made_up_nonce_answers_alike_for_right_and_wrong_passwords() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let genuine = fresh_nonce(&mut h, &mut a);
        let uri = format!("sip:{DOMAIN}");
        // Made up: a plain string, and the genuine nonce with its expiry pushed out.
        let pushed = format!("f{}", &genuine[1..]);
        for made_up in ["dcd98b7102dd2f0e8b11d0f600bfb0c093", pushed.as_str()] {
            let mut answers = Vec::new();
            for password in ["wonderland", "guess"] {
                let value =
                    credentials(Method::Register, &uri, "alice", password, made_up, Some(1));
                let resp = register_with(&mut h, &mut a, value);
                answers.push((resp.status, is_stale(&resp)));
            }
            assert_eq!(answers[0], answers[1], "{made_up}: {answers:?}");
            assert_eq!(answers[0], (StatusCode::UNAUTHORIZED, false));
        }
    }

    /// SEC-4a: challenges cost no state, so a flood of them (far beyond the 4096
    /// nonces the old table held) does not push out the nonce a client is using.
    #[test]
    fn sec_4a_a_flood_of_challenges_evicts_nothing() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let mut m = Ua::new("mallory", 2, Transport::Udp);
        let n = fresh_nonce(&mut h, &mut a);
        for _ in 0..5_000 {
            // A millisecond apart, so Alice's nonce is the oldest one (the one the
            // old table dropped first).
            h.advance(1);
            fresh_nonce(&mut h, &mut m);
        }
        let mut req = a.request(Method::Register, sip_uri_host(DOMAIN), a.uri());
        authorize(&mut req, "Authorization", "alice", "wonderland", &n);
        h.send(&a, req);
        h.expect_response(&a, StatusCode::OK);
    }

    /// SEC-4b, the attack: copy a REGISTER's `Authorization` (seen on the wire) into
    /// a request of one's own. The same count under the same nonce is refused (a
    /// fresh, stale challenge); the client's next count passes.
    #[test]
    fn sec_4b_replayed_nonce_count_is_refused() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let n = fresh_nonce(&mut h, &mut a);
        let uri = format!("sip:{DOMAIN}");
        let captured = credentials(Method::Register, &uri, "alice", "wonderland", &n, Some(1));
        assert_eq!(
            register_with(&mut h, &mut a, captured.clone()).status,
            StatusCode::OK
        );
        let mut mallory = Ua::new("alice", 9, Transport::Udp);
        let replay = register_with(&mut h, &mut mallory, captured);
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
        assert!(is_stale(&replay));
        let lower = credentials(Method::Register, &uri, "alice", "wonderland", &n, Some(0));
        assert_eq!(
            register_with(&mut h, &mut mallory, lower).status,
            StatusCode::UNAUTHORIZED
        );
        let next = credentials(Method::Register, &uri, "alice", "wonderland", &n, Some(2));
        assert_eq!(register_with(&mut h, &mut a, next).status, StatusCode::OK);
    }

    /// SEC-4c, the attack: reuse the credentials of an INVITE to Bob (method and
    /// nonce alike) on an INVITE to Carol. The response covers the `uri` parameter,
    /// not the Request-URI, so only comparing the two refuses it.
    #[test]
    fn sec_4c_credentials_for_another_uri_are_refused() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let bob = sip_uri("bob", DOMAIN);
        let carol = sip_uri("carol", DOMAIN);
        let offer = msrp_sdp("10.0.0.1", 7001, "a");
        let first = with_sdp(a.request(Method::Invite, bob.clone(), bob.clone()), &offer);
        h.send(&a, first);
        let n = nonce(
            &h.expect_response(&a, StatusCode::PROXY_AUTH_REQUIRED),
            "Proxy-Authenticate",
        );
        let for_bob = credentials(
            Method::Invite,
            &crate::wire::uri::print_uri(&bob),
            "alice",
            "wonderland",
            &n,
            Some(1),
        );
        let mut to_carol = with_sdp(a.request(Method::Invite, carol.clone(), carol), &offer);
        to_carol
            .headers
            .other
            .push(("Proxy-Authorization".into(), for_bob));
        h.send(&a, to_carol);
        h.expect_response(&a, StatusCode::FORBIDDEN);
    }

    /// SEC-4e, the attack: the RFC 2069 form (no `qop`, no `nc`) cannot be checked
    /// for replays, so a captured one could be replayed for the nonce's lifetime.
    /// It is refused even with the right password.
    #[test]
    fn sec_4e_credentials_without_qop_auth_are_refused() {
        let mut h = harness();
        let mut a = Ua::new("alice", 1, Transport::Udp);
        let n = fresh_nonce(&mut h, &mut a);
        let uri = format!("sip:{DOMAIN}");
        let bare = credentials(Method::Register, &uri, "alice", "wonderland", &n, None);
        assert_eq!(
            register_with(&mut h, &mut a, bare).status,
            StatusCode::FORBIDDEN
        );
        let qop_int = credentials(Method::Register, &uri, "alice", "wonderland", &n, Some(1))
            .replace("qop=auth", "qop=auth-int");
        assert_eq!(
            register_with(&mut h, &mut a, qop_int).status,
            StatusCode::FORBIDDEN
        );
    }
}
