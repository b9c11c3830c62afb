//! Attacks on the server's trust boundaries, each performed against the real core
//! (`specs/security.md` lists the threat, the rule and where it is enforced; each
//! test is named there).

use std::net::SocketAddr;

use super::flows::{invite_to, World};
use super::util::{msrp_sdp, sip_uri_host, Harness, Ua, DOMAIN};
use crate::ids::Tag;
use crate::server::{Config, Seed, Transport};
use crate::sip::{MediaType, Method, Response, SipMessage, StatusCode};
use crate::uri::Uri;

/// A server under an (unknown to the attacker) token key.
fn keyed_harness() -> Harness {
    let mut config = Config::new(DOMAIN);
    config.seed = Seed {
        instance: 0,
        key: *b"an unguessable 256-bit token key",
    };
    Harness::with_config(config)
}

/// The To-tags of the 200s to `n` unauthenticated OPTIONS from one terminal.
fn options_tags(h: &mut Harness, n: usize) -> Vec<String> {
    let mut eve = Ua::new("eve", 66, Transport::Udp);
    (0..n)
        .map(|_| {
            let req = eve.request(Method::Options, sip_uri_host(DOMAIN), sip_uri_host(DOMAIN));
            h.send(&eve, req);
            let ok = h.expect_response(&eve, StatusCode::OK);
            ok.headers.to.tag().expect("a To-tag").as_str().to_owned()
        })
        .collect()
}

/// SEC-1: tokens carry no counter or other structure. From 256 To-tags the server
/// handed out to unauthenticated OPTIONS: each is 128 bits in 22 base64url digits, no
/// two share more than 5 leading or trailing digits (a 1 in 64^5 chance per pair;
/// the last digit holds only 2 bits), and consecutive tags differ in about half
/// their bits (a counter, or a weak mix of one, would not).
#[test]
fn tokens_show_no_counter_or_structure() {
    let mut h = keyed_harness();
    let tags = options_tags(&mut h, 256);
    let bits: Vec<u128> = tags
        .iter()
        .map(|t| crate::server::token::b64url_bits(t).unwrap_or_else(|| panic!("128 bits: {t}")))
        .collect();
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let suffix = a
                .bytes()
                .rev()
                .zip(b.bytes().rev())
                .take_while(|(x, y)| x == y)
                .count();
            assert!(prefix <= 5 && suffix <= 5, "{a} and {b} share structure");
        }
    }
    let distances: Vec<u32> = bits
        .windows(2)
        .map(|w| (w[0] ^ w[1]).count_ones())
        .collect();
    let mean = f64::from(distances.iter().sum::<u32>()) / distances.len() as f64;
    assert!(
        (60.0..=68.0).contains(&mean),
        "mean Hamming distance {mean}"
    );
    assert!(
        distances.iter().all(|d| (30..=98).contains(d)),
        "{distances:?}"
    );
}

/// The To-tags of the server's 481s to `n` BYEs outside any dialog from `ua` (the
/// server's own refusals of requests outside any dialog), with the requests.
fn refusal_tags(h: &mut Harness, ua: &mut Ua, n: usize) -> Vec<(crate::sip::Request, String)> {
    (0..n)
        .map(|_| {
            let req = ua.request(Method::Bye, sip_uri_host(DOMAIN), sip_uri_host(DOMAIN));
            h.send(ua, req.clone());
            let no = h.expect_response(ua, StatusCode::CALL_DOES_NOT_EXIST);
            (
                req,
                no.headers.to.tag().expect("a To-tag").as_str().to_owned(),
            )
        })
        .collect()
}

