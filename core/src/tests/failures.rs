//! SEC-4f scenario tests (specs/security.md): online password guessing against the
//! real core, with digest authentication on. A wrong password's 403 is held back
//! (a timer, virtual time here), and after `max_per_user_source` failures of one user
//! from one source, or `max_per_source` from one source, even the right password is
//! refused with `Retry-After` until the window passes; per user alone only a
//! bounded delay, so nobody can lock a victim out. IMAP logins share the table
//! (`Server::login_attempt`).

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::util::*;
use crate::server::{AuthConfig, Config, LoginVerdict, Transport};
use crate::sip::{Method, Response, StatusCode};

fn harness() -> Harness {
    let mut config = Config::new(DOMAIN);
    let passwords = [
        ("alice".to_owned(), "wonderland".to_owned()),
        ("bob".to_owned(), "builder".to_owned()),
    ];
    config.auth = Some(AuthConfig::new(DOMAIN, passwords.into_iter().collect()));
    Harness::with_config(config)
}

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh nonce for `ua`: an unauthenticated REGISTER's challenge.
fn fresh_nonce(h: &mut Harness, ua: &mut Ua) -> String {
    let req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
    h.send(ua, req);
    let challenge = h.expect_response(ua, StatusCode::UNAUTHORIZED);
    let value = challenge
        .headers
        .other("WWW-Authenticate")
        .expect("a challenge");
    let start = value.find("nonce=\"").expect("nonce") + 7;
    value[start..].split('"').next().expect("quote").to_owned()
}

