//! Deferred messages across nodes (specs/scale-out.md SCALE-7, specs/deferred.md):
//! two `cpmd` nodes with `[cluster]` on one PostgreSQL database (a throw-away
//! database in the server named by `CPMD_TEST_PG`; missing: a failure under
//! `CI=true`, a loud skip otherwise).
//!
//! `a_message_deferred_on_node_1_is_delivered_when_bob_registers_through_node_2`:
//! alice's pager MESSAGE to bob (listed, never registered) is accepted by node 1
//! (202; the queue row is node 1's). Bob registers through node 2, which has
//! nothing for him; node 2's location row reaches node 1, which sends the MESSAGE
//! to where bob registered from; bob's 200 removes the row. Node 1's input trace
//! holds that row (a `remote_binding` line) so the trace replays.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cpmd_tests::pg_db::TestDb;
use cpmd_tests::{free_port, sipp_available, Cpmd, Sipp, SippRun, Transport};

/// A node; node 1 records its input trace (`--trace-input`).
fn start_node(db: &TestDb, instance: &str) -> Cpmd {
    let mut args = vec![
        "--udp",
        "127.0.0.1:0",
        "--store",
        &db.url,
        "--instance",
        instance,
    ];
    if instance == "1" {
        args.push("--trace-input");
    }
    Cpmd::start_with_config(
        Some("users = [\"alice\", \"bob\"]\n\n[cluster]\nenabled = true\nlease_s = 1\n"),
        &args,
    )
}

#[test]
fn a_message_deferred_on_node_1_is_delivered_when_bob_registers_through_node_2() {
    if !sipp_available() {
        return;
    }
    let Some(db) = TestDb::create("scale_deferred") else {
        return;
    };
    let one = start_node(&db, "1");
    let two = start_node(&db, "2");
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let dir = one.dir.path().to_path_buf();
    let run = |node: &Cpmd, port: u16, extra: &[&str]| SippRun {
        server: node.addr(Transport::Udp),
        transport: Transport::Udp,
        local: SocketAddr::new(ip, port),
        args: ["-m", "1"]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect(),
    };
    // Alice, through node 1: bob has no device anywhere, so node 1 keeps it (202
    // only once the row is durable, DEF-2).
    Sipp::spawn("a_pager_deferred.xml", &run(&one, free_port(ip), &[]), &dir).assert_success();
    let queue = || db.query_text("SELECT instance::text || ' ' || recipient FROM deferred");
    assert_eq!(queue(), ["1 sip:bob@example.com"], "node 1's queue row");

    // Bob registers through node 2 and listens on the same socket; node 1 sends
    // him the message (retransmitted over UDP until his scenario listens).
    let b = free_port(ip);
    Sipp::spawn("register.xml", &run(&two, b, &["-s", "bob"]), &dir).assert_success();
    Sipp::spawn("b_pager_deferred.xml", &run(&one, b, &[]), &dir).assert_success();
    // Bob's 200 went to node 1, which removes the row (DEF-5) after it answered.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !queue().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        queue().is_empty(),
        "delivered and removed: {:?}\n--- node 1\n{}",
        queue(),
        one.log()
    );
    assert_eq!(
        db.query_text("SELECT instance::text FROM locations WHERE aor = 'sip:bob@example.com'"),
        ["2"],
        "bob's binding is node 2's"
    );
    assert!(
        one.log()
            .contains("location row of another node aor=sip:bob@example.com"),
        "node 1 learned bob's binding from node 2's row\n{}",
        one.log()
    );
    // Node 1's input trace holds the row it was fed, so it replays (the model's
    // `replay` feeds `remote_binding` lines to the core as the runtime did).
    let trace = std::fs::read_to_string(one.dir.path().join("data/input-trace.jsonl"))
        .expect("node 1's input trace");
    let row = trace
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["kind"] == "remote_binding" && v["aor"] == "sip:bob@example.com")
        .unwrap_or_else(|| panic!("no remote_binding line for bob:\n{trace}"));
    assert_eq!(row["peer"], format!("127.0.0.1:{b}"), "{row}");
    assert!(row["left_ms"].as_u64() > Some(0), "{row}");
    assert!(trace.contains("\"share_locations\":true"), "the start line");
    drop(two);
}
