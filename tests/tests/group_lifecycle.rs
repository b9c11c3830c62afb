//! A group's life end to end (specs/group.md, GRP-20..GRP-29): the group state
//! object per change read back over IMAP with Python's `imaplib`, rejoining a live
//! group, restarting an ended one. The SIP side is the independent Python client
//! (`tests/sip/group_client.py`); the IMAP side `tests/imap/imaplib_client.py`.
//!
//! Peers: python3; missing, the tests fail under CI=true.

use std::net::SocketAddr;
use std::process::Command;

use cpmd_tests::{tool_available, workspace_root, Cpmd, Transport};
use serde_json::Value;

const CONFIG: &str = "[auth.passwords]\nalice = \"a-pass\"\nbob = \"b-pass\"\ncarol = \"c-pass\"\n\
                      dave = \"d-pass\"\nerin = \"e-pass\"\n";

fn imap_addr(cpmd: &Cpmd) -> SocketAddr {
    cpmd.bound
        .iter()
        .find(|(t, _)| t == "imap")
        .map(|(_, a)| *a)
        .expect("an imap listener")
}

/// Runs `group_client.py <scenario>` against `cpmd` over TCP and checks it completed.
fn run_client(cpmd: &Cpmd, scenario: &str) -> String {
    let server = cpmd.addr(Transport::Tcp);
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(workspace_root().join("tests/sip/group_client.py"))
        .arg(scenario)
        .args(["--host", &server.ip().to_string()])
        .args(["--port", &server.port().to_string()])
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "group client {scenario} failed\nstdout:\n{stdout}\nstderr:\n{}\ncpmd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cpmd.log()
    );
    stdout
}

