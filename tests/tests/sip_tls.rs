//! SIP over TLS with the built cpmd (specs/tls.md, TLS-8..TLS-10): an independent
//! Python `ssl` SIP client (`tests/sip/sip_tls_client.py`) registers two terminals
//! over TLS, calls, sends a pager MESSAGE and hangs up; a terminal whose TLS
//! connection is gone is reached over a TLS connection cpmd opens and verifies;
//! `openssl s_client` completes a verified handshake on the SIP TLS port.
//!
//! Peers: python3, openssl; missing ones fail under CI=true.

use std::path::Path;
use std::process::{Command, Stdio};

use cpmd_tests::test_ca::{server_files, TestCa};
use cpmd_tests::{tool_available, workspace_root, Cpmd};

/// A cpmd with `[tls]` (certificate for 127.0.0.1 from `ca`), its peer CA `peer_ca`,
/// SIP over UDP and TLS; short timers so an undeliverable request ends soon.
fn start(pki: &Path, ca: &TestCa, peer_ca: &Path) -> Cpmd {
    start_with(
        pki,
        ca,
        peer_ca,
        &["--udp", "127.0.0.1:0", "--tls", "127.0.0.1:0"],
    )
}

/// [`start`] with other listener flags.
fn start_with(pki: &Path, ca: &TestCa, peer_ca: &Path, listeners: &[&str]) -> Cpmd {
    let (cert, key) = server_files(pki);
    ca.issue(&["127.0.0.1"], &cert, &key);
    let config = format!(
        "[tls]\ncertificate = {:?}\nkey = {:?}\npeer_ca = {:?}\n\
         [timers]\nt1_ms = 100\nbye_wait_ms = 1000\n",
        cert.display().to_string(),
        key.display().to_string(),
        peer_ca.display().to_string(),
    );
    Cpmd::start_with_config(Some(&config), listeners)
}

fn tls_addr(cpmd: &Cpmd) -> std::net::SocketAddr {
    cpmd.bound
        .iter()
        .find(|(t, _)| t == "tls")
        .map(|(_, a)| *a)
        .expect("tls= in the ready line")
}

