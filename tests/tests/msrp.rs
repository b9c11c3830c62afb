//! Chat messages over MSRP through cpmd, end to end (issue #5).
//!
//! sipp plays each terminal's SIP side and carries, in its SDP, the a=path and
//! a=setup of an independent Python MSRP client (`tests/msrp/msrp_client.py`, written
//! from RFC 4975/4976/3862, not from `cpmd_core::msrp`). The clients are passive
//! (`a=setup:passive`, listening on 127.0.0.1:0) unless a test says otherwise, so cpmd
//! connects to each and binds with an empty SEND whose From-Path tells the client
//! cpmd's path on that leg. Every test asserts that each message arrives once, in
//! order, with its body intact, at the right parties only, and that cpmd recorded it
//! once and in order (`Cpmd::recorded_messages`).
//!
//! - `one_to_one_both_ways`: A and B exchange messages both ways; Failure-Report
//!   `no`/`partial`, Success-Report and a 481 for an unknown session.
//! - `chunked_large_messages`: 50 KiB sent in 4 KiB chunks and in one SEND; A is
//!   `a=setup:active` here and connects to cpmd itself.
//! - `across_the_extension`: the claim: messages before, in the switch window and
//!   after, in the 1-to-1 and in the group; C gets nothing of the 1-to-1.
//! - `group_of_three`: every message fans out to the other two.
//! - `one_to_one_through_kamailio`: B is behind Kamailio's MSRP relay (RFC 4976).
//! - `a_full_session_refuses_the_next_message_with_413`: LIM-13's per-session cap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use cpmd_tests::liveness::answers_during;
use cpmd_tests::msrp::{
    content, imdn_id, kamailio_available, python_available, ClientOptions, Kamailio, MsrpClient,
};
use cpmd_tests::test_ca::{server_files, TestCa};
use cpmd_tests::{free_port, sipp_available, Cpmd, RecordedMessage, Sipp, SippRun, Transport};
use serde_json::{json, Value};

const CONVERSATION: &str = "0c6d2f1e-8a4b-4f3c-9e7d-1a2b3c4d5e6f";
const ONE_TO_ONE: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const GROUP: &str = "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d";
const WAIT: Duration = Duration::from_secs(10);
const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";

/// cpmd with a UDP SIP listener and an MSRP listener, sipp's address for each user.
struct Bed {
    cpmd: Cpmd,
    sip: SocketAddr,
}

impl Bed {
    fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// As [`Bed::start`], with `config` as cpmd's configuration file.
    fn start_with(config: Option<&str>) -> Option<Self> {
        if !sipp_available() || !python_available() {
            return None;
        }
        let cpmd =
            Cpmd::start_with_config(config, &["--udp", "127.0.0.1:0", "--msrp", "127.0.0.1:0"]);
        let sip = cpmd.addr(Transport::Udp);
        Some(Self { cpmd, sip })
    }

    /// cpmd with `[tls]` (a certificate for 127.0.0.1 from `ca`, peers verified
    /// against `ca_file`) and an MSRP-over-TLS listener besides the plain one.
    fn start_tls(pki: &Path, ca: &TestCa, ca_file: &Path) -> Option<Self> {
        if !sipp_available() || !python_available() {
            return None;
        }
        let (cert, key) = server_files(pki);
        ca.issue(&["127.0.0.1"], &cert, &key);
        let config = format!(
            "[tls]\ncertificate = {:?}\nkey = {:?}\npeer_ca = {:?}\n",
            cert.display().to_string(),
            key.display().to_string(),
            ca_file.display().to_string(),
        );
        let cpmd = Cpmd::start_with_config(
            Some(&config),
            &[
                "--udp",
                "127.0.0.1:0",
                "--msrp",
                "127.0.0.1:0",
                "--msrps",
                "127.0.0.1:0",
            ],
        );
        let sip = cpmd.addr(Transport::Udp);
        Some(Self { cpmd, sip })
    }

    fn dir(&self) -> &Path {
        self.cpmd.dir.path()
    }

    fn client(&self, name: &str) -> MsrpClient {
        MsrpClient::spawn(
            name,
            &ClientOptions {
                listen: true,
                ..ClientOptions::default()
            },
            self.dir(),
        )
    }

    fn run(&self, local: SocketAddr, args: Vec<String>) -> SippRun {
        SippRun {
            server: self.sip,
            transport: Transport::Udp,
            local,
            args,
        }
    }

