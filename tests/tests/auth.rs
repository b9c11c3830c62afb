//! SIP digest authentication over real sockets (`[auth] enabled = true`):
//!
//! - MD5 with sipp (`algorithms = ["MD5"]`, sipp 3.6 has no SHA-256 digest): A and B
//!   register through a 401 challenge (`sipp/register_auth.xml`,
//!   `sipp/a_auth_call.xml`); A's INVITE to B is challenged 407, A ACKs the 407 and
//!   sends it again with Proxy-Authorization; B answers (`sipp/b_answer_bye.xml`), A
//!   ACKs and ends the 1-to-1 with BYE, answered once B answered the relayed BYE and
//!   the history was sealed.
//! - A wrong password: the second REGISTER gets 403 (`sipp/register_auth_forbidden.xml`).
//! - With the default `algorithms`, the 401 offers SHA-256 first, then MD5 (RFC 8760
//!   §2.4), checked with a raw UDP client (no sipp needed).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use cpmd_tests::{free_port, sipp_available, sipp_keys, Cpmd, Sipp, SippRun, Transport};

const CONVERSATION: &str = "4b7d1e2a-9c3f-4a58-b6e0-1f2d3c4b5a69";
const ONE_TO_ONE: &str = "c2e4f6a8-1b3d-4f5e-9a7c-0d2e4f6a8b1c";

const ALICE_PASSWORD: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-secret";

/// Digest on, MD5 only (what sipp 3.6 computes), passwords for alice and bob.
fn md5_config() -> String {
    format!(
        "[auth]\nenabled = true\nalgorithms = [\"MD5\"]\n\
         [auth.passwords]\nalice = \"{ALICE_PASSWORD}\"\nbob = \"{BOB_PASSWORD}\"\n"
    )
}

/// Runs `scenario` from `local` against cpmd over UDP with `extra` and the keys.
fn sipp(cpmd: &Cpmd, scenario: &str, local: SocketAddr, extra: &[&str]) -> Sipp {
    let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    args.extend(sipp_keys(&[
        ("conv", CONVERSATION),
        ("contrib1", ONE_TO_ONE),
    ]));
    let run = SippRun {
        server: cpmd.addr(Transport::Udp),
        transport: Transport::Udp,
        local,
        args,
    };
    Sipp::spawn(scenario, &run, cpmd.dir.path())
}

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn address() -> SocketAddr {
    let ip = loopback();
    SocketAddr::new(ip, free_port(ip))
}

/// The Request-URI of every REGISTER in the sipp scenarios, without the `sip:` that
/// sipp puts before `-auth_uri`.
const REGISTRAR: &str = "example.com";

/// REGISTER 401/200 for A and B, INVITE 407, ACK, INVITE with Proxy-Authorization,
/// 200, ACK, BYE, 200 (every step asserted by sipp); one sealed history.
#[test]
fn md5_digest_register_invite_407_call_and_bye() {
    if !sipp_available() {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(Some(&md5_config()), &["--udp", "127.0.0.1:0"]);
    let (a, b) = (address(), address());
    // sipp hashes `sip:` + `-auth_uri` (default `sip:REMOTE_IP:PORT`), and cpmd
    // requires the Request-URI there (SEC-4c): each run names its request's URI.
    for (user, password, at) in [("alice", ALICE_PASSWORD, a), ("bob", BOB_PASSWORD, b)] {
        sipp(
            &cpmd,
            "register_auth.xml",
            at,
            &[
                "-s",
                user,
                "-ap",
                password,
                "-auth_uri",
                REGISTRAR,
                "-m",
                "1",
            ],
        )
        .assert_success();
    }
    let b_uas = sipp(&cpmd, "b_answer_bye.xml", b, &["-m", "1"]);
    sipp(
        &cpmd,
        "a_auth_call.xml",
        a,
        &[
            "-s",
            "alice",
            "-ap",
            ALICE_PASSWORD,
            "-auth_uri",
            "bob@example.com",
            "-m",
            "1",
        ],
    )
    .assert_success();
    b_uas.assert_success();
    assert!(cpmd.stop().success(), "{}", cpmd.log());
    let sealed = cpmd.sealed(ONE_TO_ONE);
    assert_eq!(sealed.len(), 1, "one seal: {:#?}", cpmd.history());
    let h = &sealed[0]["info"];
    assert_eq!(h["from"], "sip:alice@example.com");
    assert_eq!(h["to"], "sip:bob@example.com");
    assert_eq!(h["conversation_id"], CONVERSATION);
}

/// The right user with the wrong password: 401, then 403 (sipp asserts both).
#[test]
fn md5_digest_wrong_password_register_forbidden() {
    if !sipp_available() {
        return;
    }
    let cpmd = Cpmd::start_with_config(Some(&md5_config()), &["--udp", "127.0.0.1:0"]);
    sipp(
        &cpmd,
        "register_auth_forbidden.xml",
        address(),
        &[
            "-s",
            "alice",
            "-ap",
            "not-alice-secret",
            "-auth_uri",
            REGISTRAR,
            "-m",
            "1",
        ],
    )
    .assert_success();
}

/// Default `algorithms` (SHA-256, MD5): the 401 to a REGISTER without credentials
/// carries one `WWW-Authenticate` per algorithm, SHA-256 first, same realm and nonce.
#[test]
fn default_algorithms_offer_sha256_first() {
    let config =
        format!("[auth]\nenabled = true\n[auth.passwords]\nalice = \"{ALICE_PASSWORD}\"\n");
    let cpmd = Cpmd::start_with_config(Some(&config), &["--udp", "127.0.0.1:0"]);
    let sock = UdpSocket::bind((loopback(), 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let register = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKauth-sha256;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:alice@example.com>\r\nCall-ID: auth-sha256\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@127.0.0.1:{port}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(register.as_bytes(), cpmd.addr(Transport::Udp))
        .expect("send");
    let mut buf = vec![0u8; 65_535];
    let reply = loop {
        let (n, _) = sock.recv_from(&mut buf).expect("the 401");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 100") {
            break text;
        }
    };
    assert!(reply.starts_with("SIP/2.0 401"), "{reply}");
    let challenges: Vec<&str> = reply
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| v.trim())
        .collect();
    assert_eq!(challenges.len(), 2, "{reply}");
    let param = |c: &str, name: &str| -> String {
        c.trim_start_matches("Digest")
            .split(',')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("no {name} in {c}"))
    };
    assert!(
        challenges.iter().all(|c| c.starts_with("Digest ")),
        "{reply}"
    );
    assert_eq!(param(challenges[0], "algorithm"), "SHA-256", "{reply}");
    assert_eq!(param(challenges[1], "algorithm"), "MD5", "{reply}");
    for c in &challenges {
        assert_eq!(param(c, "realm"), "example.com", "{reply}");
        assert_eq!(param(c, "qop"), "auth", "{reply}");
    }
    assert_eq!(
        param(challenges[0], "nonce"),
        param(challenges[1], "nonce"),
        "{reply}"
    );
}
