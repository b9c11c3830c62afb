//! Group features end to end (specs/group.md, GRP-30..): the `Allow` cpmd advertises,
//! group invitations to every device of a user, resource-list REFERs and the subject
//! change, driven by the independent Python terminals
//! (`tests/sip/group_features_client.py`) over TCP; every conference NOTIFY they
//! receive validates against RFC 4575's schema.
//!
//! Peers: python3, xmllint (Debian `libxml2-utils`); missing ones fail under CI=true.

use cpmd_tests::conference_schema::{run_python_scenario, tools};
use cpmd_tests::Cpmd;

const SCRIPT: &str = "group_features_client.py";

/// Stops cpmd (after the scenario: every answer it waited for came) and checks it
/// exited cleanly.
fn stop(cpmd: &mut Cpmd) {
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
}

/// GRP-30 with real sockets: OPTIONS, the focus's 200 and INVITE list SUBSCRIBE,
/// NOTIFY and REFER; a 405 does not list the method it refused.
#[test]
fn allow_names_the_focus_methods() {
    if !tools() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let run = run_python_scenario(&cpmd, SCRIPT, "allow");
    assert!(run.stdout.contains("group ended"), "{}", run.stdout);
    stop(&mut cpmd);
}

/// The sealed group whose participants the test checks (GRP-4: sealed once).
fn sealed_group(cpmd: &Cpmd) -> Vec<(String, String)> {
    let sealed: Vec<_> = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "history" && l["info"]["session_type"] == "Ad-Hoc")
        .collect();
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    sealed[0]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| {
            (
                p["user"].as_str().unwrap_or("").to_owned(),
                p["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// GRP-31 with real sockets: bob's two devices ring, the second answers and joins,
/// the first is CANCELled; dave (added by REFER) has two devices, one busy, the
/// other joins; each is one user in the conference state, which validates.
#[test]
fn group_invites_ring_every_device_of_a_user() {
    if !tools() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let run = run_python_scenario(&cpmd, SCRIPT, "devices");
    assert!(run.stdout.contains("group ended"), "{}", run.stdout);
    assert!(!run.docs.is_empty(), "alice's NOTIFYs were recorded");
    stop(&mut cpmd);
    let states = sealed_group(&cpmd);
    for user in ["bob", "carol", "dave"] {
        assert!(
            states.contains(&(format!("sip:{user}@example.com"), "left".into())),
            "{user} joined then left: {states:?}"
        );
    }
}

/// GRP-32 with real sockets: a REFER whose `cid:` Refer-To names a resource-list part
/// invites each listed user not in the group; one final sipfrag; subscribers see each
/// outcome; the history has carol (joined, then left) and dave (declined).
#[test]
fn resource_list_refer_invites_each_user() {
    if !tools() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let run = run_python_scenario(&cpmd, SCRIPT, "list");
    assert!(run.stdout.contains("group ended"), "{}", run.stdout);
    stop(&mut cpmd);
    let states = sealed_group(&cpmd);
    assert!(
        states.contains(&("sip:carol@example.com".into(), "left".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("sip:dave@example.com".into(), "declined".into())),
        "{states:?}"
    );
}

/// GRP-33 with real sockets: bob's UPDATE with a new Subject is announced to alice's
/// subscription (a partial document that validates against RFC 4575), once; the
/// sealed group's info carries the new subject.
#[test]
fn a_participant_changes_the_subject() {
    if !tools() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let run = run_python_scenario(&cpmd, SCRIPT, "subject");
    assert!(run.stdout.contains("group ended"), "{}", run.stdout);
    stop(&mut cpmd);
    let sealed: Vec<_> = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "history" && l["info"]["session_type"] == "Ad-Hoc")
        .collect();
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    assert_eq!(
        sealed[0]["info"]["subject"], "Dinner & <drinks>",
        "{:#?}",
        sealed[0]["info"]
    );
}