    /// Registers `user` from `local` (the socket its UAS scenario then runs on).
    fn register(&self, user: &str, local: SocketAddr) {
        let args = vec!["-s".into(), user.into(), "-m".into(), "1".into()];
        Sipp::spawn("register.xml", &self.run(local, args), self.dir()).assert_success();
    }

    fn sipp(&self, scenario: &str, local: SocketAddr, args: Vec<String>) -> Sipp {
        Sipp::spawn(scenario, &self.run(local, args), self.dir())
    }
}

fn local() -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    SocketAddr::new(ip, free_port(ip))
}

/// `-key` arguments: the conversation ids, then the MSRP keys of `client` for its
/// leg (`suffix` "" for the first leg, "2" for a second one).
fn keys(pairs: &[(&str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in [
        ("conv", CONVERSATION),
        ("contrib1", ONE_TO_ONE),
        ("contrib2", GROUP),
    ] {
        out.extend(["-key".to_owned(), k.to_owned(), v.to_owned()]);
    }
    for (k, v) in pairs {
        out.extend(["-key".to_owned(), (*k).to_owned(), v.clone()]);
    }
    out
}

fn leg(client: &MsrpClient, setup: &str, suffix: &str) -> Vec<(String, String)> {
    // TLS-11: a client whose own URI is msrps: offers or answers MSRP over TLS.
    let proto = if client.path.contains("msrps://") {
        "TCP/TLS/MSRP"
    } else {
        "TCP/MSRP"
    };
    vec![
        (format!("msrp_proto{suffix}"), proto.to_owned()),
        (format!("msrp_path{suffix}"), client.path.clone()),
        (format!("msrp_port{suffix}"), client.port().to_string()),
        (format!("msrp_setup{suffix}"), setup.to_owned()),
    ]
}

fn with_legs(
    extra: &[&str],
    legs: &[Vec<(String, String)>],
    more: &[(&str, String)],
) -> Vec<String> {
    let mut pairs: Vec<(&str, String)> = more.to_vec();
    for l in legs {
        for (k, v) in l {
            pairs.push((k.as_str(), v.clone()));
        }
    }
    let mut out: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    out.extend(keys(&pairs));
    out
}

/// Sends `text` as a CPIM message from `from` to `to` with Message-ID `id`.
fn say(client: &mut MsrpClient, id: &str, text: &str, from: &str, to: &str) {
    client.send_text(id, text, json!({"from": from, "to": to}));
}

/// The next `n` messages at `client`: asserts their imdn.Message-IDs and bodies.
fn expect_messages(client: &mut MsrpClient, want: &[(&str, &str)]) -> Vec<Value> {
    let got = client.messages(want.len(), WAIT);
    let ids: Vec<String> = got.iter().map(imdn_id).collect();
    let want_ids: Vec<&str> = want.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, want_ids, "{} received, in this order", client.name);
    for (event, (id, text)) in got.iter().zip(want) {
        assert_eq!(content(event), *text, "{}: body of {id}", client.name);
        assert_eq!(event["content_type"], "message/cpim", "{event}");
    }
    got
}

/// Asserts no further message reaches any of `clients` (duplicates, strays).
fn expect_no_more(clients: &mut [&mut MsrpClient]) {
    std::thread::sleep(Duration::from_millis(300));
    for c in clients.iter_mut() {
        let extra: Vec<Value> = c
            .drain(Duration::from_millis(10))
            .into_iter()
            .filter(|e| e["ev"] == "message")
            .collect();
        assert!(extra.is_empty(), "{} got more: {extra:#?}", c.name);
    }
}

/// Asserts cpmd recorded exactly `want` (id, sender, text) for `contribution_id`,
/// each once, and in an order that keeps every sender's own order.
fn expect_recorded(
    cpmd: &Cpmd,
    contribution_id: &str,
    want: &[(&str, &str, &str)],
) -> Vec<RecordedMessage> {
    let got = cpmd.wait_recorded(contribution_id, want.len(), WAIT);
    let ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "recorded for {contribution_id}: {ids:?}"
    );
    for (id, sender, text) in want {
        let hits: Vec<&RecordedMessage> = got.iter().filter(|m| m.message_id == *id).collect();
        assert_eq!(hits.len(), 1, "{id} recorded once: {got:#?}");
        assert_eq!(hits[0].sender, *sender, "sender of {id}");
        assert!(
            hits[0].body.contains(text),
            "body of {id}: {:?}",
            hits[0].body
        );
    }
    for sender in [ALICE, BOB, CAROL] {
        let want_order: Vec<&str> = want.iter().filter(|w| w.1 == sender).map(|w| w.0).collect();
        let got_order: Vec<&str> = got
            .iter()
            .filter(|m| m.sender == sender)
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(got_order, want_order, "{sender}'s messages in order of seq");
    }
    let seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "sequence numbers are distinct");
    got
}

