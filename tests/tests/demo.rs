//! `scripts/demo` (the README's quick start) against a real cpmd running the shipped
//! `cpmd.example.toml` (listeners moved to port 0 so tests run in parallel): the
//! claim plays out and alice's IMAP view shows both sessions' folders.

use std::process::Command;

use cpmd_tests::msrp::python_available;
use cpmd_tests::{workspace_root, Cpmd};

#[test]
fn the_demo_runs_the_claim_against_the_example_configuration() {
    if !python_available() {
        return;
    }
    let example = workspace_root().join("cpmd.example.toml");
    let example = example.to_str().expect("utf-8 path");
    let cpmd = Cpmd::start(&[
        "--config",
        example,
        "--tcp",
        "127.0.0.1:0",
        "--msrp",
        "127.0.0.1:0",
    ]);
    let addr = |kind: &str| {
        cpmd.bound
            .iter()
            .find(|(t, _)| t == kind)
            .map(|(_, a)| a.to_string())
            .unwrap_or_else(|| panic!("no {kind} in {:?}", cpmd.bound))
    };
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/demo"))
        .args(["--sip", &addr("tcp"), "--imap", &addr("imap")])
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "bob receives 'Hi Bob, lunch tomorrow?' from <sip:alice@example.com>",
        "carol receives 'Carol, joining us for lunch?'",
        "SIP: bob's BYE of the 1-to-1 relayed to alice over TCP, both answered",
        "Content-Type: Application/X-CPM-Session",
        "Content-Type: application/group-state-object+xml",
        "demo: done",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
    // Two folders: the 1-to-1 (2 messages + its sealed history) and the group.
    assert_eq!(stdout.matches("  folder Default/").count(), 2, "{stdout}");
    assert!(stdout.contains(": 3 objects"), "{stdout}");
}
