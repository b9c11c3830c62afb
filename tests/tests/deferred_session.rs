//! Store-and-forward chat sessions over real sockets (specs/deferred.md, "Sessions
//! to an offline user", DEF-12): sipp plays alice's SIP side (`msrp_a_call.xml`)
//! and calls bob, who registered once but has no device now; cpmd answers the
//! session itself; the independent Python MSRP client (`tests/msrp/msrp_client.py`)
//! sends alice's messages, each answered 200 once durable (and a `stored` IMDN in
//! the session when asked); bob, a raw UDP client, registers again and gets them as
//! pager MESSAGEs, in order, with the session's Conversation-ID and
//! Contribution-ID; each user's store holds each message once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use cpmd::store::sql::Conn;
use cpmd_tests::msrp::{python_available, ClientOptions, MsrpClient};
use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{free_port, sipp_available, Cpmd, Sipp, SippRun, Transport};
use serde_json::json;

const CONVERSATION: &str = "2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901";
const CONTRIBUTION: &str = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d";
const WAIT: Duration = Duration::from_secs(10);

fn local() -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    SocketAddr::new(ip, free_port(ip))
}

/// A REGISTER of `ua` with `expires` on a Call-ID of its own (a new transaction).
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

fn count(db: &Path, sql: &str) -> i64 {
    let mut conn = cpmd::store::sqlite::SqliteConn::open(db).expect("open store");
    conn.query_one(sql, &[])
        .expect("query")
        .int(0)
        .expect("count")
}

fn deferred_rows(db: &Path) -> i64 {
    count(db, "SELECT count(*) FROM deferred")
}

/// Live standalone entries of `user`'s mailboxes.
fn standalone_entries(db: &Path, user: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT count(*) FROM entries e JOIN mailboxes m ON e.mailbox = m.id \
             JOIN users u ON m.user_id = u.id WHERE e.kind = 'standalone' \
             AND e.expunged = 0 AND u.uri = '{user}'"
        ),
    )
}

/// A CPIM body from alice asking for `notify`.
fn cpim(id: &str, notify: &str, text: &str) -> String {
    format!(
        "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {id}\r\n\
         imdn.Disposition-Notification: {notify}\r\n\
         DateTime: 2026-12-06T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
    )
}

/// DEF-12, DEF-8: alice's session to offline bob is answered by cpmd; her MSRP
/// messages are 200 once stored (`stored` in the session for the one that asked);
/// bob's next REGISTER brings them as pager MESSAGEs in order with the session's
/// IDs; each user's store holds each message once, and the queue empties.
#[test]
fn sipp_session_to_an_offline_user_is_delivered_on_register_def_12() {
    if !sipp_available() || !python_available() {
        return;
    }
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--msrp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let db = cpmd.db_path();
    let bob = Ua::new("bob", server);
    register(&bob, "bob-reg-1", 300);
    register(&bob, "bob-unreg", 0);

    // alice listens (a=setup:passive): cpmd connects and binds.
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
    let run = SippRun {
        server,
        transport: Transport::Udp,
        local: local(),
        args,
    };
    Sipp::spawn("msrp_a_call.xml", &run, cpmd.dir.path()).assert_success();
    alice.wait_bound(WAIT);

    let texts = [
        (
            "s-e2e-1",
            "positive-delivery, processing",
            "first, kept for bob",
        ),
        ("s-e2e-2", "positive-delivery", "second, kept for bob"),
    ];
    for (id, notify, text) in texts {
        alice.command(json!({
            "cmd": "send", "message_id": id, "content_type": "message/cpim",
            "raw_body": cpim(id, notify, text),
        }));
        let answer = alice.expect(WAIT, |e| e["ev"] == "response" && e["message_id"] == id);
        assert_eq!(answer["code"], 200, "{answer}");
    }
    let stored = alice.expect(WAIT, |e| e["ev"] == "message");
    let stored_body = stored["body"].as_str().unwrap_or_default();
    assert!(
        stored_body.contains("<stored/>") && stored_body.contains("s-e2e-1"),
        "{stored}"
    );
    // Each 200 came after the store's commit (DEF-2): no waiting needed.
    assert_eq!(deferred_rows(&db), 2);

    register(&bob, "bob-reg-2", 300);
    for (id, _, text) in texts {
        let at_b = bob.expect("MESSAGE ");
        assert!(at_b.contains(&format!("imdn.Message-ID: {id}")), "{at_b}");
        assert!(at_b.ends_with(text), "{at_b}");
        assert_eq!(header(&at_b, "Conversation-ID"), CONVERSATION);
        assert_eq!(header(&at_b, "Contribution-ID"), CONTRIBUTION);
        assert!(header(&at_b, "From").contains("sip:alice@example.com"));
        bob.answer(&at_b, "200 OK");
    }
    // The rows go once cpmd has seen bob's 200s (a UDP datagram each): poll.
    let deadline = Instant::now() + WAIT;
    while deferred_rows(&db) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(deferred_rows(&db), 0, "both delivered and removed");
    assert_eq!(standalone_entries(&db, "sip:alice@example.com"), 2);
    assert_eq!(standalone_entries(&db, "sip:bob@example.com"), 2);
    cpmd.stop();
}