/// Runs the Python SIP TLS client; returns its stdout, asserting success.
fn client(args: &[&str]) -> String {
    let script = workspace_root().join("tests/sip/sip_tls_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// TLS-8: register, call, pager MESSAGE and BYE over TLS, every request cpmd sends
/// naming `SIP/2.0/TLS` and `transport=tls`; the ready line names the listener;
/// `openssl s_client` verifies cpmd's certificate on it; TLS 1.1 is refused (TLS-1).
#[test]
fn a_call_and_a_message_over_sip_tls() {
    if !(tool_available("python3", &["--version"], "python3")
        && tool_available("openssl", &["version"], "openssl"))
    {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let mut cpmd = start(pki.path(), &ca, &ca_file);
    let kinds: Vec<&str> = cpmd.bound.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["udp", "tls", "msrp", "imap", "metrics"]);
    let tls = tls_addr(&cpmd);

    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &tls.to_string(),
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(&ca_file)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    let old = Command::new("openssl")
        .args(["s_client", "-tls1_1", "-connect", &tls.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(!old.status.success(), "TLS 1.1 handshake succeeded");

    let ca_arg = ca_file.to_str().unwrap();
    let out = client(&["call", "--server", &tls.to_string(), "--cafile", ca_arg]);
    assert!(out.contains("BYE relayed and answered"), "{out}");
    assert!(
        out.contains("pager MESSAGE delivered and answered"),
        "{out}"
    );
    cpmd.stop();
    let history = cpmd.history();
    assert!(
        history
            .iter()
            .any(|l| l["kind"] == "standalone" && l["message_id"] == "tls-pm-1"),
        "the pager MESSAGE is stored: {history:?}"
    );
}

/// TLS-9, TLS-10: a terminal whose TLS connection is gone is reached over a TLS
/// connection cpmd opens to it, verified against `[tls] peer_ca`; with a certificate
/// from another CA nothing is delivered.
#[test]
fn a_terminal_whose_tls_connection_is_gone_is_reached_over_verified_tls() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let cpmd = start(pki.path(), &ca, &ca_file);
    let tls = tls_addr(&cpmd).to_string();
    let ca_arg = ca_file.to_str().unwrap();

    // Bob's certificate from the peer CA: delivered.
    let (bob_cert, bob_key) = (pki.path().join("bob.crt"), pki.path().join("bob.key"));
    ca.issue(&["127.0.0.1"], &bob_cert, &bob_key);
    let out = client(&[
        "reconnect",
        "--server",
        &tls,
        "--cafile",
        ca_arg,
        "--bob-cert",
        bob_cert.to_str().unwrap(),
        "--bob-key",
        bob_key.to_str().unwrap(),
    ]);
    assert!(out.contains("cpmd opened a TLS connection to bob"), "{out}");

    // Bob's certificate from a CA cpmd does not trust: refused, not delivered (a
    // fresh cpmd, so the binding of the run above plays no part).
    drop(cpmd);
    let cpmd = start(pki.path(), &ca, &ca_file);
    let tls = tls_addr(&cpmd).to_string();
    let rogue = TestCa::new();
    let (bad_cert, bad_key) = (pki.path().join("bad.crt"), pki.path().join("bad.key"));
    rogue.issue(&["127.0.0.1"], &bad_cert, &bad_key);
    let out = client(&[
        "reconnect",
        "--server",
        &tls,
        "--cafile",
        ca_arg,
        "--bob-cert",
        bad_cert.to_str().unwrap(),
        "--bob-key",
        bad_key.to_str().unwrap(),
        "--expect-delivery",
        "no",
    ]);
    assert!(out.contains("no delivery to an unverified bob"), "{out}");
    assert!(
        cpmd.log().contains("outbound tls handshake failed"),
        "{}",
        cpmd.log()
    );
}

/// TLS-12: one session with a TLS leg and a TCP leg on SIP. Alice registers and calls
/// over TLS, bob over plain TCP: every request cpmd sends bob says `SIP/2.0/TCP`
/// with no `transport=tls`, alice's answers keep `transport=tls`; INVITE, ACK, a pager
/// MESSAGE and BYE cross between the two transports.
#[test]
fn a_call_between_a_tls_leg_and_a_tcp_leg() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let mut cpmd = start_with(
        pki.path(),
        &ca,
        &ca_file,
        &["--tcp", "127.0.0.1:0", "--tls", "127.0.0.1:0"],
    );
    let tls = tls_addr(&cpmd).to_string();
    let tcp = cpmd.addr(cpmd_tests::Transport::Tcp).to_string();
    let out = client(&[
        "call",
        "--server",
        &tls,
        "--cafile",
        ca_file.to_str().unwrap(),
        "--bob-tcp",
        &tcp,
    ]);
    assert!(out.contains("bob registered over TCP"), "{out}");
    assert!(out.contains("alice registered over TLS"), "{out}");
    assert!(out.contains("BYE relayed and answered"), "{out}");
    assert!(
        out.contains("pager MESSAGE delivered and answered"),
        "{out}"
    );
    cpmd.stop();
    assert!(
        cpmd.history()
            .iter()
            .any(|l| l["kind"] == "standalone" && l["message_id"] == "tls-pm-1"),
        "the pager MESSAGE is stored"
    );
}

/// TLS-13: `sips:` URIs. Over TLS, alice and bob register, call, message and hang up
/// with `sips:` Request-URI, From, To and Contact, and every Contact cpmd sends them
/// is `sips:` (no `transport=`); over plain TCP a `sips:` REGISTER and INVITE get 480
/// with `Warning: 381`.
#[test]
fn sips_uris_over_tls_and_refused_over_tcp() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let mut cpmd = start_with(
        pki.path(),
        &ca,
        &ca_file,
        &["--tcp", "127.0.0.1:0", "--tls", "127.0.0.1:0"],
    );
    let tls = tls_addr(&cpmd).to_string();
    let tcp = cpmd.addr(cpmd_tests::Transport::Tcp).to_string();
    let ca_arg = ca_file.to_str().unwrap();
    let out = client(&["call", "--sips", "--server", &tls, "--cafile", ca_arg]);
    assert!(
        out.contains("sips: call answered with a sips: Contact"),
        "{out}"
    );
    assert!(out.contains("BYE relayed and answered"), "{out}");
    let out = client(&[
        "sips-refused",
        "--server",
        &tls,
        "--cafile",
        ca_arg,
        "--tcp",
        &tcp,
    ]);
    assert!(
        out.contains("sips: REGISTER over TCP refused: 480"),
        "{out}"
    );
    assert!(out.contains("sips: INVITE over TCP refused: 480"), "{out}");
    cpmd.stop();
    // The sips: pager MESSAGE is alice's to bob, stored like a sip: one.
    let stored: Vec<_> = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "standalone" && l["message_id"] == "tls-pm-1")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["sender"], "sip:alice@example.com", "{stored:?}");
    assert_eq!(
        stored[0]["recipients"],
        serde_json::json!(["sip:bob@example.com"]),
        "{stored:?}"
    );
}

