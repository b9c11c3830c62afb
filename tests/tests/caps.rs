//! The core's table caps and the per-user quota attacked over real sockets
//! (specs/limits.md, LIM-11, LIM-12, LIM-14), each while the liveness prober of
//! [`cpmd_tests::liveness`] checks that SIP keeps answering (LIM-1).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use cpmd_tests::liveness::answers_during;
use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{Cpmd, Transport};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 7001 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
    a=path:msrp://127.0.0.1:7001/x;tcp\r\na=setup:active\r\na=sendrecv\r\n";

/// Every final answer to `n` OPTIONS sent as fast as the socket takes them (each
/// its own transaction), by status line; waits until 2 s pass without an answer.
fn options_flood(server: std::net::SocketAddr, n: usize) -> Vec<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = sock.local_addr().expect("addr").port();
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_535];
    sock.set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    for i in 0..n {
        let call = format!("flood-{i}");
        let req = format!(
            "OPTIONS sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:eve@example.com>;tag=eve\r\n\
             To: <sip:example.com>\r\nCall-ID: {call}\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        );
        sock.send_to(req.as_bytes(), server).expect("send");
        // Read what is there so the socket's receive buffer never overflows.
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            answers.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
    }
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        answers.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    answers
}

/// LIM-11: a flood of new UDP requests (each lingers 64·T1 in the transaction
/// table) fills the table: past `max_transactions` every new request is answered
/// 503 with `Retry-After` and adds nothing, so at most the cap is ever admitted.
/// (Before issue 12 every one got a 200 and a 32-second table entry.)
#[test]
fn a_transaction_flood_gets_503_with_retry_after() {
    let cpmd = Cpmd::start_with_config(
        // T1 = 2 s: each answered OPTIONS lingers 64·T1 = 128 s, longer than the
        // flood runs on a loaded machine.
        Some("[limits]\nmax_transactions = 200\nretry_after_s = 9\n[timers]\nt1_ms = 2000\n"),
        &["--udp", "127.0.0.1:0"],
    );
    let server = cpmd.addr(Transport::Udp);
    let (answers, _) = answers_during(server, move || options_flood(server, 1500));
    let ok = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 200"))
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.starts_with("SIP/2.0 503"))
        .collect();
    assert_eq!(ok + refused.len(), answers.len(), "only 200 or 503");
    // The prober's OPTIONS share the table: the flood gets at most the cap.
    assert!(ok <= 200, "{ok} admitted past a cap of 200");
    assert!(refused.len() >= 1000, "{} refused of 1500", refused.len());
    for r in refused {
        assert!(r.starts_with("SIP/2.0 503 Server overloaded"), "{r}");
        assert_eq!(header(r, "Retry-After"), "9");
    }
}

/// LIM-12: INVITEs that ring forever fill the session table; past `max_sessions`
/// a new INVITE is answered 503 with `Retry-After` and never reaches the callee.
#[test]
fn a_session_flood_gets_503_with_retry_after() {
    let cpmd = Cpmd::start_with_config(
        Some("[limits]\nmax_sessions = 3\n"),
        &["--udp", "127.0.0.1:0"],
    );
    let server = cpmd.addr(Transport::Udp);
    let ((), _) = answers_during(server, move || {
        let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
        a.register();
        b.register();
        for i in 0..3 {
            let cpm = format!(
                "Conversation-ID: conv-flood\r\nContribution-ID: k-{i}\r\nContent-Type: application/sdp\r\n"
            );
            a.send(&a.request("INVITE", "bob", &format!("ring-{i}"), &cpm, SDP));
            // Bob's phone rings; nobody answers.
            let invite = b.expect("INVITE ");
            b.answer(&invite, "180 Ringing");
        }
        let cpm = "Conversation-ID: conv-flood\r\nContribution-ID: k-3\r\nContent-Type: application/sdp\r\n";
        a.send(&a.request("INVITE", "bob", "ring-3", cpm, SDP));
        let refused = a.expect("SIP/2.0 503");
        assert_eq!(header(&refused, "Call-ID"), "ring-3");
        assert_eq!(header(&refused, "Retry-After"), "5");
        b.sock
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut buf = vec![0u8; 65_535];
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Ok((n, _)) = b.sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(
                    !text.contains("ring-3"),
                    "the refused INVITE reached bob: {text}"
                );
            }
        }
    });
}

/// Waits for whichever comes first: the MESSAGE relayed to `to` (`Ok`), or a final
/// answer to `from` (`Err`, the refusal).
fn relayed_or_refused(from: &Ua, to: &Ua) -> Result<String, String> {
    let mut buf = vec![0u8; 65_535];
    let deadline = Instant::now() + Duration::from_secs(10);
    for ua in [from, to] {
        ua.sock
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
    }
    let result = loop {
        assert!(Instant::now() < deadline, "neither relayed nor refused");
        if let Ok((n, _)) = to.sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("MESSAGE ") {
                break Ok(text);
            }
        }
        if let Ok((n, _)) = from.sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                break Err(text);
            }
        }
    };
    for ua in [from, to] {
        ua.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    result
}

fn pager(from: &Ua, to: &str, call: &str, text: &str) {
    let cpm = "Conversation-ID: conv-quota\r\nContent-Type: text/plain\r\n";
    from.send(&from.request("MESSAGE", to, call, cpm, text));
}

/// LIM-14 with a small quota: alice's pager messages to bob are stored (and her
/// and bob's bytes charged) until alice is over quota; then her next MESSAGE gets
/// 403 "Quota exceeded" and is neither stored nor relayed. carol, under quota,
/// still reaches bob, who is over quota too: carol is acknowledged, bob's copy is
/// skipped and recorded.
#[test]
fn a_small_user_quota_refuses_the_sender_and_skips_the_recipient() {
    let mut cpmd = Cpmd::start_with_config(
        Some("[limits]\nuser_quota_bytes = 2000\n"),
        &["--udp", "127.0.0.1:0"],
    );
    let server = cpmd.addr(Transport::Udp);
    let (a, b, c) = (
        Ua::new("alice", server),
        Ua::new("bob", server),
        Ua::new("carol", server),
    );
    for ua in [&a, &b, &c] {
        ua.register();
    }
    let text = "x".repeat(700);
    let mut stored = 0;
    let refused = loop {
        assert!(stored < 10, "alice never ran over a quota of 2000 bytes");
        pager(&a, "bob", &format!("quota-{stored}"), &text);
        match relayed_or_refused(&a, &b) {
            Ok(at_b) => {
                stored += 1;
                b.answer(&at_b, "200 OK");
                a.expect("SIP/2.0 200");
            }
            Err(refused) => break refused,
        }
    };
    assert!(stored >= 1, "the first message fits the quota");
    assert!(
        refused.starts_with("SIP/2.0 403 Quota exceeded"),
        "{refused}"
    );

    pager(&c, "bob", "quota-carol", "from carol");
    let at_b = b.expect("MESSAGE ");
    assert!(at_b.contains("from carol"));
    b.answer(&at_b, "200 OK");
    c.expect("SIP/2.0 200");

    cpmd.stop();
    let records = cpmd.history();
    let standalone = records.iter().filter(|r| r["kind"] == "standalone").count();
    assert_eq!(standalone, stored + 1, "the refused message is not stored");
    let url = cpmd::store::StoreUrl::Sqlite(cpmd.db_path());
    let skipped: Vec<String> = cpmd::store::quota::skipped_copies(&url)
        .expect("read quota_skips")
        .into_iter()
        .map(|s| format!("{} {}", s.user, s.kind))
        .collect();
    assert_eq!(skipped, ["sip:bob@example.com standalone"]);
}
