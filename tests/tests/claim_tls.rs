//! The claim over TLS end to end (specs/tls.md, TLS-12): alice, bob and carol are the
//! Python `ssl` SIP client (`tests/sip/sip_tls_client.py claim`), each on its own TLS
//! connection to cpmd's SIP TLS listener; every MSRP leg is an independent Python MSRP
//! client over TLS (`tests/msrp/msrp_client.py`, `msrps:` listener, certificate from
//! the test CA that cpmd verifies as `[tls] peer_ca`). The 1-to-1 alice–bob, the
//! extension to a group with bob and carol (Session-Replaces, resource list), bob's
//! BYE of the 1-to-1 relayed to alice, messages before, in the switch window and in
//! the group, the group's teardown; then the store: the group's session info and the
//! sealed 1-to-1 and group histories, as `claim.rs` checks them over UDP/TCP.
//!
//! Peers: python3 (missing: fails under CI=true).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use cpmd_tests::msrp::{content, imdn_id, python_available, ClientOptions, MsrpClient};
use cpmd_tests::test_ca::{server_files, TestCa};
use cpmd_tests::{workspace_root, Cpmd};
use serde_json::{json, Value};

const CONVERSATION: &str = "c0a1b2c3-d4e5-4f60-8172-93a4b5c6d7e8";
const ONE_TO_ONE: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const GROUP: &str = "f0e1d2c3-b4a5-4968-8776-655443322110";
const WAIT: Duration = Duration::from_secs(10);
const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";
const FACTORY: &str = "sip:conf-factory@example.com";

