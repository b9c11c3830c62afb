//! The claim end to end: terminals A, B, C (sipp) register; A and B set up a 1-to-1
//! through cpmd; A extends it to a group with B and C (three ways of naming the
//! replaced session); B and C join; B ends the 1-to-1, cpmd relays the BYE to A and
//! seals the 1-to-1's history. Then the message store (read through the `cpmd`
//! library, `Cpmd::history`) must hold the group's session info and the sealed 1-to-1.

use std::net::{IpAddr, SocketAddr};

use cpmd_tests::{free_port, sipp_available, Cpmd, Sipp, SippRun, Transport};
use serde_json::Value;

const CONVERSATION: &str = "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10";
const ONE_TO_ONE: &str = "1b8e5f0c-6a3d-4e27-8c9f-5d2a7b4e1c03";
const GROUP: &str = "5d9e0c2a-7b1f-4e3a-9c8d-2f6a1b0e4d77";

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

fn run(transport: Transport, ip: &str, a_scenario: &str) {
    if !sipp_available() {
        return;
    }
    let ip: IpAddr = ip.parse().expect("ip");
    let listen = SocketAddr::new(ip, 0).to_string();
    let mut cpmd = Cpmd::start(&[&format!("--{}", transport.name()), &listen]);
    let server = cpmd.addr(transport);
    let dir = cpmd.dir.path().to_path_buf();
    let at = |port| SocketAddr::new(ip, port);
    let (a, b, c) = (at(free_port(ip)), at(free_port(ip)), at(free_port(ip)));
    let sipp = |local, args: Vec<String>| SippRun {
        server,
        transport,
        local,
        args,
    };
    let with = |extra: &[&str]| {
        let mut v: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        v.extend(keys());
        v
    };

    // B and C register from the sockets they will receive on.
    Sipp::spawn(
        "register.xml",
        &sipp(b, with(&["-s", "bob", "-m", "1"])),
        &dir,
    )
    .assert_success();
    Sipp::spawn(
        "register.xml",
        &sipp(c, with(&["-s", "carol", "-m", "1"])),
        &dir,
    )
    .assert_success();
    let b_uas = Sipp::spawn("b_claim.xml", &sipp(b, with(&["-m", "2"])), &dir);
    let c_uas = Sipp::spawn("c_claim.xml", &sipp(c, with(&["-m", "1"])), &dir);
    std::thread::sleep(std::time::Duration::from_millis(300));
    Sipp::spawn(a_scenario, &sipp(a, with(&["-m", "1"])), &dir).assert_success();
    b_uas.assert_success();
    c_uas.assert_success();

    let status = cpmd.stop();
    assert!(
        status.success(),
        "cpmd exit after SIGTERM: {status:?}\n{}",
        cpmd.log()
    );
    check_history(&cpmd.history());
}

fn check_history(lines: &[Value]) {
    let info = lines
        .iter()
        .find(|l| l["kind"] == "session_info" && l["contribution_id"] == GROUP)
        .unwrap_or_else(|| panic!("no group session info in {lines:#?}"));
    assert_eq!(info["from"], "sip:alice@example.com");
    assert_eq!(info["to"], "sip:conf-factory@example.com");
    assert_eq!(info["date"], "Thu, 26 Nov 2026 12:30:00 GMT");
    assert_eq!(info["conversation_id"], CONVERSATION);
    assert_eq!(info["session_type"], "Ad-Hoc");
    assert_ne!(info["contribution_id"], ONE_TO_ONE);
    let attrs: Vec<&str> = info["media_attributes"]
        .as_array()
        .expect("media attributes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        attrs.contains(&"path:msrp://127.0.0.1:7003/a2;tcp"),
        "{attrs:?}"
    );
    assert!(attrs.contains(&"accept-types:message/cpim"), "{attrs:?}");
    assert!(info["sdp"]
        .as_str()
        .expect("sdp")
        .contains("m=message 7003 TCP/MSRP"));
    assert_eq!(
        info["invited"],
        serde_json::json!(["sip:bob@example.com", "sip:carol@example.com"])
    );

    let sealed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "history" && l["contribution_id"] == ONE_TO_ONE)
        .collect();
    assert_eq!(
        sealed.len(),
        1,
        "the 1-to-1 is sealed exactly once: {lines:#?}"
    );
    let h = &sealed[0]["info"];
    assert_eq!(h["from"], "sip:alice@example.com");
    assert_eq!(h["to"], "sip:bob@example.com");
    assert_eq!(h["conversation_id"], CONVERSATION);
    assert_eq!(h["session_type"], "1-1");
    assert!(
        h["date"].as_str().is_some_and(|d| d.ends_with(" GMT")),
        "{h}"
    );
    assert_eq!(sealed[0]["messages"], serde_json::json!([]));
}

#[test]
fn claim_udp_session_replaces() {
    run(Transport::Udp, "127.0.0.1", "a_claim_session_replaces.xml");
}

#[test]
fn claim_udp_rfc3891_replaces() {
    run(Transport::Udp, "127.0.0.1", "a_claim_replaces.xml");
}

#[test]
fn claim_udp_list_entry_header() {
    run(Transport::Udp, "127.0.0.1", "a_claim_list_header.xml");
}

/// EXT-10 and HIST-8: the list names only C and the Request-URI is cpmd's address;
/// B is still invited with the replacement and the group's To is the factory URI.
#[test]
fn claim_udp_list_with_c_only() {
    run(Transport::Udp, "127.0.0.1", "a_claim_list_c_only.xml");
}

#[test]
fn claim_tcp_list_with_c_only() {
    run(Transport::Tcp, "127.0.0.1", "a_claim_list_c_only.xml");
}

#[test]
fn claim_tcp_session_replaces() {
    run(Transport::Tcp, "127.0.0.1", "a_claim_session_replaces.xml");
}

#[test]
fn claim_tcp_rfc3891_replaces() {
    run(Transport::Tcp, "127.0.0.1", "a_claim_replaces.xml");
}

#[test]
fn claim_udp_ipv6_session_replaces() {
    run(Transport::Udp, "::1", "a_claim_session_replaces.xml");
}
