//! Hostile input against a real `cpmd` (specs/limits.md): each test performs one
//! attack while [`cpmd_tests::liveness`] pings the SIP listener with OPTIONS, so a
//! path that holds up the single event loop (SIP, MSRP and IMAP share it) fails the
//! test as soon as one OPTIONS goes unanswered for 2 s (LIM-1), and then checks the
//! attack got its defined answer.

use std::net::SocketAddr;
use std::time::Duration;

use cpmd_tests::imap_raw::Imap;
use cpmd_tests::liveness::answers_during;
use cpmd_tests::udp_ua::Ua;
use cpmd_tests::{Cpmd, Transport};

const CONFIG: &str = "[auth.passwords]\nalice = \"a-pass\"\nbob = \"b-pass\"\n";

/// A Conversation-ID long enough that a backtracking wildcard matcher cannot get
/// through the mailbox names it makes.
const LONG_CONVERSATION: &str =
    "attack-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A pager CPIM body whose text is `text`.
fn cpim(n: usize, text: &str) -> String {
    format!(
        "From: <sip:anonymous@anonymous.invalid>\r\n\
         To: <sip:anonymous@anonymous.invalid>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: attack-{n}\r\n\
         DateTime: 2026-12-06T13:00:00Z\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    )
}

/// cpmd with alice's store holding `texts.len()` pager messages to bob in
/// [`LONG_CONVERSATION`] (folder `Default/<LONG_CONVERSATION>`).
fn seeded(texts: &[String]) -> Cpmd {
    let cpmd = Cpmd::start_with_config(Some(CONFIG), &["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    b.register();
    let headers = format!("Conversation-ID: {LONG_CONVERSATION}\r\nContent-Type: message/cpim\r\n");
    for (n, text) in texts.iter().enumerate() {
        let call = format!("attack-seed-{n}");
        a.send(&a.request("MESSAGE", "bob", &call, &headers, &cpim(n, text)));
        let at_b = b.expect("MESSAGE ");
        b.answer(&at_b, "200 OK");
        a.expect("SIP/2.0 200");
    }
    cpmd
}

fn folder() -> String {
    format!("\"Default/{LONG_CONVERSATION}\"")
}

fn imap_addr(cpmd: &Cpmd) -> SocketAddr {
    cpmd.bound
        .iter()
        .find(|(t, _)| t == "imap")
        .map(|(_, a)| *a)
        .expect("imap listener")
}

/// LIST and LSUB with patterns of many `*` and `%` that cannot match: a
/// backtracking matcher needs exponential time per mailbox name (IMAP-7).
#[test]
fn list_wildcard_patterns_do_not_stall_the_server() {
    let cpmd = seeded(&["seed".to_owned()]);
    let imap = imap_addr(&cpmd);
    let (answers, during) = answers_during(cpmd.addr(Transport::Udp), move || {
        let mut c = Imap::login(imap, Duration::from_secs(60), "alice", "a-pass");
        // Sanity: the seeded folder is there and plain patterns still match.
        let all = c.command("LIST \"\" \"*\"");
        assert!(
            String::from_utf8_lossy(&all.untagged).contains(LONG_CONVERSATION),
            "{all:?}"
        );
        let mut answers = Vec::new();
        let too_long = format!("LIST \"\" \"{}x\"", "*".repeat(5000));
        for cmd in [
            "LIST \"\" \"**********x\"",
            "LSUB \"\" \"**********x\"",
            "LIST \"\" \"%*%*%*%*%*%*%*%*%*%*x\"",
            "LIST \"Default/\" \"*a*t*t*a*c*k*-*0*1*2*3*4*5*6*7*8*9*Z\"",
            &too_long,
        ] {
            answers.push(c.command(cmd));
        }
        answers
    });
    assert!(during >= 1, "the attack ended before any probe");
    for a in &answers[..4] {
        assert!(a.status.starts_with("OK"), "{a:?}");
        assert!(a.untagged.is_empty(), "nothing matches: {a:?}");
    }
    // Longer than the pattern cap (IMAP-7): refused, not matched.
    assert!(
        answers[4].status.starts_with("NO [LIMIT]"),
        "{:?}",
        answers[4].status
    );
}

/// FETCH naming one item thousands of times: the answer holds each message's
/// `BODY[]` once (repeated items are answered once, IMAP-7), built off the loop.
#[test]
fn repeated_fetch_items_are_answered_once() {
    let texts: Vec<String> = (0..5).map(|n| format!("{n}").repeat(8_000)).collect();
    let cpmd = seeded(&texts);
    let imap = imap_addr(&cpmd);
    let (answer, during) = answers_during(cpmd.addr(Transport::Udp), move || {
        let mut c = Imap::login(imap, Duration::from_secs(60), "alice", "a-pass");
        let sel = c.command(&format!("EXAMINE {}", folder()));
        assert!(sel.status.starts_with("OK"), "{sel:?}");
        c.command(&format!(
            "FETCH 1:* ({})",
            ["BODY.PEEK[]"; 10_000].join(" ")
        ))
    });
    assert!(during >= 1, "the attack ended before any probe");
    assert!(answer.status.starts_with("OK"), "{}", answer.status);
    let text = String::from_utf8_lossy(&answer.untagged);
    assert_eq!(
        text.matches("BODY[] {").count(),
        texts.len(),
        "one BODY[] each"
    );
    for t in &texts {
        assert!(text.contains(t.as_str()), "every message once");
    }
}

/// SEARCH TEXT with a long needle that almost matches everywhere, over large
/// messages: matched off the loop thread, in linear time (IMAP-7).
#[test]
fn search_text_does_not_stall_the_server() {
    let texts: Vec<String> = (0..5).map(|_| "a".repeat(60_000)).collect();
    let cpmd = seeded(&texts);
    let imap = imap_addr(&cpmd);
    let (answers, during) = answers_during(cpmd.addr(Transport::Udp), move || {
        let mut c = Imap::login(imap, Duration::from_secs(120), "alice", "a-pass");
        let sel = c.command(&format!("EXAMINE {}", folder()));
        assert!(sel.status.starts_with("OK"), "{sel:?}");
        let mut needle = "a".repeat(20_000);
        needle.push('b');
        let miss = c.command_literal("SEARCH TEXT", needle.as_bytes());
        let hit = c.command_literal("SEARCH TEXT", "a".repeat(20_000).as_bytes());
        (miss, hit)
    });
    let (miss, hit) = answers;
    assert!(during >= 1, "the attack ended before any probe");
    assert!(miss.status.starts_with("OK"), "{}", miss.status);
    assert_eq!(
        String::from_utf8_lossy(&miss.untagged).trim_end(),
        "* SEARCH"
    );
    assert!(hit.status.starts_with("OK"), "{}", hit.status);
    assert_eq!(
        String::from_utf8_lossy(&hit.untagged).trim_end(),
        "* SEARCH 1 2 3 4 5"
    );
}

/// Mailboxes alice gets in [`a_user_with_many_mailboxes_is_listed_in_pages`].
const MAILBOXES: usize = 50_000;

/// `Default/c1` … `Default/c{n}` for `user`, straight into cpmd's SQLite store
/// (as thousands of chats would make them, a conversation folder each).
fn seed_mailboxes(cpmd: &Cpmd, user: &str, n: usize) {
    use cpmd::store::sql::Conn as _;
    let mut db = cpmd::store::sqlite::SqliteConn::open(&cpmd.db_path()).expect("open the store");
    db.batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO mailboxes (user_id, name, uid_validity, uid_next) \
         SELECT u.id, 'Default/c' || i, 1, 1 FROM n, users u WHERE u.uri = '{user}'"
    ))
    .expect("seed mailboxes");
}

/// LIM-17: a user whose mailboxes grow without end (a conversation folder per
/// chat) LISTs them all, a narrow pattern, SELECTs and STATUSes one, while SIP
/// keeps being answered. LIST streams from the store a page at a time, SELECT and
/// STATUS look the mailbox up by name. Before LIM-17 every LIST computed each
/// mailbox's counters and children over the whole list (quadratic: 16 s for
/// 20,000 mailboxes in a debug build) and built the answer whole: this LIST had
/// not answered when the client gave up after 60 s.
#[test]
fn a_user_with_many_mailboxes_is_listed_in_pages() {
    let cpmd = Cpmd::start_with_config(Some(CONFIG), &["--udp", "127.0.0.1:0"]);
    let imap = imap_addr(&cpmd);
    let mut c = Imap::login(imap, Duration::from_secs(60), "alice", "a-pass");
    // First sight creates alice (INBOX, Default); then her chats' folders.
    let first = c.command("LIST \"\" INBOX");
    assert!(first.status.starts_with("OK"), "{first:?}");
    seed_mailboxes(&cpmd, "sip:alice@example.com", MAILBOXES);
    let (answers, during) = answers_during(cpmd.addr(Transport::Udp), move || {
        let all = c.command("LIST \"\" \"*\"");
        let some = c.command("LIST \"\" \"Default/c4242*\"");
        let top = c.command("LSUB \"\" %");
        let sel = c.command("EXAMINE \"Default/c4242\"");
        let st = c.command("STATUS \"Default\" (MESSAGES UIDNEXT)");
        [all, some, top, sel, st]
    });
    assert!(during >= 1, "the attack ended before any probe");
    for a in &answers {
        assert!(a.status.starts_with("OK"), "{:?}", a.status);
    }
    let lines = |a: &cpmd_tests::imap_raw::Answer| -> Vec<String> {
        String::from_utf8_lossy(&a.untagged)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let all = lines(&answers[0]);
    assert_eq!(all.len(), MAILBOXES + 2, "INBOX, Default and every chat's");
    assert!(all.iter().all(|l| l.starts_with("* LIST (")));
    assert!(all.contains(&"* LIST (\\HasChildren) \"/\" Default".to_owned()));
    assert!(all.contains(&format!(
        "* LIST (\\HasNoChildren) \"/\" Default/c{MAILBOXES}"
    )));
    // c4242 and c42420 … c42429.
    assert_eq!(lines(&answers[1]).len(), 11, "{:?}", lines(&answers[1]));
    assert_eq!(lines(&answers[2]).len(), 2, "INBOX and Default");
    assert!(lines(&answers[3]).contains(&"* 0 EXISTS".to_owned()));
    assert!(
        lines(&answers[4])[0].contains("MESSAGES 0"),
        "{:?}",
        lines(&answers[4])
    );
}

/// LIM-6: bob registers over TCP and never reads; alice sends him pager MESSAGEs
/// (60 KB each) over UDP. cpmd queues what the socket does not take up to
/// `tcp_write_queue_bytes` (1 MiB here), then closes bob's connection instead of
/// growing: bob, reading at last, finds the end of the stream. Before issue 12 the
/// queue grew without bound and the connection stayed open.
#[test]
fn a_tcp_peer_that_never_reads_loses_its_connection() {
    use std::io::{Read as _, Write as _};
    let config = format!("{CONFIG}[limits]\ntcp_write_queue_bytes = 1048576\n");
    let cpmd = Cpmd::start_with_config(
        Some(&config),
        &["--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"],
    );
    let udp = cpmd.addr(Transport::Udp);
    let tcp = cpmd.addr(Transport::Tcp);
    let mut bob = std::net::TcpStream::connect(tcp).expect("connect");
    let port = bob.local_addr().unwrap().port();
    bob.write_all(
        format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bKreg-slow-bob\r\n\
             Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=bob-tag\r\n\
             To: <sip:bob@example.com>\r\nCall-ID: reg-slow-bob\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:bob@127.0.0.1:{port};transport=tcp>\r\nExpires: 300\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut first = [0u8; 1024];
    let n = bob.read(&mut first).expect("REGISTER answered");
    assert!(first[..n].starts_with(b"SIP/2.0 200"), "{:?}", &first[..n]);
    let alice = Ua::new("alice", udp);
    alice.register();
    let text = "x".repeat(60_000);
    let ((), during) = answers_during(udp, move || {
        let headers = "Conversation-ID: slow-reader\r\nContent-Type: message/cpim\r\n";
        for n in 0..200 {
            let call = format!("slow-{n}");
            alice.send(&alice.request("MESSAGE", "bob", &call, headers, &cpim(n, &text)));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert!(during >= 1, "the attack ended before any probe");
    assert!(
        cpmd.wait_log("write queue full", Duration::from_secs(20)),
        "cpmd never gave up on bob's connection"
    );
    // Bob reads at last: what was written, then the end of the stream.
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match bob.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("bob's connection still open after the cap: {e}"),
        }
    }
}

/// Whether the peer closes `s` within 5 s (end of stream or reset), reading and
/// discarding what comes before.
fn closed_by_peer(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read as _;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// LIM-7: one address opening connections and staying silent. SIP over TCP: past
/// `max_connections_per_ip` (4 here) a connection is closed at once, and a silent
/// one is closed after `tcp_first_bytes_timeout_s` (1 s here; 600 s of idle time
/// before issue 12). IMAP: past its `max_connections_per_ip` (2) a connection is
/// greeted BYE, and one that does not log in gets BYE after `login_timeout_s` (1 s;
/// 30 minutes before).
#[test]
fn silent_connection_floods_are_capped_and_timed_out() {
    let config = format!(
        "{CONFIG}[limits]\nmax_connections_per_ip = 4\ntcp_first_bytes_timeout_s = 1\n\
         [imap]\nlisten = \"127.0.0.1:0\"\nmax_connections_per_ip = 2\nlogin_timeout_s = 1\n"
    );
    let cpmd = Cpmd::start_with_config(
        Some(&config),
        &["--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"],
    );
    let tcp = cpmd.addr(Transport::Tcp);
    let imap = imap_addr(&cpmd);
    let ((), during) = answers_during(cpmd.addr(Transport::Udp), move || {
        let connect = |a| std::net::TcpStream::connect(a).expect("connect");
        let mut sip: Vec<_> = (0..4).map(|_| connect(tcp)).collect();
        // Past the per-address cap: closed at once (well before the 1 s timeout
        // would close it, but either way closed; the log tells which).
        let mut fifth = connect(tcp);
        assert!(closed_by_peer(&mut fifth), "5th SIP connection kept open");
        for s in &mut sip {
            assert!(closed_by_peer(s), "a silent SIP connection kept open");
        }
        let mut first = Imap::connect(imap, Duration::from_secs(5));
        let mut second = std::net::TcpStream::connect(imap).unwrap();
        let mut third = std::net::TcpStream::connect(imap).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut greeting = [0u8; 64];
        let n = std::io::Read::read(&mut third, &mut greeting).unwrap();
        assert!(
            greeting[..n].starts_with(b"* BYE"),
            "3rd IMAP connection greeted"
        );
        // Not logged in: BYE, then closed.
        let err = first.try_command("NOOP");
        assert!(
            matches!(&err, Ok(a) if a.status.starts_with("OK")),
            "a command before the timeout is served: {err:?}"
        );
        assert!(
            closed_by_peer(&mut second),
            "an IMAP connection that never logs in kept open"
        );
    });
    assert!(during >= 1, "the attack ended before any probe");
    assert!(
        cpmd.wait_log("connections per address reached", Duration::from_secs(5)),
        "the 5th connection was not refused for its address"
    );
    assert!(
        cpmd.wait_log("nothing sent after connecting", Duration::from_secs(5)),
        "silent connections were not closed for silence"
    );
}