/// TLS-11 (specs/tls.md), RFC 4975 §14: one session, alice's leg MSRP over TLS and
/// bob's plain. Alice offers `TCP/TLS/MSRP`; in the `active` run she dials cpmd's
/// `msrps:` listener and verifies its certificate, in the `passive` run cpmd dials
/// her TLS listener and verifies hers (`[tls] peer_ca`). Bob answers cpmd's TLS offer
/// with plain `TCP/MSRP`. Messages go both ways and are recorded.
#[test]
fn one_to_one_with_a_tls_leg_and_a_tcp_leg() {
    for a_setup in ["active", "passive"] {
        let pki = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let ca_file = pki.path().join("ca.crt");
        ca.write(&ca_file);
        let Some(bed) = Bed::start_tls(pki.path(), &ca, &ca_file) else {
            return;
        };
        let (a_cert, a_key) = (pki.path().join("alice.crt"), pki.path().join("alice.key"));
        ca.issue(&["127.0.0.1"], &a_cert, &a_key);
        let mut alice = MsrpClient::spawn(
            "alice",
            &ClientOptions {
                listen: true,
                tls: Some((a_cert, a_key, ca_file.clone())),
                ..ClientOptions::default()
            },
            bed.dir(),
        );
        assert!(alice.path.starts_with("msrps://"), "{}", alice.path);
        let mut bob = bed.client("bob");
        one_to_one(&bed, &mut alice, &mut bob, a_setup);
        say(&mut alice, "tls-a1", "over TLS to cpmd", ALICE, BOB);
        say(&mut bob, "tcp-b1", "over TCP to cpmd", BOB, ALICE);
        let at_bob = expect_messages(&mut bob, &[("tls-a1", "over TLS to cpmd")]);
        let at_alice = expect_messages(&mut alice, &[("tcp-b1", "over TCP to cpmd")]);
        // cpmd's path on each leg: msrps: on alice's, msrp: on bob's.
        let on_alice_leg = at_alice[0]["from_path"].as_str().unwrap().to_owned();
        let on_bob_leg = at_bob[0]["from_path"].as_str().unwrap().to_owned();
        assert!(on_alice_leg.starts_with("msrps://"), "{on_alice_leg}");
        let msrps = bed
            .cpmd
            .bound
            .iter()
            .find(|(t, _)| t == "msrps")
            .expect("msrps= in the ready line")
            .1;
        assert!(on_alice_leg.contains(&msrps.to_string()), "{on_alice_leg}");
        assert!(on_bob_leg.starts_with("msrp://"), "{on_bob_leg}");
        expect_no_more(&mut [&mut alice, &mut bob]);
        expect_recorded(
            &bed.cpmd,
            ONE_TO_ONE,
            &[
                ("tls-a1", ALICE, "over TLS to cpmd"),
                ("tcp-b1", BOB, "over TCP to cpmd"),
            ],
        );
    }
}

/// Sets up a 1-to-1 alice → bob with both MSRP clients bound; `a_setup` is alice's
/// offer (`passive`: cpmd connects; `active`: alice connects to cpmd's path).
fn one_to_one(bed: &Bed, alice: &mut MsrpClient, bob: &mut MsrpClient, a_setup: &str) {
    let (a, b) = (local(), local());
    bed.register("bob", b);
    let b_uas = bed.sipp(
        "msrp_answer.xml",
        b,
        with_legs(&["-s", "bob", "-m", "1"], &[leg(bob, "passive", "")], &[]),
    );
    std::thread::sleep(Duration::from_millis(200));
    let a_uac = bed.sipp(
        "msrp_a_call.xml",
        a,
        with_legs(
            &["-m", "1", "-trace_logs"],
            &[leg(alice, a_setup, "")],
            &[("callee", "bob".to_owned())],
        ),
    );
    let logs = a_uac.assert_success_logs();
    b_uas.assert_success();
    if a_setup == "active" {
        let server_path = logs
            .lines()
            .find_map(|l| l.split("server-path ").nth(1))
            .unwrap_or_else(|| panic!("no server a=path in A's 200: {logs}"))
            .trim()
            .to_owned();
        alice.command(json!({"cmd": "connect", "to_path": server_path}));
        let bind = alice.expect(WAIT, |e| e["ev"] == "response");
        assert_eq!(bind["code"], 200, "cpmd answers A's bind SEND: {bind}");
    } else {
        alice.wait_bound(WAIT);
    }
    bob.wait_bound(WAIT);
}

