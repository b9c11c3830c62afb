//! Scale-out end to end (specs/scale-out.md): real `cpmd` nodes with `[cluster]`
//! on one PostgreSQL database (a throw-away database in the server named by
//! `CPMD_TEST_PG`; missing: a failure under `CI=true`, a loud skip otherwise).
//!
//! `a_call_to_a_user_registered_through_another_node` (SCALE-4, SCALE-5): bob
//! registers through node 2, alice through node 1; node 2 writes bob's location
//! row, node 1 reads it, and alice's call to bob through node 1 reaches bob: the
//! session is node 1's (its row names instance 1) and it is sealed by bob's BYE.
//!
//! `a_call_through_kamailio_dispatcher_across_two_nodes` (SCALE-5, SCALE-6): the
//! same behind Kamailio (Debian package, `dispatcher` module, configuration written
//! by the test on loopback ports): terminals talk only to Kamailio, which sends
//! alice's initial requests to node 1 and everyone else's to node 2, and relays
//! requests to terminals and in-dialog requests by their Request-URI. Identity is
//! digest authentication (every terminal's flow is Kamailio's). Bob's row names
//! Kamailio as where he is reached; alice's call reaches him through it.
//!
//! `kill_9_of_a_node_mid_session_and_the_other_seals_it` (SCALE-2): node 1 runs
//! the claim flow and its group stays open; node 1 is killed with SIGKILL; node 2,
//! which never saw the session, notices node 1's lease ran out and its connection
//! is gone, and seals the group as crashed; what users see of it, read from node 2's
//! IMAP listener, says so.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cpmd_tests::dispatcher::Balancer;
use cpmd_tests::imap_raw::Imap;
use cpmd_tests::pg_db::TestDb;
use cpmd_tests::{
    free_port, sipp_available, sipp_claim, sipp_keys, tool_available, Cpmd, Sipp, SippRun,
    Transport,
};

const CONVERSATION: &str = "2a4c6e80-1b3d-4f5a-8c7e-9d0b1a2c3e4f";
const ONE_TO_ONE: &str = "3b5d7f91-2c4e-4a6b-9d8f-0e1c2b3d4f5a";
const GROUP: &str = "4c6e8a02-3d5f-4b7c-8e9a-1f2d3c4e5a6b";

/// A node's configuration: the cluster on, with a short lease so the test does
/// not wait long; carol may log in to IMAP.
fn node_config() -> &'static str {
    "[cluster]\nenabled = true\nlease_s = 1\n\n[auth.passwords]\ncarol = \"carol-pw\"\n"
}

fn start_node(db: &TestDb, instance: &str) -> Cpmd {
    Cpmd::start_with_config(
        Some(node_config()),
        &[
            "--udp",
            "127.0.0.1:0",
            "--store",
            &db.url,
            "--instance",
            instance,
        ],
    )
}

#[test]
fn a_call_to_a_user_registered_through_another_node() {
    if !sipp_available() {
        return;
    }
    let Some(db) = TestDb::create("scale_route") else {
        return;
    };
    let one = start_node(&db, "1");
    let two = start_node(&db, "2");
    let ip = one.addr(Transport::Udp).ip();
    let at = || SocketAddr::new(ip, free_port(ip));
    let run = |node: &Cpmd, local, extra: &[&str]| SippRun {
        server: node.addr(Transport::Udp),
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(sipp_keys(&[
                ("conv", CONVERSATION),
                ("contrib1", ONE_TO_ONE),
            ]))
            .collect(),
    };
    let (a, b) = (at(), at());
    let (dir1, dir2) = (one.dir.path().to_path_buf(), two.dir.path().to_path_buf());
    Sipp::spawn(
        "register.xml",
        &run(&two, b, &["-s", "bob", "-m", "1"]),
        &dir2,
    )
    .assert_success();
    Sipp::spawn(
        "register.xml",
        &run(&one, a, &["-s", "alice", "-m", "1"]),
        &dir1,
    )
    .assert_success();
    // SCALE-4: node 2 wrote bob's row; SCALE-5: node 1 read it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.query_text("SELECT instance::text FROM locations WHERE aor = 'sip:bob@example.com'")
        != ["2"]
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        one.wait_log(
            "location row of another node aor=sip:bob@example.com",
            Duration::from_secs(20)
        ),
        "node 1 learned bob's binding\n{}",
        one.log()
    );
    // Bob answers node 1's INVITE and sends his BYE to it (its Contact, the
    // session's node).
    let b_uas = Sipp::spawn("b_call_bye_any.xml", &run(&one, b, &["-m", "1"]), &dir2);
    std::thread::sleep(Duration::from_millis(200));
    Sipp::spawn("a_call.xml", &run(&one, a, &["-m", "1"]), &dir1).assert_success();
    b_uas.assert_success();
    // Bob's BYE got its 200 only after the seal was durable (HIST-5): no wait.
    assert_eq!(
        db.query_text(&format!(
            "SELECT instance::text || ' ' || state FROM sessions \
                 WHERE contribution_id = '{ONE_TO_ONE}'"
        )),
        ["1 sealed"],
        "the session is node 1's\n{}",
        one.log()
    );
}

