//! Edge cases of the termination handshake and of UDP transactions over real
//! sockets, with sipp terminals (specs/termination.md, specs/one-to-one.md):
//!
//! - BYE glare on the 1-to-1 (TERM-4): A's BYE is relayed to B, B sends its own BYE
//!   instead of answering; both BYEs get 200 and the 1-to-1 is sealed once.
//! - B never sends its BYE after joining the group (TERM-3): cpmd ends the 1-to-1
//!   itself after `replaced_bye_timeout` (2 s here), BYE to A and B, one seal.
//! - A never answers the relayed BYE (TERM-2): after `bye_wait` (1 s here) cpmd seals
//!   and answers B.
//! - A lost INVITE over UDP: the test swallows cpmd's first INVITE to B; cpmd's
//!   retransmission reaches B's sipp and the call completes.
//! - An extension INVITE from a registered non-party is refused 403 (EXT-2), sipp
//!   variant of the raw-client case in negative.rs.
//! - Forking (ONE-3): bob registered from two devices; A's INVITE reaches both, one
//!   answers 200, the other (ringing) is CANCELled and answers 487; A gets one 200.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cpmd_tests::{free_port, sipp_available, sipp_keys, Cpmd, Sipp, SippRun, Transport};

const CONVERSATION: &str = "0c1e7a52-3b4d-4f60-8a9b-7c2d1e0f3a45";
const ONE_TO_ONE: &str = "9a4f2c1e-5b6d-4e78-9f01-2a3b4c5d6e7f";
const GROUP: &str = "3e5f7a9b-1c2d-4e6f-8a0b-c1d2e3f4a5b6";

/// cpmd on loopback UDP plus the terminals' addresses.
struct Scene {
    cpmd: Cpmd,
    server: SocketAddr,
    dir: PathBuf,
    ip: IpAddr,
}

impl Scene {
    /// Starts cpmd with `config` (TOML); `None` when sipp is missing (skipped).
    fn start(config: Option<&str>) -> Option<Self> {
        if !sipp_available() {
            return None;
        }
        let cpmd = Cpmd::start_with_config(config, &["--udp", "127.0.0.1:0"]);
        let server = cpmd.addr(Transport::Udp);
        let dir = cpmd.dir.path().to_path_buf();
        Some(Self {
            cpmd,
            server,
            dir,
            ip: server.ip(),
        })
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::new(self.ip, free_port(self.ip))
    }

    /// Starts sipp with `scenario` on `local`, with the session keys and `extra`.
    fn sipp(&self, scenario: &str, local: SocketAddr, extra: &[&str]) -> Sipp {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(sipp_keys(&[
            ("conv", CONVERSATION),
            ("contrib1", ONE_TO_ONE),
            ("contrib2", GROUP),
        ]));
        let run = SippRun {
            server: self.server,
            transport: Transport::Udp,
            local,
            args,
        };
        Sipp::spawn(scenario, &run, &self.dir)
    }

    /// Registers `user` from `local` (the socket it later receives on).
    fn register(&self, user: &str, local: SocketAddr) {
        self.sipp("register.xml", local, &["-s", user, "-m", "1"])
            .assert_success();
    }

    /// Stops cpmd (SIGTERM) and asserts the 1-to-1 was sealed exactly once.
    fn stop_and_check_one_seal(mut self) -> serde_json::Value {
        let status = self.cpmd.stop();
        assert!(
            status.success(),
            "cpmd exit: {status:?}\n{}",
            self.cpmd.log()
        );
        let sealed = self.cpmd.sealed(ONE_TO_ONE);
        assert_eq!(
            sealed.len(),
            1,
            "the 1-to-1 is sealed exactly once: {:#?}",
            self.cpmd.history()
        );
        let h = &sealed[0]["info"];
        assert_eq!(h["from"], "sip:alice@example.com");
        assert_eq!(h["to"], "sip:bob@example.com");
        assert_eq!(h["session_type"], "1-1");
        assert_eq!(h["conversation_id"], CONVERSATION);
        sealed[0].clone()
    }
}

/// TERM-4: A sends BYE; cpmd relays it to B, who sends its own BYE before answering.
/// Both BYEs are answered 200 (sipp asserts it) and there is one history line.
#[test]
fn bye_glare_both_answered_one_history() {
    let Some(scene) = Scene::start(None) else {
        return;
    };
    let (a, b) = (scene.address(), scene.address());
    scene.register("bob", b);
    let b_uas = scene.sipp("b_glare.xml", b, &["-m", "1"]);
    scene
        .sipp("a_call_bye.xml", a, &["-m", "1"])
        .assert_success();
    b_uas.assert_success();
    scene.stop_and_check_one_seal();
}

/// TERM-3: B joins the group but never sends BYE on the 1-to-1. With
/// `replaced_bye_timeout_ms = 2000` cpmd sends BYE to A and B on the 1-to-1; both
/// answer (sipp asserts it); the 1-to-1 is sealed once.
#[test]
fn replaced_bye_timeout_server_ends_the_one_to_one() {
    let Some(scene) = Scene::start(Some("[timers]\nreplaced_bye_timeout_ms = 2000\n")) else {
        return;
    };
    let (a, b, c) = (scene.address(), scene.address(), scene.address());
    scene.register("bob", b);
    scene.register("carol", c);
    let b_uas = scene.sipp("b_claim_no_bye.xml", b, &["-m", "2"]);
    let c_uas = scene.sipp("c_claim.xml", c, &["-m", "1"]);
    let started = Instant::now();
    scene
        .sipp("a_claim_session_replaces.xml", a, &["-m", "1"])
        .assert_success();
    b_uas.assert_success();
    c_uas.assert_success();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "the BYEs came before replaced_bye_timeout: {took:?}"
    );
    assert!(
        scene.cpmd.log().contains("session sealed"),
        "{}",
        scene.cpmd.log()
    );
    scene.stop_and_check_one_seal();
}