#[test]
fn one_to_one_both_ways() {
    let Some(bed) = Bed::start() else { return };
    let mut alice = bed.client("alice");
    let mut bob = bed.client("bob");
    one_to_one(&bed, &mut alice, &mut bob, "passive");

    const N: usize = 10;
    let a_ids: Vec<String> = (0..N).map(|i| format!("alice-{i}")).collect();
    let b_ids: Vec<String> = (0..N).map(|i| format!("bob-{i}")).collect();
    let a_texts: Vec<String> = (0..N).map(|i| format!("Hi Bob, number {i} ✓")).collect();
    let b_texts: Vec<String> = (0..N).map(|i| format!("Hi Alice, number {i}")).collect();
    for i in 0..N {
        say(&mut alice, &a_ids[i], &a_texts[i], ALICE, BOB);
        say(&mut bob, &b_ids[i], &b_texts[i], BOB, ALICE);
    }
    let to_bob: Vec<(&str, &str)> = a_ids
        .iter()
        .map(String::as_str)
        .zip(a_texts.iter().map(String::as_str))
        .collect();
    let to_alice: Vec<(&str, &str)> = b_ids
        .iter()
        .map(String::as_str)
        .zip(b_texts.iter().map(String::as_str))
        .collect();
    let at_bob = expect_messages(&mut bob, &to_bob);
    expect_messages(&mut alice, &to_alice);
    // The relayed SEND is cpmd's own (B2B): From-Path is cpmd's path on B's leg and
    // the MSRP Message-ID is not A's.
    let bob_peer = at_bob[0]["from_path"]
        .as_str()
        .expect("from path")
        .to_owned();
    assert!(
        !bob_peer.contains(&alice.path),
        "cpmd terminates MSRP: {bob_peer}"
    );
    // Failure-Report absent means yes: exactly one 200 per SEND.
    for id in &a_ids {
        let r = alice.expect(WAIT, |e| {
            e["ev"] == "response" && e["message_id"] == id.as_str()
        });
        assert_eq!(r["code"], 200, "{r}");
    }
    expect_no_more(&mut [&mut alice, &mut bob]);
    let mut want: Vec<(&str, &str, &str)> = Vec::new();
    for i in 0..N {
        want.push((&a_ids[i], ALICE, &a_texts[i]));
        want.push((&b_ids[i], BOB, &b_texts[i]));
    }
    expect_recorded(&bed.cpmd, ONE_TO_ONE, &want);

    // Failure-Report: no → no response at all; partial → no 200; Success-Report: yes
    // → a REPORT 000 200 OK for the message.
    alice.send_text(
        "fr-no",
        "no response please",
        json!({"failure_report": "no", "from": ALICE, "to": BOB}),
    );
    alice.send_text(
        "fr-partial",
        "only failures please",
        json!({"failure_report": "partial", "from": ALICE, "to": BOB}),
    );
    alice.send_text(
        "sr-yes",
        "report success please",
        json!({"success_report": true, "from": ALICE, "to": BOB}),
    );
    expect_messages(
        &mut bob,
        &[
            ("fr-no", "no response please"),
            ("fr-partial", "only failures please"),
            ("sr-yes", "report success please"),
        ],
    );
    let report = alice.expect(WAIT, |e| e["ev"] == "report" && e["message_id"] == "sr-yes");
    assert!(
        report["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("000 200")),
        "{report}"
    );
    // A SEND to a session cpmd does not know: 481 even with Failure-Report partial,
    // nothing with Failure-Report no.
    let msrp = bed.cpmd.msrp_addr();
    let nowhere = format!("msrp://{msrp}/no-such-session;tcp");
    alice.send_text(
        "lost-partial",
        "to nowhere",
        json!({"failure_report": "partial", "to_path": nowhere}),
    );
    alice.send_text(
        "lost-no",
        "to nowhere",
        json!({"failure_report": "no", "to_path": nowhere}),
    );
    let r = alice.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "lost-partial"
    });
    assert_eq!(r["code"], 481, "{r}");
    let rest = alice.drain(Duration::from_millis(500));
    let responses: Vec<&Value> = rest.iter().filter(|e| e["ev"] == "response").collect();
    assert!(
        responses.iter().all(|e| e["message_id"] == "sr-yes"),
        "no response to Failure-Report no/partial successes: {responses:#?}"
    );
    // A From-Path that is not alice's a=path on her leg: 403 (RFC 4975 §7.3).
    alice.send_text(
        "impostor",
        "not from alice's path",
        json!({"from_path": "msrp://127.0.0.1:9/someone-else;tcp"}),
    );
    let r = alice.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "impostor"
    });
    assert_eq!(r["code"], 403, "{r}");
    expect_no_more(&mut [&mut bob]);
    let recorded = bed.cpmd.wait_recorded(ONE_TO_ONE, 2 * N + 3, WAIT);
    assert_eq!(recorded.len(), 2 * N + 3, "{recorded:#?}");
}