/// `imaplib_client.py dump` as `user`: every folder and object.
fn imap_dump(cpmd: &Cpmd, user: &str, pass: &str) -> Value {
    let addr = imap_addr(cpmd);
    let out = Command::new("python3")
        .arg(workspace_root().join("tests/imap/imaplib_client.py"))
        .args(["dump", &addr.ip().to_string(), &addr.port().to_string()])
        .args([user, pass])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "imaplib dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The group state objects of the one group session folder `user` has, in UID
/// order, each as its `user=state` pairs, and whether it names the subject.
fn group_states(dump: &Value) -> Vec<(Vec<String>, bool)> {
    let folders = dump["folders"].as_object().expect("folders");
    let groups: Vec<&Value> = folders
        .values()
        .filter(|f| {
            f["objects"].as_array().is_some_and(|o| {
                o.iter().any(|x| {
                    x["raw"]
                        .as_str()
                        .is_some_and(|r| r.contains("group-state-object"))
                })
            })
        })
        .collect();
    assert_eq!(groups.len(), 1, "one group folder: {folders:#?}");
    let pair = regex_lite_pairs;
    groups[0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["raw"].as_str())
        .filter(|r| r.contains("Content-Type: application/group-state-object+xml"))
        .map(|r| (pair(r), r.contains("\r\nSubject: Weekend plans\r\n")))
        .collect()
}

/// `<participant ... comm-addr="sip:NAME@..." state="S"/>` → `NAME=S`, in order.
fn regex_lite_pairs(raw: &str) -> Vec<String> {
    raw.split("<participant ")
        .skip(1)
        .map(|p| {
            let attr = |name: &str| {
                let start = p.find(&format!("{name}=\"")).map(|i| i + name.len() + 2);
                start
                    .and_then(|s| p[s..].find('"').map(|e| p[s..s + e].to_owned()))
                    .unwrap_or_default()
            };
            let who = attr("comm-addr");
            let who = who
                .trim_start_matches("sip:")
                .trim_end_matches("@example.com");
            format!("{who}={}", attr("state"))
        })
        .collect()
}

/// GRP-20 with real sockets: the `refer` scenario (alice creates a group with bob
/// and carol, bob adds dave, alice removes carol, everyone leaves) leaves one group
/// state object per change in every party's group folder, each readable over IMAP,
/// in the order of the changes, then the seal's final one.
#[test]
fn every_change_of_the_group_is_a_group_state_object_over_imap() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(Some(CONFIG), &["--tcp", "127.0.0.1:0"]);
    // The client's last step waits for the 200 to the last BYE, sent once the seal
    // is durable; every version was handed to the store before the seal.
    let stdout = run_client(&cpmd, "refer");
    assert!(stdout.contains("group ended"), "{stdout}");
    let dump = imap_dump(&cpmd, "alice", "a-pass");
    let states = group_states(&dump);
    let versions: Vec<Vec<String>> = states
        .iter()
        .filter(|(_, subject)| *subject)
        .map(|(p, _)| p.clone())
        .collect();
    let want: Vec<Vec<&str>> = vec![
        vec!["alice=joined"],
        vec!["alice=joined", "bob=invited"],
        vec!["alice=joined", "bob=invited", "carol=invited"],
        vec!["alice=joined", "bob=joined", "carol=invited"],
        vec!["alice=joined", "bob=joined", "carol=joined"],
        vec!["alice=joined", "bob=joined", "carol=joined", "dave=invited"],
        vec!["alice=joined", "bob=joined", "carol=joined", "dave=joined"],
        vec!["alice=joined", "bob=joined", "carol=removed", "dave=joined"],
        // bob's REFER of erin with `Refer-Sub: false` (GRP-44).
        vec![
            "alice=joined",
            "bob=joined",
            "carol=removed",
            "dave=joined",
            "erin=invited",
        ],
        vec![
            "alice=joined",
            "bob=joined",
            "carol=removed",
            "dave=joined",
            "erin=joined",
        ],
        vec![
            "alice=joined",
            "bob=left",
            "carol=removed",
            "dave=joined",
            "erin=joined",
        ],
        vec![
            "alice=joined",
            "bob=left",
            "carol=removed",
            "dave=joined",
            "erin=left",
        ],
        vec![
            "alice=joined",
            "bob=left",
            "carol=removed",
            "dave=left",
            "erin=left",
        ],
        vec![
            "alice=left",
            "bob=left",
            "carol=removed",
            "dave=left",
            "erin=left",
        ],
    ];
    assert_eq!(versions, want, "{states:#?}");
    // The seal's object (no Subject header) comes last and names the final set.
    let (last, with_subject) = states.last().expect("objects").clone();
    assert!(!with_subject, "the seal's object is last: {states:#?}");
    assert_eq!(last, want[want.len() - 1]);
    // Every party reads the same versions: bob and carol (invited at the creation)
    // all of them, dave (added later) those from his invitation on.
    for (user, pass) in [("bob", "b-pass"), ("carol", "c-pass")] {
        let theirs = group_states(&imap_dump(&cpmd, user, pass));
        assert_eq!(theirs, states, "{user}");
    }
    let daves = group_states(&imap_dump(&cpmd, "dave", "d-pass"));
    assert_eq!(daves, states[5..], "dave");
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
}

/// GRP-21, GRP-22 with real sockets and real MSRP: bob leaves the group and rejoins
/// it with an INVITE to the focus URI carrying the group's Contribution-ID, from a
/// new MSRP leg; carol's next message is the first his new leg receives, his reaches
/// the others; dave (never in the group) is refused; after the end the focus is 404.
#[test]
fn a_participant_who_left_rejoins_and_receives_the_next_messages() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(Some(CONFIG), &["--tcp", "127.0.0.1:0"]);
    let stdout = run_client(&cpmd, "rejoin");
    assert!(stdout.contains("bob rejoined"), "{stdout}");
    assert!(stdout.contains("group ended: focus 404"), "{stdout}");
    // bob's versions: left, then joined again, then left for good.
    let states = group_states(&imap_dump(&cpmd, "bob", "b-pass"));
    let bob: Vec<String> = states
        .iter()
        .filter(|(_, subject)| *subject)
        .filter_map(|(p, _)| p.iter().find(|s| s.starts_with("bob=")).cloned())
        .collect();
    let mut changes = bob.clone();
    changes.dedup();
    assert_eq!(
        changes,
        [
            "bob=invited",
            "bob=joined",
            "bob=left",
            "bob=joined",
            "bob=left"
        ],
        "{states:#?}"
    );
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
}

