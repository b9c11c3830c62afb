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