#[test]
fn chunked_large_messages() {
    let Some(bed) = Bed::start() else { return };
    let mut alice = MsrpClient::spawn("alice", &ClientOptions::default(), bed.dir());
    let mut bob = bed.client("bob");
    one_to_one(&bed, &mut alice, &mut bob, "active");

    // 50 KiB of varied text, in 4 KiB chunks (Byte-Range, `+` then `$`).
    let big: String = (0..50 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    alice.send_text(
        "big-1",
        &big,
        json!({"chunk": 4096, "from": ALICE, "to": BOB}),
    );
    // The same size back in a single SEND.
    let big2: String = big.chars().rev().collect();
    say(&mut bob, "big-2", &big2, BOB, ALICE);
    say(&mut alice, "small", "after the big one", ALICE, BOB);

    let at_bob = expect_messages(&mut bob, &[("big-1", &big), ("small", "after the big one")]);
    expect_messages(&mut alice, &[("big-2", &big2)]);
    eprintln!(
        "cpmd relayed 50 KiB to bob in {} chunk(s)",
        at_bob[0]["chunks"]
    );
    expect_no_more(&mut [&mut alice, &mut bob]);
    let rec = expect_recorded(
        &bed.cpmd,
        ONE_TO_ONE,
        &[
            ("big-1", ALICE, &big),
            ("big-2", BOB, &big2),
            ("small", ALICE, "after the big one"),
        ],
    );
    assert!(
        rec.iter().any(|m| m.body.contains(&big)),
        "the whole 50 KiB is stored"
    );
}

#[test]
fn group_of_three() {
    let Some(bed) = Bed::start() else { return };
    let mut alice = bed.client("alice");
    let mut bob = bed.client("bob");
    let mut carol = bed.client("carol");
    let (a, b, c) = (local(), local(), local());
    bed.register("bob", b);
    bed.register("carol", c);
    let b_uas = bed.sipp(
        "msrp_answer.xml",
        b,
        with_legs(&["-s", "bob", "-m", "1"], &[leg(&bob, "passive", "")], &[]),
    );
    let c_uas = bed.sipp(
        "msrp_answer.xml",
        c,
        with_legs(
            &["-s", "carol", "-m", "1"],
            &[leg(&carol, "passive", "")],
            &[],
        ),
    );
    std::thread::sleep(Duration::from_millis(200));
    bed.sipp(
        "msrp_a_group.xml",
        a,
        with_legs(&["-m", "1"], &[leg(&alice, "passive", "")], &[]),
    )
    .assert_success();
    b_uas.assert_success();
    c_uas.assert_success();
    for client in [&mut alice, &mut bob, &mut carol] {
        client.wait_bound(WAIT);
    }

    for i in 0..3 {
        say(
            &mut alice,
            &format!("ga-{i}"),
            &format!("alice to all {i}"),
            ALICE,
            "sip:conf-factory@example.com",
        );
    }
    say(
        &mut bob,
        "gb-0",
        "bob to all",
        BOB,
        "sip:conf-factory@example.com",
    );
    say(
        &mut carol,
        "gc-0",
        "carol to all",
        CAROL,
        "sip:conf-factory@example.com",
    );
    let from_alice = [
        ("ga-0", "alice to all 0"),
        ("ga-1", "alice to all 1"),
        ("ga-2", "alice to all 2"),
    ];
    for client in [&mut bob, &mut carol] {
        let got = client.messages(4, WAIT);
        let mut ids: Vec<String> = got.iter().map(imdn_id).collect();
        let own = if client.name == "bob" { "gc-0" } else { "gb-0" };
        assert!(ids.contains(&own.to_owned()), "{}: {ids:?}", client.name);
        ids.retain(|i| i.starts_with("ga-"));
        assert_eq!(
            ids,
            ["ga-0", "ga-1", "ga-2"],
            "{} gets alice's in order",
            client.name
        );
        for (event, (id, text)) in got
            .iter()
            .filter(|e| imdn_id(e).starts_with("ga-"))
            .zip(from_alice)
        {
            assert_eq!(content(event), text, "{id}");
        }
    }
    let at_alice = alice.messages(2, WAIT);
    let mut ids: Vec<String> = at_alice.iter().map(imdn_id).collect();
    ids.sort();
    assert_eq!(ids, ["gb-0", "gc-0"]);
    expect_no_more(&mut [&mut alice, &mut bob, &mut carol]);
    // msrp_a_group.xml gives the group the Contribution-ID `contrib1`.
    expect_recorded(
        &bed.cpmd,
        ONE_TO_ONE,
        &[
            ("ga-0", ALICE, "alice to all 0"),
            ("ga-1", ALICE, "alice to all 1"),
            ("ga-2", ALICE, "alice to all 2"),
            ("gb-0", BOB, "bob to all"),
            ("gc-0", CAROL, "carol to all"),
        ],
    );
}

#[test]
fn across_the_extension() {
    let Some(bed) = Bed::start() else { return };
    let mut a1 = bed.client("alice-1to1");
    let mut a2 = bed.client("alice-group");
    let mut b1 = bed.client("bob-1to1");
    let mut b2 = bed.client("bob-group");
    let mut carol = bed.client("carol");
    let (a, b, c) = (local(), local(), local());
    bed.register("bob", b);
    bed.register("carol", c);
    // A extends 3 s after its 1-to-1 is up; B leaves the 1-to-1 7 s after: the test
    // sends before, inside that window (group up, old legs still open) and after.
    let b_uas = bed.sipp(
        "msrp_b_claim.xml",
        b,
        with_legs(
            &["-m", "2"],
            &[leg(&b1, "passive", ""), leg(&b2, "passive", "2")],
            &[("b_pause_ms", "7000".into())],
        ),
    );
    let c_uas = bed.sipp(
        "msrp_answer.xml",
        c,
        with_legs(
            &["-s", "carol", "-m", "1"],
            &[leg(&carol, "passive", "")],
            &[],
        ),
    );
    std::thread::sleep(Duration::from_millis(200));
    let a_uac = bed.sipp(
        "msrp_a_claim.xml",
        a,
        with_legs(
            &["-m", "1"],
            &[leg(&a1, "passive", ""), leg(&a2, "passive", "2")],
            &[("a_pause_ms", "3000".into())],
        ),
    );

    // Before: the 1-to-1.
    a1.wait_bound(WAIT);
    b1.wait_bound(WAIT);
    say(&mut a1, "before-a0", "before 0", ALICE, BOB);
    say(&mut b1, "before-b0", "before reply", BOB, ALICE);
    say(&mut a1, "before-a1", "before 1", ALICE, BOB);
    expect_messages(
        &mut b1,
        &[("before-a0", "before 0"), ("before-a1", "before 1")],
    );
    expect_messages(&mut a1, &[("before-b0", "before reply")]);

    // The group is up (cpmd bound all three group legs): the switch window.
    a2.wait_bound(WAIT);
    b2.wait_bound(WAIT);
    carol.wait_bound(WAIT);
    say(&mut a1, "window-a0", "in the window", ALICE, BOB);
    say(&mut b1, "window-b0", "window reply", BOB, ALICE);
    expect_messages(&mut b1, &[("window-a0", "in the window")]);
    expect_messages(&mut a1, &[("window-b0", "window reply")]);

    // B's BYE ends the 1-to-1 (relayed to A, sealed), then the group talks.
    a_uac.assert_success();
    b_uas.assert_success();
    c_uas.assert_success();
    say(
        &mut a2,
        "group-a0",
        "group hello",
        ALICE,
        "sip:conf-factory@example.com",
    );
    say(
        &mut a2,
        "group-a1",
        "group second",
        ALICE,
        "sip:conf-factory@example.com",
    );
    say(
        &mut carol,
        "group-c0",
        "carol here",
        CAROL,
        "sip:conf-factory@example.com",
    );
    let at_b2: Vec<String> = b2.messages(3, WAIT).iter().map(imdn_id).collect();
    let alice_at_b2: Vec<&String> = at_b2.iter().filter(|i| i.starts_with("group-a")).collect();
    assert_eq!(
        alice_at_b2,
        ["group-a0", "group-a1"],
        "bob's group leg: {at_b2:?}"
    );
    assert!(at_b2.contains(&"group-c0".to_owned()), "{at_b2:?}");
    let at_carol = carol.messages(2, WAIT);
    assert_eq!(
        at_carol.iter().map(imdn_id).collect::<Vec<_>>(),
        ["group-a0", "group-a1"],
        "carol gets the group only"
    );
    assert_eq!(content(&at_carol[0]), "group hello");
    let at_a2 = a2.messages(1, WAIT);
    assert_eq!(imdn_id(&at_a2[0]), "group-c0");
    // The 1-to-1 is over: a message on its old leg gets a failure, never silence.
    say(&mut a1, "late-a0", "too late", ALICE, BOB);
    let r = a1.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "late-a0"
    });
    assert!(r["code"].as_u64() >= Some(400), "{r}");
    expect_no_more(&mut [&mut a1, &mut a2, &mut b1, &mut b2, &mut carol]);

    let one = expect_recorded(
        &bed.cpmd,
        ONE_TO_ONE,
        &[
            ("before-a0", ALICE, "before 0"),
            ("before-b0", BOB, "before reply"),
            ("before-a1", ALICE, "before 1"),
            ("window-a0", ALICE, "in the window"),
            ("window-b0", BOB, "window reply"),
        ],
    );
    expect_recorded(
        &bed.cpmd,
        GROUP,
        &[
            ("group-a0", ALICE, "group hello"),
            ("group-a1", ALICE, "group second"),
            ("group-c0", CAROL, "carol here"),
        ],
    );
    // The sealed 1-to-1 history lists exactly its five messages.
    let sealed = bed.cpmd.sealed(ONE_TO_ONE);
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    let listed: Vec<u64> = sealed[0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut seqs: Vec<u64> = one.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    assert_eq!(listed, seqs, "{}", sealed[0]);
}

