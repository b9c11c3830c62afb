//! IMAP over TLS against third-party clients, with certificates made at test time:
//! Python's `imaplib` (`tests/imap/imaps_client.py`, implicit TLS and STARTTLS),
//! `curl imaps://` and `imap:// --ssl-reqd`, `openssl s_client`. Also: LOGINDISABLED
//! before STARTTLS, the loopback exception, and certificates a verifying client
//! must refuse (wrong host, expired). Invariants: specs/tls.md.
//!
//! A missing python3, curl or openssl fails these tests under `CI=true` and skips
//! them loudly otherwise.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use serde_json::Value;

use super::tests::{seeded, users};
use super::{ImapListener, Mode, Settings};
use crate::mailstore::MailStore;
use crate::tls::test_pki::Ca;
use crate::tls::{Tls, TlsFiles};

/// Whether `tool` runs (`tool version_arg`); under CI=true a missing tool fails.
fn available(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} not found; required under CI=true"
        );
        eprintln!("SKIPPED: {tool} not found");
    }
    ok
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and the CA's file.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    ca_file: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let ca_file = dir.path().join("ca.crt");
        ca.write(&ca_file);
        Self { dir, ca, ca_file }
    }

    fn tls(&self, names: &[&str]) -> Tls {
        let (certificate, key) = self.ca.leaf(self.dir.path(), "server", names);
        Tls::load(TlsFiles {
            certificate,
            key,
            client_ca: None,
        })
        .unwrap()
    }

    fn ca(&self) -> String {
        self.ca_file.display().to_string()
    }
}

async fn start(mode: Mode) -> SocketAddr {
    let l = ImapListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = l.local;
    l.spawn_with(
        seeded() as Arc<dyn MailStore>,
        users(),
        Settings::default(),
        mode,
    );
    addr
}

/// Runs a client off the async thread (the server shares it).
async fn run(program: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("client runs")
    })
    .await
    .unwrap()
}