/// TERM-2: B sends BYE, cpmd relays it to A, A never answers. With
/// `bye_wait_ms = 1000` B still gets its 200 (sipp asserts it) and the 1-to-1 is
/// sealed.
#[test]
fn silent_peer_bye_wait_expires_sealed_and_answered() {
    let Some(scene) = Scene::start(Some("[timers]\nbye_wait_ms = 1000\n")) else {
        return;
    };
    let (a, b) = (scene.address(), scene.address());
    scene.register("bob", b);
    let b_uas = scene.sipp("b_call.xml", b, &["-m", "1"]);
    let a_uac = scene.sipp("a_call_silent.xml", a, &["-m", "1"]);
    b_uas.assert_success();
    a_uac.assert_success();
    scene.stop_and_check_one_seal();
}

/// UDP loss: the test holds B's socket when cpmd sends its INVITE to B and drops
/// that datagram, then starts B's sipp on the same port. cpmd's retransmission
/// (Timer A, T1 = 500 ms) reaches B, the call completes and is sealed.
#[test]
fn udp_lost_invite_recovered_by_retransmission() {
    let Some(scene) = Scene::start(None) else {
        return;
    };
    let (a, b) = (scene.address(), scene.address());
    scene.register("bob", b);
    let hole = UdpSocket::bind(b).expect("bind B's port to drop the first INVITE");
    hole.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let a_uac = scene.sipp("a_call.xml", a, &["-m", "1"]);
    let mut buf = vec![0u8; 65_535];
    let (n, _) = hole.recv_from(&mut buf).expect("cpmd's first INVITE to B");
    let lost = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(lost.starts_with("INVITE "), "{lost}");
    let branch = lost
        .lines()
        .find(|l| l.starts_with("Via:"))
        .and_then(|v| v.split("branch=").nth(1))
        .map(|b| {
            b.split([';', ' ', '\r'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .expect("branch of the lost INVITE");
    drop(hole);
    let b_uas = scene.sipp("b_call.xml", b, &["-m", "1"]);
    b_uas.assert_success();
    a_uac.assert_success();
    // What B received was the retransmission: the lost INVITE's branch.
    let b_log = std::fs::read_dir(&scene.dir)
        .expect("read test dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("b_call_") && n.ends_with("_messages.log"))
        })
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<String>();
    assert!(
        b_log.contains(&branch),
        "B's INVITE is not the retransmission of {branch}:\n{b_log}"
    );
    scene.stop_and_check_one_seal();
}

/// EXT-2 with sipp: C, registered but no party of the established 1-to-1 A-B, sends
/// an extension INVITE naming it; cpmd answers 403 (sipp asserts it) and no group is
/// created.
#[test]
fn replacement_by_a_non_participant_is_refused_sipp() {
    let Some(mut scene) = Scene::start(None) else {
        return;
    };
    let (a, b, c) = (scene.address(), scene.address(), scene.address());
    scene.register("bob", b);
    let b_uas = scene.sipp("b_answer.xml", b, &["-m", "1"]);
    scene
        .sipp("a_call_open.xml", a, &["-m", "1"])
        .assert_success();
    b_uas.assert_success();
    scene
        .sipp("c_replaces_refused.xml", c, &["-m", "1"])
        .assert_success();
    assert!(scene.cpmd.stop().success());
    let history = scene.cpmd.history();
    assert!(
        !history.iter().any(|l| l["contribution_id"] == GROUP),
        "no group may exist: {history:#?}"
    );
}

/// ONE-3, forking to two devices of one user: bob registers from two sockets (two
/// Contacts). A's INVITE is forked to both; device 2 rings (180) and waits, device 1
/// answers 200 after 500 ms. cpmd CANCELs device 2, which answers the CANCEL 200 and
/// the INVITE 487 and gets the ACK (`sipp/b_fork_cancelled.xml`); A gets exactly one
/// 200 for its INVITE, then BYE/200 end the call and it is sealed once.
#[test]
fn fork_to_two_devices_first_answer_wins_other_cancelled() {
    let Some(scene) = Scene::start(None) else {
        return;
    };
    let (a, b1, b2) = (scene.address(), scene.address(), scene.address());
    scene.register("bob", b1);
    scene.register("bob", b2);
    let device1 = scene.sipp("b_answer_bye.xml", b1, &["-m", "1"]);
    let device2 = scene.sipp("b_fork_cancelled.xml", b2, &["-m", "1"]);
    scene
        .sipp("a_call_bye.xml", a, &["-m", "1"])
        .assert_success();
    device1.assert_success();
    device2.assert_success();
    // A's trace: the 200s it received for its INVITE (CSeq 1 INVITE), one.
    let a_log = sipp_messages(&scene.dir, "a_call_bye_");
    let invite_oks = a_log
        .split("message received")
        .skip(1)
        .filter(|m| {
            // " [N] bytes :\n\nSIP/2.0 ...\n\n----- next entry": the message alone.
            let m = m.trim_start_matches(|c| c != '\n').trim_start();
            let m = m.split("\n----").next().unwrap_or_default();
            m.starts_with("SIP/2.0 200") && m.contains("CSeq: 1 INVITE")
        })
        .count();
    assert_eq!(
        invite_oks, 1,
        "A got {invite_oks} 200s to its INVITE:\n{a_log}"
    );
    scene.stop_and_check_one_seal();
}

/// The `*_messages.log` traces of the sipp runs whose file name starts with `prefix`.
fn sipp_messages(dir: &std::path::Path, prefix: &str) -> String {
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
