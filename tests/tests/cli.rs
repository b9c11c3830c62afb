//! The command line: `--help`, and a configuration file whose listeners use port 0
//! (the ready line reports the bound addresses; flags override the file); JSON logs
//! (`--log-format json`, `[log] format`) with one `session ended` line per session;
//! `--check-config`.

use std::net::SocketAddr;
use std::process::Command;

use cpmd_tests::{
    cpmd_bin, free_port, sipp_available, sipp_keys, workspace_root, Cpmd, Sipp, SippRun, Transport,
};

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
        "--log-format",
        "--check-config",
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
    // IMAP, then metrics (port 0 too: the first SIP listener asks for port 0).
    assert_eq!(kinds, ["udp", "tcp", "msrp", "imap", "metrics"]);
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
        ["tcp", "udp", "msrp", "imap", "metrics"],
        "flags replace [listen], in command-line order, msrp, imap, metrics last"
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

/// Every line of `log` as JSON, each with the fields log shippers rely on.
fn json_log_lines(log: &str) -> Vec<serde_json::Value> {
    assert!(!log.is_empty(), "no log at all");
    log.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            assert!(v["level"].is_string(), "no level: {line}");
            assert!(v["fields"]["message"].is_string(), "no message: {line}");
            assert!(v["target"].is_string(), "no target: {line}");
            assert!(v["timestamp"].is_string(), "no timestamp: {line}");
            v
        })
        .collect()
}

/// `--log-format json` and `[log] format = "json"`: every stderr line is one JSON
/// object with `level`, `fields.message`, `target` and `timestamp`.
#[test]
fn json_logs_one_object_per_line() {
    let by_flag = Cpmd::start(&["--udp", "127.0.0.1:0", "--log-format", "json"]);
    let by_file = Cpmd::start_with_config(
        Some("[log]\nformat = \"json\"\n"),
        &["--udp", "127.0.0.1:0"],
    );
    for mut cpmd in [by_flag, by_file] {
        assert!(cpmd.stop().success());
        let lines = json_log_lines(&cpmd.log());
        let messages: Vec<&str> = lines
            .iter()
            .filter_map(|l| l["fields"]["message"].as_str())
            .collect();
        for expected in ["starting", "message store open", "stopped"] {
            assert!(
                messages.contains(&expected),
                "{expected} missing: {messages:?}"
            );
        }
    }
    // The flag wins over the file.
    let mut text = Cpmd::start_with_config(
        Some("[log]\nformat = \"json\"\n"),
        &["--udp", "127.0.0.1:0", "--log-format", "text"],
    );
    assert!(text.stop().success());
    let log = text.log();
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "{log}"
    );
}

/// One `session ended` line per session, at info, naming its Conversation-ID and
/// Contribution-ID, its kind and outcome: a sipp 1-to-1 (A calls B, A hangs up).
#[test]
fn one_session_ended_line_per_session() {
    const CONVERSATION: &str = "6b1d0c2e-7f3a-4e59-8c1d-2e3f4a5b6c7d";
    const CONTRIBUTION: &str = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b";
    if !sipp_available() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--log-format", "json"]);
    let server = cpmd.addr(Transport::Udp);
    let dir = cpmd.dir.path().to_path_buf();
    let address = || SocketAddr::new(server.ip(), free_port(server.ip()));
    let sipp = |scenario: &str, local: SocketAddr, extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(sipp_keys(&[
            ("conv", CONVERSATION),
            ("contrib1", CONTRIBUTION),
            ("contrib2", "unused"),
        ]));
        let run = SippRun {
            server,
            transport: Transport::Udp,
            local,
            args,
        };
        Sipp::spawn(scenario, &run, &dir)
    };
    let (a, b) = (address(), address());
    sipp("register.xml", b, &["-s", "bob", "-m", "1"]).assert_success();
    let b_uas = sipp("b_answer_bye.xml", b, &["-m", "1"]);
    sipp("a_call_bye.xml", a, &["-m", "1"]).assert_success();
    b_uas.assert_success();
    assert!(cpmd.stop().success());
    assert_eq!(cpmd.sealed(CONTRIBUTION).len(), 1, "{:#?}", cpmd.history());
    let lines = json_log_lines(&cpmd.log());
    let ended: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "session ended")
        .collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    let end = ended[0];
    assert_eq!(end["level"], "INFO");
    assert_eq!(end["fields"]["contribution_id"], CONTRIBUTION);
    assert_eq!(end["fields"]["conversation_id"], CONVERSATION);
    assert_eq!(end["fields"]["kind"], "1-to-1");
    assert_eq!(end["fields"]["outcome"], "sealed");
    assert!(end["fields"]["messages"].is_u64(), "{end}");
}

/// `--check-config`: a valid file and flags print `configuration ok` and exit 0
/// without binding (the address given is taken by a socket the test holds); a bad
/// value exits 2 naming what is wrong; nothing is written to the data directory.
#[test]
fn check_config_validates_without_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").to_string();
    let data = dir.path().join("data");
    let check = |config: &str| {
        let file = dir.path().join("cpmd.toml");
        std::fs::write(&file, config).expect("write config");
        Command::new(cpmd_bin())
            .args(["--check-config", "-c"])
            .arg(&file)
            .args(["--udp", &taken, "--data-dir"])
            .arg(&data)
            .output()
            .expect("run cpmd --check-config")
    };
    let ok = check("domain = \"example.org\"\n[log]\nformat = \"json\"\n");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "configuration ok\n");
    assert!(!data.exists(), "--check-config created the data directory");
    // The shipped example, as is (its listeners are the default ports: not bound).
    let example = Command::new(cpmd_bin())
        .args(["--check-config", "--config"])
        .arg(workspace_root().join("cpmd.example.toml"))
        .output()
        .expect("run cpmd --check-config");
    assert_eq!(example.status.code(), Some(0), "{example:?}");

    for (config, expected) in [
        ("[log]\nformat = \"xml\"\n", "format"),
        ("store = \"mysql://x\"\n", "mysql"),
        (
            "[tls]\ncertificate = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
            "/nonexistent/cert.pem",
        ),
        (
            "[listen]\nimaps = [\"127.0.0.1:0\"]\n",
            "needs a [tls] certificate",
        ),
        ("[msrp]\nchunk_size = 0\n", "chunk_size"),
        ("[push]\nurl = \"https://gw.example/p\"\n", "[push] url"),
    ] {
        let bad = check(config);
        let err = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(2), "{config}: {bad:?}");
        assert!(bad.stdout.is_empty(), "{config}: {bad:?}");
        assert!(err.contains(expected), "{config}: {expected} not in {err}");
    }
}