async fn imaplib(mode: &str, addr: SocketAddr, ca: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/imap/imaps_client.py");
    let args = vec![
        script.display().to_string(),
        mode.to_owned(),
        addr.ip().to_string(),
        addr.port().to_string(),
        ca.to_owned(),
        "alice".to_owned(),
        "a-pass".to_owned(),
    ];
    let out = run("python3", args).await;
    assert!(
        out.status.success(),
        "imaps client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

async fn curl(args: &[&str]) -> Output {
    let mut all: Vec<String> = ["-sS", "--max-time", "10", "-u", "alice:a-pass"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    run("curl", all).await
}

/// `openssl s_client` to `addr` verifying against `ca`; extra flags after.
async fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "s_client".into(),
        "-connect".into(),
        addr.to_string(),
        "-CAfile".into(),
        ca.display().to_string(),
        "-verify_return_error".into(),
        "-verify_ip".into(),
        addr.ip().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run("openssl", args).await
}

#[tokio::test]
async fn implicit_tls_serves_imaplib_curl_and_openssl() {
    if !(available("python3", "--version")
        && available("curl", "--version")
        && available("openssl", "version"))
    {
        return;
    }
    let pki = Pki::new();
    let addr = start(Mode::Implicit(pki.tls(&["127.0.0.1", "localhost"]))).await;

    let r = imaplib("implicit", addr, &pki.ca()).await;
    assert!(r.get("tls_error").is_none(), "{r}");
    let caps = strings(&r["capability"]);
    assert!(caps.contains(&"AUTH=PLAIN"), "{caps:?}");
    assert!(
        !caps.contains(&"STARTTLS") && !caps.contains(&"LOGINDISABLED"),
        "TLS-4: {caps:?}"
    );
    assert_eq!(r["login"], "OK", "{r}");
    assert!(r["list"].as_u64().unwrap() > 0, "{r}");

    let url = format!("imaps://{addr}/");
    let out = curl(&["--cacert", &pki.ca(), &url]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Default"));

    // openssl's own report of the handshake (-brief, on stderr); the greeting over
    // TLS is what imaplib and curl read above.
    let out = s_client(addr, &pki.ca_file, &["-brief"]).await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
    assert!(text.contains("Protocol version: TLSv1.3"), "{text}");

    // TLS-1: TLS 1.2 is accepted, nothing below it.
    let out = s_client(addr, &pki.ca_file, &["-brief", "-tls1_2"]).await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Protocol version: TLSv1.2"), "{text}");
    // SECLEVEL=0: openssl itself would otherwise refuse to offer TLS 1.1.
    let out = s_client(
        addr,
        &pki.ca_file,
        &["-brief", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "TLS 1.1 must fail: {text}");
    assert!(
        !text.contains("Protocol version"),
        "TLS 1.1 must fail: {text}"
    );
}

#[tokio::test]
async fn starttls_refuses_login_before_tls_and_accepts_it_after() {
    if !(available("python3", "--version")
        && available("curl", "--version")
        && available("openssl", "version"))
    {
        return;
    }
    let pki = Pki::new();
    let mode = Mode::StartTls {
        tls: pki.tls(&["127.0.0.1"]),
        plaintext_login_on_loopback: false,
    };
    let addr = start(mode).await;

    let r = imaplib("starttls", addr, &pki.ca()).await;
    assert!(r.get("tls_error").is_none(), "{r}");
    let before = strings(&r["capability_before"]);
    assert!(before.contains(&"STARTTLS"), "{before:?}");
    assert!(before.contains(&"LOGINDISABLED"), "TLS-5: {before:?}");
    assert!(!before.contains(&"AUTH=PLAIN"), "TLS-5: {before:?}");
    assert!(
        r["login_before"]
            .as_str()
            .unwrap()
            .contains("PRIVACYREQUIRED"),
        "TLS-5: {r}"
    );
    let after = strings(&r["capability"]);
    assert!(
        after.contains(&"AUTH=PLAIN") && !after.contains(&"STARTTLS"),
        "{after:?}"
    );
    assert!(!after.contains(&"LOGINDISABLED"), "{after:?}");
    assert_eq!(r["login"], "OK", "{r}");

    // curl: required STARTTLS works; plain text login does not.
    let url = format!("imap://{addr}/");
    let out = curl(&["--ssl-reqd", "--cacert", &pki.ca(), &url]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Default"));
    let out = curl(&[&url]).await;
    assert!(!out.status.success(), "TLS-5: plain-text login must fail");

    let out = s_client(addr, &pki.ca_file, &["-starttls", "imap", "-brief"]).await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("Verification: OK"),
        "{text}"
    );
}

#[tokio::test]
async fn plaintext_login_from_loopback_when_configured() {
    if !available("curl", "--version") {
        return;
    }
    let pki = Pki::new();
    let mode = Mode::StartTls {
        tls: pki.tls(&["127.0.0.1"]),
        plaintext_login_on_loopback: true,
    };
    let addr = start(mode).await;
    let out = curl(&[&format!("imap://{addr}/")]).await;
    assert!(
        out.status.success(),
        "TLS-6: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Default"));
}

#[tokio::test]
async fn verifying_clients_refuse_a_wrong_host_or_expired_certificate() {
    if !(available("python3", "--version") && available("curl", "--version")) {
        return;
    }
    let pki = Pki::new();
    let wrong = start(Mode::Implicit(pki.tls(&["elsewhere.example"]))).await;
    let (cert, key) = pki
        .ca
        .expired_leaf(pki.dir.path(), "expired", &["127.0.0.1"]);
    let expired = Tls::load(TlsFiles {
        certificate: cert,
        key,
        client_ca: None,
    })
    .unwrap();
    let expired = start(Mode::Implicit(expired)).await;
    for (addr, why) in [(wrong, "match"), (expired, "expired")] {
        let r = imaplib("implicit", addr, &pki.ca()).await;
        let err = r["tls_error"]
            .as_str()
            .unwrap_or_else(|| panic!("{why}: {r}"));
        assert!(err.contains("CERTIFICATE_VERIFY_FAILED"), "{why}: {err}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(r.get("login").is_none(), "{r}");
        let out = curl(&["--cacert", &pki.ca(), &format!("imaps://{addr}/")]).await;
        // 60: peer certificate cannot be authenticated.
        assert_eq!(
            out.status.code(),
            Some(60),
            "{why}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// TLS-4: input pipelined after STARTTLS (a command injected before the handshake)
/// is never executed, and no second greeting comes after the handshake.
#[tokio::test]
async fn input_sent_before_the_handshake_is_dropped() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let pki = Pki::new();
    let mode = Mode::StartTls {
        tls: pki.tls(&["127.0.0.1"]),
        plaintext_login_on_loopback: true,
    };
    let addr = start(mode).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut plain = BufReader::new(tcp);
    let mut line = String::new();
    plain.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("* OK"), "{line}");
    plain
        .get_mut()
        .write_all(b"a1 STARTTLS\r\na2 LOGIN alice a-pass\r\n")
        .await
        .unwrap();
    line.clear();
    plain.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("a1 OK"), "{line}");
    assert!(plain.buffer().is_empty(), "nothing after the OK before TLS");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = pki
        .ca
        .client(None)
        .connect(name, plain.into_inner())
        .await
        .unwrap();
    let mut tls = BufReader::new(tls);
    tls.get_mut().write_all(b"a3 CAPABILITY\r\n").await.unwrap();
    let mut seen = Vec::new();
    loop {
        line.clear();
        tls.read_line(&mut line).await.unwrap();
        seen.push(line.clone());
        if line.starts_with("a3 ") {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "one CAPABILITY line, then a3's status: {seen:?}"
    );
    assert!(seen[0].starts_with("* CAPABILITY"), "no greeting: {seen:?}");
    assert!(seen[1].starts_with("a3 OK"), "{seen:?}");
    // a2 never ran: the session is not authenticated.
    tls.get_mut()
        .write_all(b"a4 LIST \"\" \"*\"\r\n")
        .await
        .unwrap();
    line.clear();
    tls.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("a4 BAD"), "{line}");
}
