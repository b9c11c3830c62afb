//! The claim's history read with third-party IMAP clients from a real `cpmd`: sipp
//! plays A, B and C through the claim flow (1-to-1 extended to a group, the 1-to-1
//! sealed); then Python's `imaplib` (`tests/imap/imaplib_client.py`) and
//! `curl imap://` log in as the users and check the folder layout, the session info
//! objects' headers and SDP, UID order, CHANGEDSINCE, IDLE pushes (a pager MESSAGE
//! sent over SIP while A idles, a flag change), that C cannot see the 1-to-1, and
//! that UIDVALIDITY survives a restart (specs/imap.md IMAP-1…IMAP-5).
//!
//! On SQLite (the default) and on PostgreSQL. sipp, python3, curl (and
//! `CPMD_TEST_PG`) are required under `CI=true`; elsewhere the test is
//! skipped with a message when one is missing.

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use cpmd_tests::{
    free_port, sipp_available, tool_available, workspace_root, Cpmd, Sipp, SippRun, Transport,
};
use serde_json::Value;

const CONVERSATION: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const ONE_TO_ONE: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
const GROUP: &str = "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77";

const CONFIG: &str = "[auth.passwords]\nalice = \"a-pass\"\nbob = \"b-pass\"\ncarol = \"c-pass\"\n";

fn keys() -> Vec<String> {
    [
        "conv",
        CONVERSATION,
        "contrib1",
        ONE_TO_ONE,
        "contrib2",
        GROUP,
    ]
    .chunks(2)
    .flat_map(|kv| ["-key".to_owned(), kv[0].to_owned(), kv[1].to_owned()])
    .collect()
}

/// The claim flow over UDP on 127.0.0.1 against `cpmd`.
fn claim_flow(cpmd: &Cpmd) {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let server = cpmd.addr(Transport::Udp);
    let dir = cpmd.dir.path().to_path_buf();
    let at = |port| SocketAddr::new(ip, port);
    let (a, b, c) = (at(free_port(ip)), at(free_port(ip)), at(free_port(ip)));
    let sipp = |local, extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(keys());
        SippRun {
            server,
            transport: Transport::Udp,
            local,
            args,
        }
    };
    Sipp::spawn("register.xml", &sipp(b, &["-s", "bob", "-m", "1"]), &dir).assert_success();
    Sipp::spawn("register.xml", &sipp(c, &["-s", "carol", "-m", "1"]), &dir).assert_success();
    let b_uas = Sipp::spawn("b_claim.xml", &sipp(b, &["-m", "2"]), &dir);
    let c_uas = Sipp::spawn("c_claim.xml", &sipp(c, &["-m", "1"]), &dir);
    std::thread::sleep(Duration::from_millis(300));
    Sipp::spawn("a_claim_session_replaces.xml", &sipp(a, &["-m", "1"]), &dir).assert_success();
    b_uas.assert_success();
    c_uas.assert_success();
}

fn imap_addr(bound: &[(String, SocketAddr)]) -> SocketAddr {
    bound
        .iter()
        .find(|(t, _)| t == "imap")
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no imap listener in {bound:?}"))
}

