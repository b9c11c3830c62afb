//! The built cpmd with `[tls]`: IMAPS on `--imaps` in the ready line, a third-party
//! client reading the real store over TLS, and the certificate reloaded on SIGHUP
//! while a TLS connection opened before stays up (specs/tls.md, TLS-2, TLS-3).
//!
//! Peers: `openssl s_client`, Python's `ssl`, `curl`; missing ones fail under CI=true.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use cpmd_tests::test_ca::{pem_body, server_files, TestCa};
use cpmd_tests::{tool_available, Cpmd};

/// The certificate a new handshake with `addr` gets (Python's `ssl`), as PEM.
fn presented(addr: SocketAddr) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import ssl,sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2]))))",
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn imaps_serves_the_store_and_sighup_reloads_the_certificate() {
    if !(tool_available("openssl", &["version"], "openssl")
        && tool_available("python3", &["--version"], "python3")
        && tool_available("curl", &["--version"], "curl"))
    {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = pki.path().join("ca.crt");
    ca.write(&ca_file);
    let (cert, key) = server_files(pki.path());
    let first = ca.issue(&["127.0.0.1"], &cert, &key);
    let config = format!(
        "[tls]\ncertificate = {:?}\nkey = {:?}\n[auth.passwords]\nalice = \"a-pass\"\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let cpmd = Cpmd::start_with_config(
        Some(&config),
        &["--udp", "127.0.0.1:0", "--imaps", "127.0.0.1:0"],
    );
    let kinds: Vec<&str> = cpmd.bound.iter().map(|(t, _)| t.as_str()).collect();
    // With [tls], a SIP-over-TLS listener comes by default (port 0 like --udp).
    assert_eq!(kinds, ["udp", "tls", "msrp", "imap", "imaps", "metrics"]);
    let imaps = cpmd.bound[4].1;
    assert_eq!(pem_body(&presented(imaps)), pem_body(&first));

    // A third-party client reads the real store over verified TLS.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-u", "alice:a-pass", "--cacert"])
        .arg(&ca_file)
        .arg(format!("imaps://{imaps}/"))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A TLS connection established before the reload (openssl s_client).
    let mut before = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-crlf",
            "-connect",
            &imaps.to_string(),
            "-CAfile",
        ])
        .arg(&ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    let mut stdout = before.stdout.take().unwrap();
    let mut greeting = [0u8; 4];
    stdout.read_exact(&mut greeting).expect("greeting over TLS");
    assert_eq!(&greeting, b"* OK");

    // Renew: new files, SIGHUP; new handshakes get the new certificate (TLS-2).
    let second = ca.issue(&["127.0.0.1"], &cert, &key);
    assert_ne!(pem_body(&first), pem_body(&second));
    cpmd.hangup();
    assert!(
        cpmd.wait_log("TLS certificate reloaded", Duration::from_secs(10)),
        "no reload logged\n{}",
        cpmd.log()
    );
    assert_eq!(pem_body(&presented(imaps)), pem_body(&second));

    // A broken key file: the reload fails, the certificate in force stays (TLS-3).
    std::fs::write(&key, "not a key").unwrap();
    cpmd.hangup();
    assert!(
        cpmd.wait_log("TLS reload failed", Duration::from_secs(10)),
        "no failed reload logged\n{}",
        cpmd.log()
    );
    assert_eq!(pem_body(&presented(imaps)), pem_body(&second));

    // The connection from before both reloads still works.
    let mut stdin = before.stdin.take().unwrap();
    stdin
        .write_all(b"a1 LOGIN alice a-pass\na2 LOGOUT\n")
        .unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let _ = before.wait();
    assert!(rest.contains("a1 OK"), "{rest}");
    assert!(rest.contains("a2 OK"), "{rest}");
}

#[test]
fn imaps_without_tls_configured_refuses_to_start() {
    let out = Command::new(cpmd_tests::cpmd_bin())
        .args([
            "--udp",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--imaps",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .expect("cpmd runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[listen] imaps needs a [tls]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