/// TLS-14: SIGHUP rereads `[tls] peer_ca`. Bob's certificate comes from a CA that
/// `peer_ca` does not name: cpmd refuses the TLS connection it opens to him. The
/// operator puts that CA in the file and sends SIGHUP: the next connection to bob is
/// verified and carries the MESSAGE.
#[test]
fn a_sighup_rereads_peer_ca() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let peer_ca = pki.path().join("peer-ca.crt");
    ca.write(&peer_ca);
    let cpmd = start(pki.path(), &ca, &peer_ca);
    let tls = tls_addr(&cpmd).to_string();
    let ca_arg = ca_file.to_str().unwrap();
    let other = TestCa::new();
    let (bob_cert, bob_key) = (pki.path().join("bob.crt"), pki.path().join("bob.key"));
    other.issue(&["127.0.0.1"], &bob_cert, &bob_key);
    let bob = [
        "--bob-cert",
        bob_cert.to_str().unwrap(),
        "--bob-key",
        bob_key.to_str().unwrap(),
    ];
    let mut args = vec!["reconnect", "--server", &tls, "--cafile", ca_arg];
    args.extend(bob);
    args.extend(["--expect-delivery", "no"]);
    let out = client(&args);
    assert!(out.contains("no delivery to an unverified bob"), "{out}");

    other.write(&peer_ca);
    cpmd.hangup();
    assert!(
        cpmd.wait_log(
            "SIGHUP: peer CA reloaded",
            std::time::Duration::from_secs(10)
        ),
        "{}",
        cpmd.log()
    );
    let mut args = vec!["reconnect", "--server", &tls, "--cafile", ca_arg];
    args.extend(bob);
    let out = client(&args);
    assert!(out.contains("cpmd opened a TLS connection to bob"), "{out}");
}

/// TLS-15 (RFC 5922 §7.2) end to end: bob registers over TLS with a Contact whose host
/// is the DNS name `bob.test`, then his connection goes. cpmd reopens it to where he
/// registered from and verifies `bob.test`: a certificate for that name is accepted,
/// one for his IP address only is refused (nothing delivered).
#[test]
fn a_dns_name_contact_is_verified_by_that_name_end_to_end() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let ca_arg = ca_file.to_str().unwrap().to_owned();
    for (names, delivered) in [(["bob.test"], true), (["127.0.0.1"], false)] {
        let cpmd = start(pki.path(), &ca, &ca_file);
        let tls = tls_addr(&cpmd).to_string();
        let (cert, key) = (pki.path().join("bob.crt"), pki.path().join("bob.key"));
        ca.issue(&names, &cert, &key);
        let mut args = vec![
            "reconnect",
            "--server",
            &tls,
            "--cafile",
            &ca_arg,
            "--bob-contact-host",
            "bob.test",
            "--bob-cert",
            cert.to_str().unwrap(),
            "--bob-key",
            key.to_str().unwrap(),
        ];
        if !delivered {
            args.extend(["--expect-delivery", "no"]);
        }
        let out = client(&args);
        if delivered {
            assert!(out.contains("cpmd opened a TLS connection to bob"), "{out}");
        } else {
            assert!(out.contains("no delivery to an unverified bob"), "{out}");
            assert!(
                cpmd.log().contains("outbound tls handshake failed"),
                "{}",
                cpmd.log()
            );
        }
    }
}