#[test]
fn a_call_through_kamailio_dispatcher_across_two_nodes() {
    if !sipp_available() || !tool_available("kamailio", &["-v"], "kamailio") {
        return;
    }
    let Some(db) = TestDb::create("scale_kamailio") else {
        return;
    };
    let config = format!(
        "{}[auth]\nenabled = true\nalgorithms = [\"MD5\"]\n\
         [auth.passwords]\nalice = \"alice-secret\"\nbob = \"bob-secret\"\n",
        "[cluster]\nenabled = true\nlease_s = 1\n\n"
    );
    let node = |instance: &str| {
        Cpmd::start_with_config(
            Some(&config),
            &[
                "--udp",
                "127.0.0.1:0",
                "--store",
                &db.url,
                "--instance",
                instance,
            ],
        )
    };
    let (one, two) = (node("1"), node("2"));
    let dir = one.dir.path().to_path_buf();
    let balancer = Balancer::start(&dir, [one.addr(Transport::Udp), two.addr(Transport::Udp)]);
    let ip = balancer.addr.ip();
    let (a, b) = (
        SocketAddr::new(ip, free_port(ip)),
        SocketAddr::new(ip, free_port(ip)),
    );
    let run = |local, extra: &[&str]| SippRun {
        server: balancer.addr,
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(sipp_keys(&[
                ("conv", CONVERSATION),
                ("contrib1", ONE_TO_ONE),
            ]))
            .collect(),
    };
    for (user, password, at) in [("bob", "bob-secret", b), ("alice", "alice-secret", a)] {
        let args = [
            "-s",
            user,
            "-ap",
            password,
            "-auth_uri",
            "example.com",
            "-m",
            "1",
        ];
        let reg = Sipp::spawn("register_auth.xml", &run(at, &args), &dir);
        assert!(
            reg.wait().is_some_and(|s| s.success()),
            "{user} registers\n{}",
            balancer.log()
        );
    }
    // Bob's binding is node 2's, reached through Kamailio; node 1 learned it.
    let bob_row = || {
        db.query_text(
            "SELECT instance::text || ' ' || flow_peer FROM locations \
             WHERE aor = 'sip:bob@example.com'",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while bob_row().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        bob_row(),
        [format!("2 {}", balancer.addr)],
        "{}",
        balancer.log()
    );
    assert!(
        one.wait_log(
            "location row of another node aor=sip:bob@example.com",
            Duration::from_secs(20)
        ),
        "{}",
        one.log()
    );
    let b_uas = Sipp::spawn("b_answer_bye.xml", &run(b, &["-m", "1"]), &dir);
    std::thread::sleep(Duration::from_millis(200));
    let args = [
        "-s",
        "alice",
        "-ap",
        "alice-secret",
        "-auth_uri",
        "bob@example.com",
        "-m",
        "1",
    ];
    let call = Sipp::spawn("a_auth_call.xml", &run(a, &args), &dir);
    assert!(
        call.wait().is_some_and(|s| s.success()),
        "alice's call\n{}\n--- node 1\n{}\n--- node 2\n{}",
        balancer.log(),
        one.log(),
        two.log()
    );
    b_uas.assert_success();
    // A's BYE got its 200 only after the seal was durable (HIST-5).
    assert_eq!(
        db.query_text(&format!(
            "SELECT instance::text || ' ' || state FROM sessions \
                 WHERE contribution_id = '{ONE_TO_ONE}'"
        )),
        ["1 sealed"],
        "the session is node 1's"
    );
}

#[test]
fn kill_9_of_a_node_mid_session_and_the_other_seals_it() {
    if !sipp_available() {
        return;
    }
    let Some(db) = TestDb::create("scale_kill") else {
        return;
    };
    let mut one = start_node(&db, "1");
    let two = start_node(&db, "2");
    let ip = one.addr(Transport::Udp).ip();
    let at = || SocketAddr::new(ip, free_port(ip));
    let dir = one.dir.path().to_path_buf();
    let run = |local, extra: &[&str]| SippRun {
        server: one.addr(Transport::Udp),
        transport: Transport::Udp,
        local,
        args: extra
            .iter()
            .map(|s| (*s).to_owned())
            .chain(sipp_keys(&[
                ("conv", CONVERSATION),
                ("contrib1", ONE_TO_ONE),
                ("contrib2", GROUP),
            ]))
            .collect(),
    };
    // Node 1: the claim; the group stays open.
    let (a, b, c) = (at(), at(), at());
    sipp_claim(run, [a, b, c], &dir);
    assert_eq!(db.session_state(GROUP).as_deref(), Some("open"));
    // Node 2 is alive and node 1 is too: nothing is taken over (their leases are
    // renewed every third of a second; a few beats pass).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        db.session_state(GROUP).as_deref(),
        Some("open"),
        "{}",
        two.log()
    );

    one.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.session_state(GROUP).as_deref() == Some("open") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        db.session_state(GROUP).as_deref(),
        Some("crashed"),
        "node 2 sealed node 1's group\n{}",
        two.log()
    );
    assert!(two.log().contains("took over a dead node"), "{}", two.log());
    assert_eq!(
        db.session_state(ONE_TO_ONE).as_deref(),
        Some("sealed"),
        "the 1-to-1 was sealed by its BYE before"
    );

    // Carol reads the group's history from node 2: its info ends by crash.
    let imap = two
        .bound
        .iter()
        .find(|(t, _)| t == "imap")
        .map(|(_, a)| *a)
        .expect("node 2's IMAP listener");
    let mut client = Imap::login(imap, Duration::from_secs(10), "carol", "carol-pw");
    let folder = cpmd::store::layout::session_mailbox(CONVERSATION, GROUP);
    let selected = client.command(&format!("SELECT \"{folder}\""));
    assert!(selected.status.starts_with("OK"), "{selected:?}");
    let fetched = client.command("FETCH 1:* BODY.PEEK[]");
    let text = String::from_utf8_lossy(&fetched.untagged);
    assert!(
        text.contains("<ended-by>crash</ended-by>"),
        "carol sees the group ended by crash:\n{text}"
    );
}