/// SEC-1 for the tags of the server's own refusals outside any dialog, which come
/// from a keyed PRF of the request (`IdGen::answer_tag`), not the counter: each is
/// 128 bits in base64url digits, no two of 256 share structure, the same request
/// is answered with the same tag by a server under the same key and with another
/// under another key (another boot), and the refusals take no number of the
/// counter (the next OPTIONS' tag is the one a server that refused nothing gives:
/// the model's reduction of an outsider's refused INVITE rests on that).
#[test]
fn refusal_tags_are_keyed_by_the_request_and_mint_nothing() {
    let mut h = keyed_harness();
    let mut eve = Ua::new("eve", 67, Transport::Udp);
    let refused = refusal_tags(&mut h, &mut eve, 256);
    let tags: Vec<String> = refused.iter().map(|(_, t)| t.clone()).collect();
    let bits: Vec<u128> = tags
        .iter()
        .map(|t| crate::server::token::b64url_bits(t).unwrap_or_else(|| panic!("128 bits: {t}")))
        .collect();
    let distinct: std::collections::BTreeSet<_> = bits.iter().collect();
    assert_eq!(distinct.len(), bits.len(), "a refusal tag repeated");
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            assert!(prefix <= 5, "{a} and {b} share structure");
        }
    }
    let mean = f64::from(
        bits.windows(2)
            .map(|w| (w[0] ^ w[1]).count_ones())
            .sum::<u32>(),
    ) / (bits.len() - 1) as f64;
    assert!(
        (60.0..=68.0).contains(&mean),
        "mean Hamming distance {mean}"
    );
    // The refusals minted nothing: the next 200's tag is a fresh server's first.
    let after = options_tags(&mut h, 1);
    assert_eq!(after, options_tags(&mut keyed_harness(), 1));
    // The same request, to another server under the same key: the same tag; under
    // another key (another boot): another.
    let (req, tag) = refused[7].clone();
    let mut again = keyed_harness();
    again.send(&eve, req.clone());
    let same = again.expect_response(&eve, StatusCode::CALL_DOES_NOT_EXIST);
    assert_eq!(same.headers.to.tag().expect("a To-tag").as_str(), tag);
    let mut other = Harness::new();
    other.send(&eve, req);
    let moved = other.expect_response(&eve, StatusCode::CALL_DOES_NOT_EXIST);
    assert_ne!(moved.headers.to.tag().expect("a To-tag").as_str(), tag);
}

/// The SplitMix64 finaliser the server once minted tokens with, and its inverse:
/// the attack of SEC-1.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 31) ^ (z >> 62)).wrapping_mul(0x3196_42B2_D24D_8EC3);
    z = (z ^ (z >> 27) ^ (z >> 54)).wrapping_mul(0x96DE_1B17_3F11_9089);
    z = z ^ (z >> 30) ^ (z >> 60);
    z.wrapping_sub(0x9E37_79B9_7F4A_7C15)
}

/// SEC-1: the inversion that used to recover the seed from two tags (read a tag as
/// `mix(boot ^ mix(instance) ^ n)` then `n`, invert the mixer, and look for two
/// tags agreeing on `boot`) finds nothing, and no tag tells the next one.
#[test]
fn seed_inversion_attack_fails() {
    assert_eq!(unmix(mix(0x0123_4567_89ab_cdef)), 0x0123_4567_89ab_cdef);
    let mut h = keyed_harness();
    let tags = options_tags(&mut h, 64);
    let mut votes = std::collections::BTreeMap::<u64, usize>::new();
    for t in &tags {
        // The old layout: the mixed word in the high 64 bits, the counter below.
        let bits = crate::server::token::b64url_bits(t).expect("a token");
        let (p, n) = ((bits >> 64) as u64, bits as u64);
        *votes.entry(unmix(p) ^ mix(0) ^ n).or_default() += 1;
    }
    assert_eq!(
        votes.values().sum::<usize>(),
        tags.len(),
        "every tag was read"
    );
    let best = votes.values().max().copied().unwrap_or(0);
    assert!(best < 2, "two tags agree on a recovered seed");
    // And a guess built from the recovered seed does not hit the next tag.
    let next = options_tags(&mut h, 1).remove(0);
    for boot in votes.keys() {
        for n in 1..=200u64 {
            let guess = (u128::from(mix(boot ^ mix(0) ^ n)) << 64) | u128::from(n);
            let next = crate::server::token::b64url_bits(&next).expect("a token");
            assert_ne!(guess, next, "predicted the next tag");
        }
    }
}

