//! Deferred messaging on PostgreSQL in the real binary (specs/deferred.md, DEF-9,
//! DEF-12): cpmd runs with `--store postgres://…` (a throw-away database in the
//! server named by `CPMD_TEST_PG`, which `scripts/test` sets up; missing: a failure
//! under `CI=true`, a loud skip otherwise). Alice sends offline bob one message in a
//! store-and-forward session (sipp plus the Python MSRP client) and one pager
//! MESSAGE (a raw UDP client); cpmd is killed with SIGKILL after both were
//! acknowledged and restarted on the same database; bob registers and gets both,
//! in order; the queue rows are gone once he answered.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cpmd_tests::msrp::{python_available, ClientOptions, MsrpClient};
use cpmd_tests::pg_db::TestDb;
use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{free_port, sipp_available, Cpmd, Sipp, SippRun, Transport};
use serde_json::json;

const CONVERSATION: &str = "4d5e6f70-8192-4a3b-9c4d-5e6f708192a3";
const CONTRIBUTION: &str = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e";
const WAIT: Duration = Duration::from_secs(10);

fn register(ua: &Ua, call_id: &str, expires: u32) {
    ua.send(&ua.request(
        "REGISTER",
        ua.name,
        call_id,
        &format!("Expires: {expires}\r\n"),
        "",
    ));
    ua.expect("SIP/2.0 200");
}

fn deferred_rows(url: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one("SELECT count(*) FROM deferred", &[])
        .expect("count")
        .get(0)
}

fn cpim(id: &str, text: &str) -> String {
    format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {id}\r\n\
         imdn.Disposition-Notification: positive-delivery\r\n\
         DateTime: 2026-12-06T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
    )
}

/// DEF-9, DEF-12 on PostgreSQL: a session message and a pager message acknowledged
/// before a `kill -9` reach bob after the restart, in order, and leave the queue.
#[test]
fn postgres_deferred_session_and_pager_survive_kill_9() {
    if !sipp_available() || !python_available() {
        return;
    }
    let Some(db) = TestDb::create("deferred") else {
        return;
    };
    let mut cpmd = Cpmd::start(&[
        "--udp",
        "127.0.0.1:0",
        "--msrp",
        "127.0.0.1:0",
        "--store",
        &db.url,
    ]);
    let server = cpmd.addr(Transport::Udp);
    let bob = Ua::new("bob", server);
    register(&bob, "bob-reg-1", 300);
    register(&bob, "bob-unreg", 0);

    let mut alice = MsrpClient::spawn(
        "alice",
        &ClientOptions {
            listen: true,
            ..ClientOptions::default()
        },
        cpmd.dir.path(),
    );
    let mut args: Vec<String> = vec!["-m".into(), "1".into()];
    for (k, v) in [
        ("conv", CONVERSATION.to_owned()),
        ("contrib1", CONTRIBUTION.to_owned()),
        ("callee", "bob".to_owned()),
        ("msrp_proto", "TCP/MSRP".to_owned()),
        ("msrp_path", alice.path.clone()),
        ("msrp_port", alice.port().to_string()),
        ("msrp_setup", "passive".to_owned()),
    ] {
        args.extend(["-key".to_owned(), k.to_owned(), v]);
    }
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let run = SippRun {
        server,
        transport: Transport::Udp,
        local: SocketAddr::new(ip, free_port(ip)),
        args,
    };
    Sipp::spawn("msrp_a_call.xml", &run, cpmd.dir.path()).assert_success();
    alice.wait_bound(WAIT);
    let in_session = cpim("pg-s1", "in the session, kept on postgres");
    alice.command(json!({
        "cmd": "send", "message_id": "pg-s1", "content_type": "message/cpim",
        "raw_body": in_session,
    }));
    let answer = alice.expect(WAIT, |e| {
        e["ev"] == "response" && e["message_id"] == "pg-s1"
    });
    assert_eq!(answer["code"], 200, "{answer}");

    // The pager MESSAGE: a raw client registers alice from a socket of its own.
    let a = Ua::new("alice", server);
    a.register();
    let pager = cpim("pg-p1", "a pager message, kept on postgres");
    a.send(&a.request(
        "MESSAGE",
        "bob",
        "pg-pager-1",
        "Conversation-ID: pg-conv\r\nContent-Type: message/cpim\r\n",
        &pager,
    ));
    a.expect("SIP/2.0 202");
    assert_eq!(
        deferred_rows(&db.url),
        2,
        "both durable before their answers"
    );

    cpmd.kill();
    drop(alice);
    cpmd.restart();
    let server = cpmd.addr(Transport::Udp);
    let bob = Ua::new("bob", server);
    register(&bob, "bob-after", 300);
    for (body, conversation) in [(&in_session, CONVERSATION), (&pager, "pg-conv")] {
        let at_b = bob.expect("MESSAGE ");
        assert!(at_b.ends_with(body.as_str()), "in order: {at_b}");
        assert_eq!(header(&at_b, "Conversation-ID"), conversation);
        bob.answer(&at_b, "200 OK");
    }
    // The last 200 is one UDP datagram: wait until cpmd has seen it.
    let deadline = Instant::now() + WAIT;
    while deferred_rows(&db.url) != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(deferred_rows(&db.url), 0, "delivered rows leave the queue");
    assert!(cpmd.stop().success(), "{}", cpmd.log());
}