/// The SIP side: the Python client run step by step (`--steps`).
struct Signalling {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Signalling {
    fn spawn(args: &[String]) -> Self {
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(workspace_root().join("tests/sip/sip_tls_client.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3 sip_tls_client.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).unwrap_or(json!({"raw": line}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the step whose text starts with `what` (an error line fails).
    fn reached(&mut self, what: &str) {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no step {what:?} ({e}); so far {:#?}", self.seen));
            self.seen.push(line.clone());
            assert!(
                line.get("error").is_none(),
                "SIP client failed: {:#?}",
                self.seen
            );
            if line["ok"].as_str().is_some_and(|s| s.starts_with(what)) {
                return;
            }
        }
    }

    fn go(&mut self) {
        writeln!(self.stdin).expect("write go-ahead");
        self.stdin.flush().expect("flush go-ahead");
    }
}

impl Drop for Signalling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_client(name: &str, pki: &Path, ca: &TestCa, ca_file: &Path, dir: &Path) -> MsrpClient {
    let (cert, key) = (
        pki.join(format!("{name}.crt")),
        pki.join(format!("{name}.key")),
    );
    ca.issue(&["127.0.0.1"], &cert, &key);
    let client = MsrpClient::spawn(
        name,
        &ClientOptions {
            listen: true,
            tls: Some((cert, key, ca_file.to_owned())),
            ..ClientOptions::default()
        },
        dir,
    );
    assert!(client.path.starts_with("msrps://"), "{}", client.path);
    client
}

fn say(client: &mut MsrpClient, id: &str, text: &str, from: &str, to: &str) {
    client.send_text(id, text, json!({"from": from, "to": to}));
}

/// The next messages at `client`, by imdn.Message-ID and body; each arrived over TLS
/// from cpmd's `msrps:` path.
fn expect(client: &mut MsrpClient, want: &[(&str, &str)]) {
    let got = client.messages(want.len(), WAIT);
    for (event, (id, text)) in got.iter().zip(want) {
        assert_eq!(imdn_id(event), *id, "{}: {got:#?}", client.name);
        assert_eq!(content(event), *text, "{}: body of {id}", client.name);
        let from_path = event["from_path"].as_str().unwrap_or_default();
        assert!(from_path.starts_with("msrps://"), "{from_path}");
    }
}

/// TLS-12: the claim with every SIP connection and every MSRP leg over TLS.
#[test]
fn claim_over_sip_tls_and_msrp_tls() {
    if !python_available() {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let (cert, key) = server_files(pki.path());
    ca.issue(&["127.0.0.1"], &cert, &key);
    let config = format!(
        "[tls]\ncertificate = {:?}\nkey = {:?}\npeer_ca = {:?}\n\
         [timers]\nbye_wait_ms = 2000\n",
        cert.display().to_string(),
        key.display().to_string(),
        ca_file.display().to_string(),
    );
    let mut cpmd = Cpmd::start_with_config(
        Some(&config),
        &[
            "--tls",
            "127.0.0.1:0",
            "--msrp",
            "127.0.0.1:0",
            "--msrps",
            "127.0.0.1:0",
        ],
    );
    let tls = cpmd
        .bound
        .iter()
        .find(|(t, _)| t == "tls")
        .expect("tls= in the ready line")
        .1;
    let dir = cpmd.dir.path().to_owned();
    let mut a1 = tls_client("alice-1to1", pki.path(), &ca, &ca_file, &dir);
    let mut a2 = tls_client("alice-group", pki.path(), &ca, &ca_file, &dir);
    let mut b1 = tls_client("bob-1to1", pki.path(), &ca, &ca_file, &dir);
    let mut b2 = tls_client("bob-group", pki.path(), &ca, &ca_file, &dir);
    let mut carol = tls_client("carol", pki.path(), &ca, &ca_file, &dir);

    let mut args: Vec<String> = [
        "claim",
        "--steps",
        "--server",
        &tls.to_string(),
        "--cafile",
        ca_file.to_str().unwrap(),
        "--conversation",
        CONVERSATION,
        "--contrib1",
        ONE_TO_ONE,
        "--contrib2",
        GROUP,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for (flag, client) in [
        ("--a1-path", &a1),
        ("--a2-path", &a2),
        ("--b1-path", &b1),
        ("--b2-path", &b2),
        ("--c-path", &carol),
    ] {
        args.extend([flag.to_owned(), client.path.clone()]);
    }
    let mut sip = Signalling::spawn(&args);

    // The 1-to-1: cpmd dialled both passive clients over TLS.
    sip.reached("one-to-one up");
    a1.wait_bound(WAIT);
    b1.wait_bound(WAIT);
    say(&mut a1, "tls-before-a0", "before", ALICE, BOB);
    say(&mut b1, "tls-before-b0", "before reply", BOB, ALICE);
    expect(&mut b1, &[("tls-before-a0", "before")]);
    expect(&mut a1, &[("tls-before-b0", "before reply")]);
    sip.go();

    // The group is up; the 1-to-1 still carries messages (the switch window).
    sip.reached("group up");
    a2.wait_bound(WAIT);
    b2.wait_bound(WAIT);
    carol.wait_bound(WAIT);
    say(&mut a1, "tls-window-a0", "in the window", ALICE, BOB);
    expect(&mut b1, &[("tls-window-a0", "in the window")]);
    sip.go();

    // Bob's BYE of the 1-to-1 relayed to alice; the group talks.
    sip.reached("bob's BYE of the 1-to-1 relayed");
    say(&mut a2, "tls-group-a0", "group hello", ALICE, FACTORY);
    say(&mut carol, "tls-group-c0", "carol here", CAROL, FACTORY);
    expect(&mut carol, &[("tls-group-a0", "group hello")]);
    expect(&mut a2, &[("tls-group-c0", "carol here")]);
    let mut at_b2: Vec<String> = b2.messages(2, WAIT).iter().map(imdn_id).collect();
    at_b2.sort();
    assert_eq!(at_b2, ["tls-group-a0", "tls-group-c0"]);
    // Recorded before the teardown (a message is acknowledged once stored).
    assert_eq!(cpmd.wait_recorded(GROUP, 2, WAIT).len(), 2);
    sip.go();

    sip.reached("group torn down");
    sip.go();
    let status = sip.child.wait().expect("SIP client exit");
    assert!(status.success(), "{:#?}", sip.seen);
    assert!(cpmd.stop().success(), "{}", cpmd.log());
    check_store(&cpmd);
}

/// The store after the claim over TLS, as `claim.rs` checks it: the group's session
/// info (its SDP the `TCP/TLS/MSRP` offer), the 1-to-1 sealed once with its three
/// messages, the group sealed with its two.
fn check_store(cpmd: &Cpmd) {
    let lines = cpmd.history();
    let info = lines
        .iter()
        .find(|l| l["kind"] == "session_info" && l["contribution_id"] == GROUP)
        .unwrap_or_else(|| panic!("no group session info in {lines:#?}"));
    assert_eq!(info["from"], ALICE);
    assert_eq!(info["to"], FACTORY);
    assert_eq!(info["date"], "Thu, 26 Nov 2026 12:30:00 GMT");
    assert_eq!(info["conversation_id"], CONVERSATION);
    assert_eq!(info["session_type"], "Ad-Hoc");
    assert!(
        info["sdp"]
            .as_str()
            .is_some_and(|s| s.contains("TCP/TLS/MSRP") && s.contains("a=path:msrps://")),
        "{info}"
    );
    assert_eq!(info["invited"], json!([BOB, CAROL]));

    let one = cpmd.sealed(ONE_TO_ONE);
    assert_eq!(
        one.len(),
        1,
        "the 1-to-1 is sealed exactly once: {lines:#?}"
    );
    let h = &one[0]["info"];
    assert_eq!(h["from"], ALICE);
    assert_eq!(h["to"], BOB);
    assert_eq!(h["conversation_id"], CONVERSATION);
    assert_eq!(h["session_type"], "1-1");
    let recorded: Vec<u64> = cpmd
        .recorded_messages(ONE_TO_ONE)
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(recorded.len(), 3, "{lines:#?}");
    assert_eq!(one[0]["messages"], json!(recorded));

    let group = cpmd.sealed(GROUP);
    assert_eq!(group.len(), 1, "the group is sealed once: {lines:#?}");
    let ids: Vec<String> = cpmd
        .recorded_messages(GROUP)
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"tls-group-a0".to_owned()), "{ids:?}");
    assert!(ids.contains(&"tls-group-c0".to_owned()), "{ids:?}");
}