#[test]
fn one_to_one_through_kamailio() {
    let Some(bed) = Bed::start() else { return };
    if !kamailio_available() {
        return;
    }
    let relay = Kamailio::start(bed.dir());
    let mut alice = bed.client("alice");
    let mut bob = MsrpClient::spawn("bob", &relay.client("bob"), bed.dir());
    assert!(
        bob.path
            .starts_with(&format!("msrp://127.0.0.1:{}/", relay.port)),
        "{}",
        bob.path
    );
    one_to_one(&bed, &mut alice, &mut bob, "passive");

    for i in 0..5 {
        say(
            &mut alice,
            &format!("ka-{i}"),
            &format!("via relay {i}"),
            ALICE,
            BOB,
        );
        say(
            &mut bob,
            &format!("kb-{i}"),
            &format!("back via relay {i}"),
            BOB,
            ALICE,
        );
    }
    let big = "kamailio-chunks ".repeat(1024);
    bob.send_text(
        "kb-big",
        &big,
        json!({"chunk": 2048, "from": BOB, "to": ALICE}),
    );
    let to_bob: Vec<(String, String)> = (0..5)
        .map(|i| (format!("ka-{i}"), format!("via relay {i}")))
        .collect();
    let mut to_alice: Vec<(String, String)> = (0..5)
        .map(|i| (format!("kb-{i}"), format!("back via relay {i}")))
        .collect();
    to_alice.push(("kb-big".into(), big.clone()));
    expect_messages(&mut bob, &pairs(&to_bob));
    expect_messages(&mut alice, &pairs(&to_alice));
    expect_no_more(&mut [&mut alice, &mut bob]);
    let mut want: Vec<(&str, &str, &str)> = Vec::new();
    for ((ai, at), (bi, bt)) in to_bob.iter().zip(&to_alice) {
        want.push((ai, ALICE, at));
        want.push((bi, BOB, bt));
    }
    want.push(("kb-big", BOB, &big));
    expect_recorded(&bed.cpmd, ONE_TO_ONE, &want);
    assert!(
        relay.log().contains("msrp SEND"),
        "the relay carried the SENDs"
    );
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// LIM-5 (specs/limits.md), an attack: alice sends 16 partial messages, each one
/// byte at the very end of a 16 MiB Byte-Range. cpmd holds the bytes received, not
/// the ranges announced (before issue 12 each chunk allocated 16 MiB, 256 MiB in
/// all); a 17th partial message gets 413; SIP OPTIONS keep being answered (LIM-1)
/// and the session still relays.
#[test]
fn partial_messages_hold_only_the_bytes_received() {
    let Some(bed) = Bed::start() else { return };
    let mut alice = bed.client("alice");
    let mut bob = bed.client("bob");
    one_to_one(&bed, &mut alice, &mut bob, "passive");
    let before = bed.cpmd.rss_kib();
    let total: u64 = 16 * 1024 * 1024;
    let (mut alice, during) = answers_during(bed.sip, move || {
        for i in 0..17 {
            alice.command(json!({
                "cmd": "chunk", "message_id": format!("partial-{i}"),
                "start": total, "total": total, "data": "z",
            }));
            let answer = alice.expect(WAIT, |e| e["ev"] == "response");
            let want = if i < 16 { 200 } else { 413 };
            assert_eq!(answer["code"], want, "partial {i}: {answer}");
        }
        alice
    });
    assert!(during >= 1, "the attack ended before any probe");
    let grown_kib = bed.cpmd.rss_kib().saturating_sub(before);
    assert!(
        grown_kib < 32 * 1024,
        "cpmd grew by {grown_kib} KiB for 16 bytes of partial messages"
    );
    // Alice's leg is full of partial messages (16); bob's relays as before.
    say(&mut bob, "after", "still relayed", BOB, ALICE);
    expect_messages(&mut alice, &[("after", "still relayed")]);
}

/// LIM-13 (specs/limits.md): a session that took `max_messages_per_session` messages
/// refuses the next with MSRP 413; the refused message is neither stored nor
/// delivered, and the session's other leg is unaffected until it too sends.
#[test]
fn a_full_session_refuses_the_next_message_with_413() {
    let config = "[limits]\nmax_messages_per_session = 3\n";
    let Some(bed) = Bed::start_with(Some(config)) else {
        return;
    };
    let mut alice = bed.client("alice");
    let mut bob = bed.client("bob");
    one_to_one(&bed, &mut alice, &mut bob, "passive");
    say(&mut alice, "cap-a1", "one", ALICE, BOB);
    say(&mut bob, "cap-b1", "two", BOB, ALICE);
    say(&mut alice, "cap-a2", "three", ALICE, BOB);
    for id in ["cap-a1", "cap-a2"] {
        let r = alice.expect(WAIT, |e| e["ev"] == "response" && e["message_id"] == id);
        assert_eq!(r["code"], 200, "{r}");
    }
    expect_messages(&mut bob, &[("cap-a1", "one"), ("cap-a2", "three")]);
    expect_messages(&mut alice, &[("cap-b1", "two")]);
    // The fourth message of the session, from either side, is refused.
    say(&mut alice, "cap-a3", "over the cap", ALICE, BOB);
    let r = alice.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "cap-a3"
    });
    assert_eq!(r["code"], 413, "LIM-13: {r}");
    say(&mut bob, "cap-b2", "over the cap too", BOB, ALICE);
    let r = bob.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "cap-b2"
    });
    assert_eq!(r["code"], 413, "LIM-13: {r}");
    expect_no_more(&mut [&mut alice, &mut bob]);
    expect_recorded(
        &bed.cpmd,
        ONE_TO_ONE,
        &[
            ("cap-a1", ALICE, "one"),
            ("cap-b1", BOB, "two"),
            ("cap-a2", ALICE, "three"),
        ],
    );
}