fn imaplib(addr: SocketAddr, user: &str, pass: &str, cmd: &str, extra: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(workspace_root().join("tests/imap/imaplib_client.py"))
        .arg(cmd)
        .args([&addr.ip().to_string(), &addr.port().to_string(), user, pass])
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "imaplib {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn curl(addr: SocketAddr, user: &str, path: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-u", user])
        .arg(format!("imap://{addr}/{path}"))
        .args(extra)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {path} {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs imaplib's IDLE on `folder` as alice, calls `act` once the server accepted
/// the IDLE, and returns what was pushed.
fn idle_while(imap: SocketAddr, folder: &str, act: impl FnOnce()) -> Value {
    let mut idle = Command::new("python3")
        .arg(workspace_root().join("tests/imap/imaplib_client.py"))
        .args(["idle", &imap.ip().to_string(), &imap.port().to_string()])
        .args(["alice", "a-pass", folder, "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = std::io::BufReader::new(idle.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("read");
    assert_eq!(line.trim(), "idling");
    act();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).expect("read");
    assert!(idle.wait().expect("wait").success());
    serde_json::from_str(&line).expect("JSON")
}

/// Alice sends Bob a pager MESSAGE (CPIM) in the claim's conversation over raw
/// UDP (both register first; Bob answers 200).
fn pager_message(server: SocketAddr) {
    use std::net::UdpSocket;
    let ua = |name: &'static str| {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let port = sock.local_addr().expect("addr").port();
        let request = move |method: &str, to: &str, call: &str, extra: &str, body: &str| {
            format!(
                "{method} sip:{to}@example.com SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{name}@example.com>;tag={name}-t\r\n\
                 To: <sip:{to}@example.com>\r\nCall-ID: {call}\r\nCSeq: 1 {method}\r\n\
                 Contact: <sip:{name}@127.0.0.1:{port}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        (sock, request)
    };
    let expect = |sock: &UdpSocket, prefix: &str| -> String {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("waiting for {prefix}: {e}"));
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(prefix) {
                return text;
            }
        }
    };
    let (a, a_req) = ua("alice");
    let (b, b_req) = ua("bob");
    for (sock, req, name) in [
        (
            &a,
            &a_req as &dyn Fn(&str, &str, &str, &str, &str) -> String,
            "alice",
        ),
        (&b, &b_req, "bob"),
    ] {
        let call = format!("imap-reg-{name}");
        sock.send_to(
            req("REGISTER", name, &call, "Expires: 300\r\n", "").as_bytes(),
            server,
        )
        .expect("send");
        expect(sock, "SIP/2.0 200");
    }
    let cpim =
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
        NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: imap-idle-1\r\n\
        DateTime: 2026-11-26T13:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nidle push";
    let headers = format!("Conversation-ID: {CONVERSATION}\r\nContent-Type: message/cpim\r\n");
    a.send_to(
        a_req("MESSAGE", "bob", "imap-pm-1", &headers, cpim).as_bytes(),
        server,
    )
    .expect("send");
    let at_b = expect(&b, "MESSAGE ");
    let field = |name: &str| {
        at_b.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=bob-t\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        field("Via"),
        field("From"),
        field("To"),
        field("Call-ID"),
        field("CSeq")
    );
    b.send_to(ok.as_bytes(), server).expect("send");
    expect(&a, "SIP/2.0 200");
}

fn folder_names(report: &Value) -> Vec<String> {
    report["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn claim_history_is_readable_with_imaplib_and_curl() {
    if !sipp_available()
        || !tool_available("python3", &["--version"], "python3")
        || !tool_available("curl", &["--version"], "curl")
    {
        return;
    }
    read_claim_history(&[]);
}

/// The same on PostgreSQL: a throw-away database in the server `CPMD_TEST_PG`
/// names (scripts/test sets it up; required under CI=true).
#[test]
fn claim_history_is_readable_with_imaplib_and_curl_on_postgres() {
    if !sipp_available()
        || !tool_available("python3", &["--version"], "python3")
        || !tool_available("curl", &["--version"], "curl")
    {
        return;
    }
    let Ok(admin) = std::env::var("CPMD_TEST_PG") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CPMD_TEST_PG is not set: required under CI=true (scripts/test sets it up)"
        );
        eprintln!("SKIPPED: CPMD_TEST_PG is not set (run scripts/test)");
        return;
    };
    let db = format!("cpmd_imap_e2e_{}", std::process::id());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("CPMD_TEST_PG");
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .expect("create database");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    let url = format!("{base}/{db}");
    read_claim_history(&["--store", &url]);
    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

fn read_claim_history(store: &[&str]) {
    let mut args = vec!["--udp", "127.0.0.1:0", "--imap", "127.0.0.1:0"];
    args.extend_from_slice(store);
    let mut cpmd = Cpmd::start_with_config(Some(CONFIG), &args);
    let imap = imap_addr(&cpmd.bound);
    claim_flow(&cpmd);
    let one = format!("Default/{CONVERSATION}/{ONE_TO_ONE}");
    let group = format!("Default/{CONVERSATION}/{GROUP}");

    // A's view: both sessions of the conversation, as sibling folders.
    let alice = imaplib(imap, "alice", "a-pass", "dump", &[]);
    let names = folder_names(&alice);
    for want in [
        "INBOX",
        "Default",
        &format!("Default/{CONVERSATION}"),
        &one,
        &group,
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let entry = |name: &str| {
        alice["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        entry("Default")["flags"],
        serde_json::json!(["\\HasChildren"])
    );
    assert_eq!(entry("Default")["delimiter"], "/");
    // The conversation folder has no row until a standalone message is filed in
    // it (STORE-15): listed as before, from its session folders.
    assert_eq!(
        entry(&format!("Default/{CONVERSATION}"))["flags"],
        serde_json::json!(["\\HasChildren"])
    );
    let mut infos = Vec::new();
    for (folder, contribution) in [(&one, ONE_TO_ONE), (&group, GROUP)] {
        let objects = alice["folders"][folder.as_str()]["objects"]
            .as_array()
            .unwrap_or_else(|| panic!("no objects in {folder}: {alice}"));
        let uids: Vec<u64> = objects.iter().map(|o| o["uid"].as_u64().unwrap()).collect();
        let mut sorted = uids.clone();
        sorted.sort_unstable();
        assert_eq!(uids, sorted, "UID order");
        let info = objects
            .iter()
            .find(|o| {
                o["header"]
                    .as_str()
                    .unwrap()
                    .contains("Content-Type: Application/X-CPM-Session")
            })
            .unwrap_or_else(|| panic!("no session info object in {folder}: {objects:?}"));
        let header = info["header"].as_str().unwrap();
        assert!(header.contains("From: <sip:alice@example.com>"), "{header}");
        assert!(
            header.contains(&format!("Conversation-ID: {CONVERSATION}\r\n")),
            "{header}"
        );
        assert!(
            header.contains(&format!("Contribution-ID: {contribution}\r\n")),
            "{header}"
        );
        assert!(header.contains("Date: "), "{header}");
        let raw = info["raw"].as_str().unwrap();
        assert!(raw.contains("<sdp>") && raw.contains("m=message "), "{raw}");
        infos.push(raw.to_owned());
    }
    let group_info = &infos[1];
    assert!(
        group_info.contains("m=message 7003 TCP/MSRP"),
        "{group_info}"
    );
    assert!(group_info.contains("Ad-Hoc"), "{group_info}");

    // C was invited to the group only.
    let carol = imaplib(imap, "carol", "c-pass", "dump", &[]);
    let names = folder_names(&carol);
    assert!(names.contains(&group), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(ONE_TO_ONE)), "{names:?}");
    let denied = imaplib(imap, "carol@example.com", "c-pass", "denied", &[&one]);
    assert_eq!(denied["select"], "NO", "{denied}");

    // curl: LIST, SEARCH by Contribution-ID, BODY[] of UID 1.
    let list = curl(imap, "alice:a-pass", "", &[]);
    assert!(list.contains(&format!("\"/\" {one}")), "{list}");
    let search = curl(
        imap,
        "alice:a-pass",
        &one,
        &[
            "-X",
            &format!("UID SEARCH HEADER Contribution-ID {ONE_TO_ONE}"),
        ],
    );
    assert!(search.starts_with("* SEARCH 1"), "{search}");
    let body = curl(imap, "alice:a-pass", &format!("{one}/;UID=1"), &[]);
    assert!(
        body.contains(&format!("Contribution-ID: {ONE_TO_ONE}")),
        "{body}"
    );

    // CHANGEDSINCE: after a flag change only the changed object is reported.
    let before = alice["folders"][one.as_str()]["status"]["HIGHESTMODSEQ"]
        .as_u64()
        .unwrap();
    let changed = imaplib(
        imap,
        "alice",
        "a-pass",
        "changedsince",
        &[&one, &before.to_string()],
    );
    assert_eq!(
        changed["uids"],
        serde_json::json!([1]),
        "BODY[] above set \\Seen on UID 1"
    );
    let unchanged = imaplib(imap, "bob", "b-pass", "dump", &[]);
    let bob_one = &unchanged["folders"][one.as_str()];
    assert_eq!(
        bob_one["objects"][0]["flags"],
        serde_json::json!([]),
        "A's \\Seen is A's alone: {bob_one}"
    );

    // IDLE: a pager message A sends in the conversation is stored and pushed to
    // A's client idling on the conversation folder.
    let conversation_folder = format!("Default/{CONVERSATION}");
    let pushed = idle_while(imap, &conversation_folder, || {
        pager_message(cpmd.addr(Transport::Udp));
    });
    assert!(
        pushed["pushes"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("* ") && p.ends_with(" EXISTS")),
        "{pushed}"
    );

    // IDLE: a flag change made through another connection is pushed too.
    let pushed = idle_while(imap, &one, || {
        curl(
            imap,
            "alice:a-pass",
            &one,
            &["-X", "UID STORE 1 +FLAGS (\\Flagged)"],
        );
    });
    let first = pushed["pushes"][0].as_str().unwrap_or_default();
    assert!(
        first.starts_with("* 1 FETCH (UID 1 FLAGS (") && first.contains("\\Flagged"),
        "{pushed}"
    );

    // UIDVALIDITY survives a restart on the same data directory.
    let validity: Vec<(String, Value)> = names_with_validity(&alice);
    let status = cpmd.stop();
    assert!(status.success(), "{status:?}\n{}", cpmd.log());
    cpmd.restart();
    let after = imaplib(imap_addr(&cpmd.bound), "alice", "a-pass", "dump", &[]);
    assert_eq!(names_with_validity(&after), validity);
    assert!(cpmd.stop().success());
}

fn names_with_validity(report: &Value) -> Vec<(String, Value)> {
    folder_names(report)
        .into_iter()
        .map(|n| {
            let v = report["folders"][n.as_str()]["status"]["UIDVALIDITY"].clone();
            (n, v)
        })
        .collect()
}