/// Sends a REGISTER of `ua` (To: its own URI) as user `user` with `password` on a
/// fresh nonce; returns nothing (the caller waits for the answer).
fn try_register(h: &mut Harness, ua: &mut Ua, user: &str, password: &str) {
    let nonce = fresh_nonce(h, ua);
    let uri = format!("sip:{DOMAIN}");
    let ha1 = sha(&format!("{user}:{DOMAIN}:{password}"));
    let ha2 = sha(&format!("REGISTER:{uri}"));
    let response = sha(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let value = format!(
        "Digest username=\"{user}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=SHA-256, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"c0ffee\""
    );
    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
    req.headers.other.push(("Authorization".into(), value));
    h.send(ua, req);
}

/// Waits for the held answer of a failed attempt: nothing before `delay_ms`, a 403
/// (not the `Too many` one) then.
fn expect_held_403(h: &mut Harness, ua: &Ua, delay_ms: u64) {
    h.expect_nothing(ua);
    h.advance(delay_ms - 1);
    h.expect_nothing(ua);
    h.advance(1);
    let resp = h.expect_response(ua, StatusCode::FORBIDDEN);
    assert!(
        resp.headers.other("Retry-After").is_none(),
        "a plain failure"
    );
}

fn expect_blocked(h: &mut Harness, ua: &Ua) -> Response {
    let resp = h.expect_response(ua, StatusCode::FORBIDDEN);
    assert_eq!(resp.reason, "Too many failed attempts");
    resp
}

fn retry_after(resp: &Response) -> u64 {
    resp.headers
        .other("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds")
}

/// SEC-4f, the attack: Mallory guesses Alice's password from one address. Each
/// wrong answer comes later than the one before; after 5 the right password is
/// refused too, with `Retry-After` until the window (5 minutes from the first
/// failure) passes. Meanwhile OPTIONS are answered, Alice from her own address and
/// Bob from Mallory's are unaffected.
#[test]
fn sec_4f_guessing_is_delayed_then_refused_even_with_the_right_password() {
    let mut h = harness();
    let mut mallory = Ua::new("alice", 9, Transport::Udp);
    for (i, delay) in [500, 1_000, 1_500, 2_000, 2_500].into_iter().enumerate() {
        try_register(&mut h, &mut mallory, "alice", &format!("guess-{i}"));
        expect_held_403(&mut h, &mallory, delay);
    }
    try_register(&mut h, &mut mallory, "alice", "wonderland");
    let blocked = expect_blocked(&mut h, &mallory);
    // 7.5 s of delays went by since the first failure.
    assert_eq!(retry_after(&blocked), 300 - 7);
    let options = mallory.request(Method::Options, sip_uri_host(DOMAIN), sip_uri_host(DOMAIN));
    h.send(&mallory, options);
    h.expect_response(&mallory, StatusCode::OK);

    let mut alice = Ua::new("alice", 1, Transport::Udp);
    try_register(&mut h, &mut alice, "alice", "wonderland");
    h.expect_response(&alice, StatusCode::OK);
    let mut bob_there = Ua::new("bob", 9, Transport::Udp);
    try_register(&mut h, &mut bob_there, "bob", "builder");
    h.expect_response(&bob_there, StatusCode::OK);

    h.advance(290_000);
    try_register(&mut h, &mut mallory, "alice", "wonderland");
    expect_blocked(&mut h, &mallory);
    h.advance(3_000);
    try_register(&mut h, &mut mallory, "alice", "wonderland");
    h.expect_response(&mallory, StatusCode::OK);
}

/// SEC-4f: failing on purpose for Alice from many addresses only delays the wrong
/// answers (at most 2 s); Alice's own right password passes at once.
#[test]
fn sec_4f_a_victim_cannot_be_locked_out() {
    let mut h = harness();
    for octet in 100..140 {
        let mut m = Ua::new("alice", octet, Transport::Udp);
        try_register(&mut h, &mut m, "alice", "nope");
        h.expect_nothing(&m);
        h.advance(2_000);
        h.expect_response(&m, StatusCode::FORBIDDEN);
    }
    let mut alice = Ua::new("alice", 1, Transport::Udp);
    try_register(&mut h, &mut alice, "alice", "wonderland");
    h.expect_response(&alice, StatusCode::OK);
}

/// SEC-4f: one source trying many user names is refused for every user after 30
/// failures; another source is not.
#[test]
fn sec_4f_a_source_trying_many_users_is_refused() {
    let mut h = harness();
    for i in 0..30 {
        let mut m = Ua::new(&format!("user{i}"), 9, Transport::Udp);
        try_register(&mut h, &mut m, &format!("user{i}"), "guess");
        h.advance(4_000);
        h.expect_response(&m, StatusCode::FORBIDDEN);
    }
    let mut bob_there = Ua::new("bob", 9, Transport::Udp);
    try_register(&mut h, &mut bob_there, "bob", "builder");
    expect_blocked(&mut h, &bob_there);
    let mut bob = Ua::new("bob", 2, Transport::Udp);
    try_register(&mut h, &mut bob, "bob", "builder");
    h.expect_response(&bob, StatusCode::OK);
}

/// SEC-4f: IMAP logins (the same passwords) count in the same table: five failed
/// IMAP logins from Mallory's address block Alice's SIP registration from it, and
/// the reverse.
#[test]
fn sec_4f_imap_and_sip_failures_share_one_table() {
    let mut h = harness();
    let mallory_ip = IpAddr::from([10, 0, 0, 9]);
    for _ in 0..5 {
        let v = h.server.login_attempt(h.now, "alice", mallory_ip, false);
        assert!(matches!(v, LoginVerdict::Fail { .. }), "{v:?}");
    }
    let mut mallory = Ua::new("alice", 9, Transport::Udp);
    try_register(&mut h, &mut mallory, "alice", "wonderland");
    expect_blocked(&mut h, &mallory);

    let mut bob_m = Ua::new("bob", 8, Transport::Udp);
    for _ in 0..5 {
        try_register(&mut h, &mut bob_m, "bob", "guess");
        h.advance(4_000);
        h.expect_response(&bob_m, StatusCode::FORBIDDEN);
    }
    let v = h
        .server
        .login_attempt(h.now, "bob", IpAddr::from([10, 0, 0, 8]), true);
    assert!(matches!(v, LoginVerdict::Blocked { .. }), "{v:?}");
}
