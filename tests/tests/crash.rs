//! Crash test of the message store (STORE-1, STORE-5): a real cpmd under load is
//! killed with SIGKILL, restarted on the same database, and the store must hold
//! everything a client was told is safe, and seal what the crash left open.
//!
//! The load: the claim flow (A, B, C; the 1-to-1 is sealed, the group stays open),
//! then a stream of 1-to-1 sessions (bench/uac.xml and bench/uas.xml: INVITE, 200,
//! ACK, BYE, 200; each with its own Contribution-ID) at 40 sessions/s. cpmd is
//! killed about 1.5 s into the stream. What the clients saw acknowledged is read
//! from sipp's message trace ([`acknowledged`]): a session whose BYE got its 200 was
//! sealed durably before that 200 (HIST-5). Chat messages join the same check when
//! they reach the core over MSRP: add their acknowledgements (the 200 to the SEND)
//! to [`Acknowledged::messages`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cpmd_tests::{
    free_port, sipp_available, sipp_claim, workspace_root, Cpmd, Sipp, SippRun, Transport,
};
use serde_json::Value;

const CONVERSATION: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const ONE_TO_ONE: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
const GROUP: &str = "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77";

/// What the clients were told is safe.
#[derive(Debug, Default)]
struct Acknowledged {
    /// Contribution-IDs of sessions whose BYE was answered 200 (sealed).
    sessions: Vec<String>,
    /// `(Contribution-ID, Message-ID)` of chat messages answered 200 (MSRP SEND,
    /// once MSRP relaying is on main).
    messages: Vec<(String, String)>,
}

/// A header's value in one traced SIP message.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads sipp `-trace_msg` logs: the Contribution-IDs of the INVITEs it sent, by
/// Call-ID, and the Call-IDs whose `BYE` got a `200`.
fn acknowledged(traces: &str) -> Acknowledged {
    let mut contribution_by_call: BTreeMap<String, String> = BTreeMap::new();
    let mut acked_calls = Vec::new();
    for block in traces.split("\n----------------------------------------------- ") {
        let Some((_, message)) = block.split_once("\n\n") else {
            continue;
        };
        let message = message.trim_start();
        let Some(call_id) = header(message, "Call-ID") else {
            continue;
        };
        if block.contains("message sent") && message.starts_with("INVITE ") {
            if let Some(c) = header(message, "Contribution-ID") {
                contribution_by_call.insert(call_id.to_owned(), c.to_owned());
            }
        }
        let bye_ok = message.starts_with("SIP/2.0 200")
            && header(message, "CSeq").is_some_and(|c| c.ends_with("BYE"));
        if block.contains("message received") && bye_ok {
            acked_calls.push(call_id.to_owned());
        }
    }
    let mut sessions: Vec<String> = acked_calls
        .iter()
        .filter_map(|c| contribution_by_call.get(c).cloned())
        .collect();
    sessions.sort();
    sessions.dedup();
    Acknowledged {
        sessions,
        messages: Vec::new(),
    }
}

/// Every acknowledged thing is in the store (`records` from `store_records`).
fn assert_stored(records: &[Value], acked: &Acknowledged) {
    for contribution in &acked.sessions {
        let sealed = records
            .iter()
            .filter(|r| r["kind"] == "history" && r["contribution_id"] == contribution.as_str())
            .count();
        assert_eq!(
            sealed, 1,
            "acknowledged session {contribution} sealed once ({sealed})"
        );
    }
    for (contribution, message_id) in &acked.messages {
        assert!(
            records.iter().any(|r| r["kind"] == "message"
                && r["contribution_id"] == contribution.as_str()
                && r["message_id"] == message_id.as_str()),
            "acknowledged message {message_id} of {contribution} is stored"
        );
    }
}

/// The `*_messages.log` traces in `dir` whose name starts with `prefix`.
fn traces(dir: &Path, prefix: &str) -> String {
    std::fs::read_dir(dir)
        .expect("read test dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with("_messages.log"))
        })
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

fn keys() -> Vec<String> {
    cpmd_tests::sipp_keys(&[
        ("conv", CONVERSATION),
        ("contrib1", ONE_TO_ONE),
        ("contrib2", GROUP),
    ])
}

#[test]
fn kill_9_mid_load_loses_nothing_acknowledged_and_seals_open_sessions() {
    if !sipp_available() {
        return;
    }
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let dir = cpmd.dir.path().to_path_buf();
    let at = |port| SocketAddr::new(ip, port);
    let run = |local, extra: &[&str]| SippRun {
        server,
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(keys())
            .collect(),
    };

    // The claim: the 1-to-1 sealed, the group created and left open.
    let (a, b, c) = (at(free_port(ip)), at(free_port(ip)), at(free_port(ip)));
    sipp_claim(run, [a, b, c], &dir);

    // The stream of 1-to-1 sessions, bob answering on a new socket.
    let (uac, uas) = (at(free_port(ip)), at(free_port(ip)));
    Sipp::spawn("register.xml", &run(uas, &["-s", "bob", "-m", "1"]), &dir).assert_success();
    Sipp::spawn("register.xml", &run(uac, &["-s", "alice", "-m", "1"]), &dir).assert_success();
    // The benchmark's scenarios, copied beside the traces (sipp names its logs
    // after the scenario file).
    for file in ["uas.xml", "uac.xml"] {
        std::fs::copy(workspace_root().join("bench").join(file), dir.join(file))
            .expect("copy bench scenario");
    }
    let callee = Sipp::spawn(
        dir.join("uas.xml").to_str().expect("utf-8 path"),
        &run(uas, &["-m", "120"]),
        &dir,
    );
    let ruri = "sip:bob@example.com";
    let caller = Sipp::spawn(
        dir.join("uac.xml").to_str().expect("utf-8 path"),
        &run(
            uac,
            &[
                "-key",
                "ruri",
                ruri,
                "-r",
                "40",
                "-m",
                "120",
                "-recv_timeout",
                "2000",
                "-max_retrans",
                "3",
            ],
        ),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(1500));
    cpmd.kill();
    // The caller gives up on each unanswered call (receive timeout), ends by
    // itself and flushes its trace; the callee is not needed any more.
    let waited = std::time::Instant::now();
    let status = caller.wait();
    eprintln!("caller ended after {:?}: {status:?}", waited.elapsed());
    drop(callee);
    let acked = acknowledged(&traces(&dir, "uac_"));
    eprintln!(
        "{} sessions acknowledged before the kill",
        acked.sessions.len()
    );
    assert!(
        acked.sessions.len() >= 10,
        "the load ran before the kill: {} sessions acknowledged",
        acked.sessions.len()
    );

    cpmd.restart();
    assert!(
        cpmd.wait_log(
            "session left open by a crash sealed as crashed",
            Duration::from_secs(5)
        ),
        "the open group was sealed at start-up"
    );
    let _ = cpmd.stop();
    let records = cpmd.history();
    assert_stored(&records, &acked);
    // The claim's 1-to-1 was sealed before the crash, the open group by recovery.
    let state = |contribution: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["kind"] == "history" && r["contribution_id"] == contribution)
            .map(|r| r["state"].clone())
            .collect()
    };
    assert_eq!(state(ONE_TO_ONE), vec![Value::from("sealed")]);
    assert_eq!(state(GROUP), vec![Value::from("crashed")]);
    // Nothing is left open.
    let open: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "session_info" && r["state"] == "open")
        .collect();
    assert!(open.is_empty(), "sessions left open: {open:#?}");
}