/// The names of the folders in an `imap_dump` holding an object whose raw text
/// contains `text`.
fn folders_with<'a>(dump: &'a Value, text: &str) -> Vec<&'a String> {
    dump["folders"]
        .as_object()
        .expect("folders")
        .iter()
        .filter(|(_, f)| {
            f["objects"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|x| x["raw"].as_str().is_some_and(|r| r.contains(text)))
            })
        })
        .map(|(name, _)| name)
        .collect()
}

/// GRP-23 with real sockets and real MSRP: alice's group with bob and carol ends
/// (its focus answers 404); alice restarts it with an INVITE to the conference
/// factory carrying the group's Conversation-ID and Contribution-ID and the list;
/// bob and carol are invited with the same ids, answer, and alice's next message
/// reaches both over MSRP. Over IMAP each party's one session folder of the
/// conversation holds both runs' messages: nothing of the first run was lost.
#[test]
fn an_ended_group_is_restarted_with_its_ids_and_keeps_its_history() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(Some(CONFIG), &["--tcp", "127.0.0.1:0"]);
    // The client's last step waits for the 200 to alice's BYE, the last one: it is
    // sent once the restarted run's seal is durable.
    let stdout = run_client(&cpmd, "restart");
    assert!(stdout.contains("group ended: focus 404"), "{stdout}");
    assert!(
        stdout.contains("group restarted, messages flow"),
        "{stdout}"
    );
    assert!(stdout.contains("restarted group ended"), "{stdout}");
    for (user, pass) in [("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")] {
        let dump = imap_dump(&cpmd, user, pass);
        let folders = &dump["folders"];
        let first = folders_with(&dump, "before the end");
        let second = folders_with(&dump, "after the restart");
        assert_eq!(
            first.len(),
            1,
            "{user}: the first run's message: {folders:#?}"
        );
        assert_eq!(
            first, second,
            "{user}: both runs in the group's one session folder"
        );
        // The restarted run's group state objects follow the first run's.
        let states = group_states(&dump);
        let joined_runs = states
            .iter()
            .filter(|(p, _)| p.as_slice() == ["alice=joined"])
            .count();
        assert_eq!(joined_runs, 2, "{user}: two creations: {states:#?}");
        let (last, _) = states.last().expect("objects");
        assert_eq!(last, &["alice=left", "bob=left", "carol=left"], "{user}");
    }
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
}

/// GRP-40: alice restarts an ended group through the conference factory with its
/// ids and no list: bob and carol, members of the group's last stored state, are
/// invited and get her next message over MSRP; dave, whom the chairman removed,
/// is not invited. Over IMAP the restarted run's last group state names alice,
/// bob and carol (the stored members) and not dave, and bob's one session folder
/// holds both runs' messages.
#[test]
fn an_ended_group_is_restarted_from_its_stored_state() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(Some(CONFIG), &["--tcp", "127.0.0.1:0"]);
    // The client's last step waits for the 200 to alice's BYE, the last one: it is
    // sent once the restarted run's seal is durable.
    let stdout = run_client(&cpmd, "restart-stored");
    assert!(stdout.contains("group ended, dave removed"), "{stdout}");
    assert!(
        stdout.contains("group restarted from its stored state, messages flow"),
        "{stdout}"
    );
    assert!(
        stdout.contains("restarted group ended, dave not invited"),
        "{stdout}"
    );
    let dump = imap_dump(&cpmd, "bob", "b-pass");
    let states = group_states(&dump);
    let (last, _) = states.last().expect("group state objects");
    assert_eq!(
        last,
        &["alice=left", "bob=left", "carol=left"],
        "the restarted run's members: {states:#?}"
    );
    let after = folders_with(&dump, "after the restart");
    let both = folders_with(&dump, "before the end")
        .iter()
        .any(|name| after.contains(name));
    assert!(
        both,
        "bob's session folder holds both runs: {:#?}",
        dump["folders"]
    );
    let status = cpmd.stop();
    assert!(status.success(), "cpmd exit: {status:?}\n{}", cpmd.log());
}
