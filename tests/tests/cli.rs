//! The command line: `--help`, and a configuration file whose listeners use port 0
//! (the ready line reports the bound addresses; flags override the file).

use std::process::Command;

use cpmd_tests::{cpmd_bin, Cpmd, Transport};

#[test]
fn help_lists_the_flags() {
    let out = Command::new(cpmd_bin())
        .arg("--help")
        .output()
        .expect("run cpmd --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--udp",
        "--tcp",
        "--msrp",
        "--data-dir",
        "--ready-file",
        "--domain",
        "--imap",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
}

#[test]
fn config_file_listeners_and_flag_override() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cpmd.toml");
    std::fs::write(
        &file,
        "domain = \"example.org\"\n[listen]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n",
    )
    .expect("write config");
    let config = file.to_str().expect("utf-8 path");
    let mut from_file = Cpmd::start(&["--config", config]);
    let kinds: Vec<&str> = from_file.bound.iter().map(|(t, _)| t.as_str()).collect();
    // MSRP: one listener by default, on the first SIP listener's IP, port 0 here;
    // IMAP last.
    assert_eq!(kinds, ["udp", "tcp", "msrp", "imap"]);
    assert_ne!(from_file.addr(Transport::Udp).port(), 0);
    assert!(from_file.stop().success());

    let mut overridden = Cpmd::start(&[
        "--config",
        config,
        "--tcp",
        "[::1]:0",
        "--udp",
        "127.0.0.1:0",
    ]);
    let kinds: Vec<&str> = overridden.bound.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        ["tcp", "udp", "msrp", "imap"],
        "flags replace [listen], in command-line order, msrp then imap last"
    );
    assert!(overridden.addr(Transport::Tcp).is_ipv6());
    assert!(overridden.stop().success());
}

#[test]
fn trace_input_records_each_datagram_with_its_flow() {
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--trace-input"]);
    let server = cpmd.addr(Transport::Udp);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let me = sock.local_addr().expect("addr");
    let options = format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKtrace1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=t1\r\nTo: <sip:example.com>\r\n\
         Call-ID: trace-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(options.as_bytes(), server).expect("send");
    let mut buf = [0u8; 4096];
    sock.recv_from(&mut buf).expect("a reply to OPTIONS");
    sock.send_to(&[0xff, 0xfe, b'\r', b'\n'], server)
        .expect("send junk");
    // The junk gets no answer; a second OPTIONS behind it does, and the event loop
    // handles one socket's datagrams in order, so once that answer is here the junk
    // was recorded too (stopping right after the junk raced with its receipt).
    let second = options
        .replace("trace1", "trace2")
        .replace("trace-1", "trace-2");
    sock.send_to(second.as_bytes(), server).expect("send");
    sock.recv_from(&mut buf)
        .expect("a reply to the second OPTIONS");
    assert!(cpmd.stop().success());
    let text = std::fs::read_to_string(cpmd.dir.path().join("data/input-trace.jsonl"))
        .expect("input-trace.jsonl");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    // The start line: the core configuration (what a replay needs to rebuild it).
    let start = &lines[0];
    assert_eq!(start["kind"], "start", "{text}");
    assert_eq!(start["instance"], 0);
    let key = start["key"].as_str().expect("the token key");
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert_eq!(start["domain"], "example.com");
    assert_eq!(start["advertised"], server.to_string());
    assert_eq!(start["conference_factory_user"], "conf-factory");
    assert_eq!(start["users"], serde_json::json!([]));
    assert_eq!(start["auth"], false);
    assert!(start.get("passwords").is_none());
    assert_eq!(lines[1]["kind"], "bytes");
    assert_eq!(lines[1]["transport"], "udp");
    assert_eq!(lines[1]["peer"], me.to_string());
    assert_eq!(lines[1]["text"], options);
    assert!(lines[1]["t_ms"].is_u64());
    assert_eq!(lines[2]["bytes"], serde_json::json!([255, 254, 13, 10]));
    assert_eq!(lines[3]["text"], second);
}

/// SEC-8: the data directory is 0700; the SQLite database, its WAL and SHM files and
/// the input trace (message bodies, the token key) are 0600, whatever the umask.
#[test]
fn data_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--trace-input"]);
    let data = cpmd.dir.path().join("data");
    let mode = |name: &str| {
        let path = data.join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        meta.permissions().mode() & 0o777
    };
    // While running: the WAL and SHM files exist next to the database.
    assert_eq!(mode(""), 0o700, "data directory");
    for file in ["cpmd.db", "cpmd.db-wal", "cpmd.db-shm", "input-trace.jsonl"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    assert!(cpmd.stop().success());
    assert_eq!(mode("cpmd.db"), 0o600);
}

/// SEC-5: with digest authentication off, cpmd says at start, in one warning line,
/// that it trusts source addresses; with it on, it does not.
#[test]
fn auth_off_is_announced_once() {
    let needle = "digest authentication is off: the server trusts source addresses";
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    assert!(cpmd.stop().success());
    let log = cpmd.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);

    let mut cpmd = Cpmd::start_with_config(
        Some("[auth]\nenabled = true\n[auth.passwords]\nalice = \"pw\"\n"),
        &["--udp", "127.0.0.1:0"],
    );
    assert!(cpmd.stop().success());
    assert!(!cpmd.log().contains(needle));
}