/// BODIES-1 (specs/store.md): with `store_messages = false` every message is still
/// relayed with its body and answered 200, and cpmd records each one (sender,
/// IMDN Message-ID, content type, order) without its body.
#[test]
fn store_messages_off_relays_bodies_and_records_metadata_only() {
    if !sipp_available() || !python_available() {
        return;
    }
    let cpmd = Cpmd::start_with_config(
        Some("store_messages = false\n"),
        &["--udp", "127.0.0.1:0", "--msrp", "127.0.0.1:0"],
    );
    let sip = cpmd.addr(Transport::Udp);
    let bed = Bed { cpmd, sip };
    let mut alice = bed.client("alice");
    let mut bob = bed.client("bob");
    one_to_one(&bed, &mut alice, &mut bob, "passive");
    say(&mut alice, "nb-a1", "kept out of the store", ALICE, BOB);
    say(&mut bob, "nb-b1", "this one too", BOB, ALICE);
    expect_messages(&mut bob, &[("nb-a1", "kept out of the store")]);
    expect_messages(&mut alice, &[("nb-b1", "this one too")]);
    expect_no_more(&mut [&mut alice, &mut bob]);
    let got = bed.cpmd.wait_recorded(ONE_TO_ONE, 2, WAIT);
    // Alice and bob send at the same time: the store's order across senders is
    // either (each sender's own order is what MSG-2 promises).
    let mut ids: Vec<(&str, &str)> = got
        .iter()
        .map(|m| (m.message_id.as_str(), m.sender.as_str()))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [("nb-a1", ALICE), ("nb-b1", BOB)]);
    for m in &got {
        assert!(
            m.body.is_empty(),
            "body of {} stored: {:?}",
            m.message_id,
            m.body
        );
        assert!(
            m.content_type.eq_ignore_ascii_case("message/cpim"),
            "{}",
            m.content_type
        );
    }
}