/// SEC-2: while B's phone rings, a forged 200 (with SDP) and a forged 486 for B's
/// INVITE, sent from B's host but another port (UDP) or on another connection (TCP),
/// change nothing: A hears of neither, the forger gets no ACK, both are reported as
/// dropped; B's real 200 then connects the call.
fn forged_answers_while_ringing(transport: Transport) {
    let mut w = World::with(keyed_harness(), transport);
    let invite = invite_to(&mut w, "bob", "conv-sec-2", "contrib-sec-2");
    w.h.send(&w.a, invite);
    let b_invite = w.h.expect_request(&w.b, Method::Invite);
    let b_tag = Tag::new("bob-leg-tag");
    w.h.send(&w.b, w.b.response(&b_invite, StatusCode::RINGING, &b_tag));
    w.h.expect_response(&w.a, StatusCode::RINGING);

    // The forger knows the INVITE (branch, Call-ID, tags): the worst case.
    let mut mallory = Ua::new("bob", 9, transport);
    mallory.addr = SocketAddr::new(w.b.addr.ip(), 5999);
    let mallory_tag = Tag::new("mallory-tag");
    let mut fake_ok = mallory.response(&b_invite, StatusCode::OK, &mallory_tag);
    fake_ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    fake_ok.body = msrp_sdp("10.0.0.9", 7009, "evil").into_bytes();
    let dropped = w.h.server.counters().dropped;
    w.h.send(&mallory, fake_ok);
    w.h.send(
        &mallory,
        mallory.response(&b_invite, StatusCode::BUSY_HERE, &mallory_tag),
    );
    w.h.expect_nothing(&w.a);
    w.h.expect_nothing(&mallory);
    w.h.expect_nothing(&w.b);
    assert_eq!(w.h.server.counters().dropped, dropped + 2);

    let mut ok = w.b.response(&b_invite, StatusCode::OK, &b_tag);
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = msrp_sdp("10.0.0.2", 7002, "b1").into_bytes();
    w.h.send(&w.b, ok);
    w.h.expect_request(&w.b, Method::Ack);
    let a_ok = w.h.expect_response(&w.a, StatusCode::OK);
    assert!(
        !String::from_utf8_lossy(&a_ok.body).contains("evil"),
        "A got the forger's SDP"
    );
}

#[test]
fn forged_responses_from_another_port_change_nothing() {
    forged_answers_while_ringing(Transport::Udp);
}

#[test]
fn forged_responses_on_another_connection_change_nothing() {
    forged_answers_while_ringing(Transport::Tcp);
}

/// A REGISTER of `count` distinct devices of `ua` (contact ports 6000 + `first`, …),
/// and the server's answer.
fn register_devices(h: &mut Harness, ua: &mut Ua, first: u16, count: u16) -> Response {
    let mut req = ua.request(Method::Register, sip_uri_host(DOMAIN), ua.uri());
    req.headers.expires = Some(3600);
    req.headers.contact = (first..first + count)
        .map(|port| {
            let mut c = ua.contact();
            if let Uri::Sip(sip) = &mut c.uri {
                sip.port = Some(6000 + port);
            }
            c
        })
        .collect();
    h.send(ua, req);
    match h.next(ua) {
        Some(SipMessage::Response(r)) => r,
        other => panic!("no answer to REGISTER: {other:?}"),
    }
}

/// SEC-5: with the default caps a user holds at most 10 devices: the REGISTER that
/// would add an 11th is refused 403 (with the reason) and changes nothing, while a
/// refresh of registered devices still passes.
#[test]
fn eleventh_device_is_refused() {
    let mut h = keyed_harness();
    let mut alice = Ua::new("alice", 1, Transport::Udp);
    let ok = register_devices(&mut h, &mut alice, 0, 10);
    assert_eq!((ok.status, ok.headers.contact.len()), (StatusCode::OK, 10));
    let refused = register_devices(&mut h, &mut alice, 10, 1);
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.reason, "Too many devices for this user");
    let refused = register_devices(&mut h, &mut alice, 5, 6);
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "5 known, 1 new");
    let ok = register_devices(&mut h, &mut alice, 0, 10);
    assert_eq!((ok.status, ok.headers.contact.len()), (StatusCode::OK, 10));
}

/// SEC-5: beyond `max_bindings` in all, a REGISTER adding a binding gets 503 with the
/// reason; one that refreshes passes.
#[test]
fn full_registrar_refuses_new_bindings() {
    let mut config = Config::new(DOMAIN);
    config.registration.max_bindings = 3;
    let mut h = Harness::with_config(config);
    let mut alice = Ua::new("alice", 1, Transport::Udp);
    let mut bob = Ua::new("bob", 2, Transport::Udp);
    let mut carol = Ua::new("carol", 3, Transport::Udp);
    assert_eq!(
        register_devices(&mut h, &mut alice, 0, 2).status,
        StatusCode::OK
    );
    assert_eq!(
        register_devices(&mut h, &mut bob, 0, 1).status,
        StatusCode::OK
    );
    let full = register_devices(&mut h, &mut carol, 0, 1);
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.reason, "Registrar full");
    assert_eq!(
        register_devices(&mut h, &mut bob, 0, 1).status,
        StatusCode::OK
    );
}
