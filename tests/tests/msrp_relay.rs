//! The independent MSRP test client against a third-party implementation, without
//! cpmd: two Python terminals (`tests/msrp/msrp_client.py`) AUTH with Kamailio's MSRP
//! relay (RFC 4976, `tests/kamailio/kamailio.cfg`) and exchange messages through it,
//! one of them chunked. This validates the client the cpmd tests (`msrp.rs`) rely on.

use std::time::Duration;

use cpmd_tests::msrp::{
    content, imdn_id, kamailio_available, python_available, Kamailio, MsrpClient,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

// Message-IDs are RFC 4975 idents (4 to 32 characters): the client refuses shorter ones
// with an `error` event and sends nothing, which is why this test once saw no messages.
#[test]
fn two_clients_through_kamailio() {
    if !python_available() || !kamailio_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Kamailio::start(dir.path());
    let mut alice = MsrpClient::spawn("alice", &relay.client("alice"), dir.path());
    let mut bob = MsrpClient::spawn("bob", &relay.client("bob"), dir.path());
    let relay_prefix = format!("msrp://127.0.0.1:{}/", relay.port);
    assert!(
        alice.path.starts_with(&relay_prefix) && alice.path.split_whitespace().count() == 2,
        "alice's path is the relay's Use-Path then her own URI: {}",
        alice.path
    );

    // Bob binds towards alice's path (his relay, hers, her URI), then both talk.
    let alice_path = alice.path.clone();
    bob.command(json!({"cmd": "connect", "to_path": alice_path}));
    let bind = bob.expect(WAIT, |e| e["ev"] == "response");
    assert_eq!(bind["code"], 200, "{bind}");
    // Bob's From-Path was his own URI; each relay hop put itself in front, so alice
    // sees bob's whole a=path behind her own relay hop (RFC 4976 §7.1).
    let peer = alice.wait_bound(WAIT);
    assert!(
        peer.ends_with(&bob.path) && peer.starts_with(&relay_prefix),
        "alice's view of bob's path: {peer} (bob's a=path: {})",
        bob.path
    );

    for i in 0..5 {
        alice.send_text(&format!("alice-{i}"), &format!("from alice {i}"), json!({}));
        bob.send_text(&format!("bob-{i}"), &format!("from bob {i}"), json!({}));
    }
    let big = "0123456789abcdef".repeat(4 * 1024);
    const CHUNK: u64 = 2048;
    bob.send_text(
        "big-message",
        &big,
        json!({"chunk": CHUNK, "success_report": true}),
    );

    let at_bob = bob.messages(5, WAIT);
    let at_alice = alice.messages(6, WAIT);
    for i in 0..5 {
        assert_eq!(imdn_id(&at_bob[i]), format!("alice-{i}"));
        assert_eq!(content(&at_bob[i]), format!("from alice {i}"));
        assert_eq!(imdn_id(&at_alice[i]), format!("bob-{i}"));
        assert_eq!(content(&at_alice[i]), format!("from bob {i}"));
    }
    assert_eq!(
        content(&at_alice[5]),
        big,
        "the chunked message is reassembled"
    );
    // A relay forwards chunks as they come (RFC 4976 §4.1): alice gets bob's 2 KiB chunks.
    assert!(
        at_alice[5]["chunks"].as_u64() > Some(big.len() as u64 / CHUNK),
        "{}",
        at_alice[5]["chunks"]
    );
    // Alice answers Success-Report: yes with a REPORT that the relay carries back.
    let report = bob.expect(WAIT, |e| e["ev"] == "report");
    assert_eq!(report["message_id"], "big-message");
    assert_eq!(report["status"], "000 200 OK");
    // Nothing arrives twice.
    let rest: Vec<_> = alice
        .drain(Duration::from_millis(300))
        .into_iter()
        .chain(bob.drain(Duration::from_millis(10)))
        .filter(|e| e["ev"] == "message")
        .collect();
    assert!(rest.is_empty(), "duplicates: {rest:#?}");
}
