//! The conference event package end to end (specs/group.md, GRP-10..GRP-13): the
//! independent Python SIP client (`tests/sip/group_client.py`) creates a group over
//! TCP with four terminals, subscribes to the focus (a non-participant is refused),
//! sees every join and departure in order, refreshes, unsubscribes, and receives the
//! terminated NOTIFY when the group ends. Every NOTIFY body is then validated with
//! `xmllint --nonet` against RFC 4575's schema (`tests/schemas/conference-info.xsd`,
//! its `xml.xsd` import resolved offline by `tests/schemas/catalog.xml`).
//!
//! Peers: python3, xmllint (Debian `libxml2-utils`); missing ones fail under CI=true.

use cpmd_tests::conference_schema::{run_python_scenario, tools, validate};
use cpmd_tests::Cpmd;

/// The schema check itself can fail: a document with an endpoint status RFC 4575
/// does not define is refused (so a passing validation below means something).
#[test]
fn the_schema_refuses_a_wrong_document() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("bad.xml");
    std::fs::write(
        &doc,
        "<?xml version=\"1.0\"?>\n<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" \
         entity=\"sip:conf-1@example.com\" state=\"full\" version=\"1\"><users><user \
         entity=\"sip:a@example.com\"><endpoint><status>here</status></endpoint></user>\
         </users></conference-info>\n",
    )
    .unwrap();
    let err = validate(&doc).expect_err("an unknown status fails validation");
    assert!(err.contains("status"), "{err}");
}

/// Runs `group_client.py <scenario>` against a fresh cpmd over TCP; checks that it
/// completed, that it wrote `notifies` conference documents and that each validates
/// against RFC 4575; returns cpmd (stopped) for the history checks.
fn run_scenario(scenario: &str, notifies: usize) -> Cpmd {
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let run = run_python_scenario(&cpmd, "group_client.py", scenario);
    assert!(run.stdout.contains("group ended"), "{}", run.stdout);
    assert_eq!(run.docs.len(), notifies, "{:?}\n{}", run.docs, run.stdout);
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
    cpmd
}

/// The group was sealed once (GRP-4); its participants' final states.
fn sealed_group(cpmd: &Cpmd) -> serde_json::Value {
    let sealed: Vec<_> = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "history" && l["info"]["session_type"] == "Ad-Hoc")
        .collect();
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    sealed[0].clone()
}

/// GRP-10..GRP-13 with real sockets; every NOTIFY validates against RFC 4575.
/// alice: full, bob left, full (refresh), terminated; carol: full, bob left, alice
/// left, carol left, terminated.
#[test]
fn subscribers_see_the_group_change_and_end() {
    if !tools() {
        return;
    }
    let cpmd = run_scenario("conference", 9);
    sealed_group(&cpmd);
}

/// GRP-14, GRP-15 with real sockets: bob adds dave by REFER in his group dialog,
/// erin (outside) and bob (not the chairman) are refused what they may not do, alice
/// removes carol by REFER outside any dialog; alice's subscription sees each change
/// (full, dave pending, dave connected, carol booted, erin pending, erin connected,
/// bob, erin, dave and alice departed, terminated), every document valid. Over MSRP
/// dave, once added, gets alice's next messages and carol, once removed, none.
/// GRP-44: bob's REFER of erin with `Refer-Sub: false` gets a 202 saying so and no
/// sipfrag NOTIFY.
#[test]
fn refer_adds_a_participant_and_the_chairman_removes_one() {
    if !tools() {
        return;
    }
    let cpmd = run_scenario("refer", 11);
    let group = sealed_group(&cpmd);
    let states: Vec<(String, String)> = group["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| {
            (
                p["user"].as_str().unwrap_or("").to_owned(),
                p["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&("sip:dave@example.com".into(), "left".into())),
        "dave joined (then left): {states:?}"
    );
    assert!(
        states.contains(&("sip:carol@example.com".into(), "removed".into())),
        "carol was removed: {states:?}"
    );
}
