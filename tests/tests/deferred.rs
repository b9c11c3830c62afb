//! Deferred messaging over real sockets (specs/deferred.md): a pager MESSAGE to bob,
//! who registered once but has no device now, is answered 202, filed once in each
//! user's store, and delivered when bob registers again; one acknowledged before a
//! `kill -9` is delivered after the restart; each deferral is POSTed to a local HTTP
//! receiver (Python's `http.server`), retried after a 503. The terminals are raw
//! UDP clients (`cpmd_tests::udp_ua`), and sipp for the plain flow
//! (`a_pager_deferred.xml`, `b_pager_deferred.xml`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cpmd::store::sql::Conn;
use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{free_port, sipp_available, tool_available, Cpmd, Sipp, SippRun, Transport};

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn cpim(message_id: &str, notify: &str, text: &str) -> String {
    format!(
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
         NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {message_id}\r\n\
         imdn.Disposition-Notification: {notify}\r\n\
         DateTime: 2024-05-06T07:08:09Z\r\n\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\r\n{text}"
    )
}

const CPM: &str = "Conversation-ID: conv-deferred\r\nContent-Type: message/cpim\r\n";

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

/// How many live mailbox entries of kind `standalone` each user's store holds.
fn standalone_entries(db: &Path) -> Vec<(String, i64)> {
    let mut conn = cpmd::store::sqlite::SqliteConn::open(db).expect("open store");
    conn.query(
        "SELECT u.uri, count(*) FROM entries e JOIN mailboxes m ON e.mailbox = m.id \
         JOIN users u ON m.user_id = u.id WHERE e.kind = 'standalone' AND e.expunged = 0 \
         GROUP BY u.uri ORDER BY u.uri",
        &[],
    )
    .expect("query")
    .into_iter()
    .map(|r| (r.text(0).expect("uri"), r.int(1).expect("count")))
    .collect()
}

fn deferred_rows(db: &Path) -> i64 {
    let mut conn = cpmd::store::sqlite::SqliteConn::open(db).expect("open store");
    conn.query_one("SELECT count(*) FROM deferred", &[])
        .expect("query")
        .int(0)
        .expect("count")
}

/// DEF-1, DEF-8, DEF-10: bob registered once, then left; alice's MESSAGE is 202,
/// alice hears `stored`, bob gets it on his next REGISTER, his IMDN `delivered`
/// reaches alice, and each user's store holds the message once.
#[test]
fn deferred_message_is_delivered_when_bob_registers() {
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    let carol = Ua::new("carol", server);
    // carol never registered: not known, 480 and nothing kept (DEF-1).
    a.send(&a.request(
        "MESSAGE",
        "carol",
        "to-carol",
        CPM,
        &cpim("c1", "positive-delivery", "hi"),
    ));
    a.expect("SIP/2.0 480");
    drop(carol);
    register(&b, "bob-reg-1", 300);
    register(&b, "bob-unreg", 0);
    let text = cpim("d-e2e-1", "positive-delivery, processing", "kept for later");
    a.send(&a.request("MESSAGE", "bob", "d-call-1", CPM, &text));
    a.expect("SIP/2.0 202");
    let stored = a.expect("MESSAGE ");
    assert!(body(&stored).contains("<stored/>"), "{stored}");
    assert!(
        header(&stored, "From").contains("sip:bob@example.com"),
        "{stored}"
    );
    a.answer(&stored, "200 OK");
    assert_eq!(deferred_rows(&cpmd.db_path()), 1);

    register(&b, "bob-reg-2", 300);
    let at_b = b.expect("MESSAGE ");
    assert_eq!(body(&at_b), text);
    assert_eq!(header(&at_b, "Conversation-ID"), "conv-deferred");
    b.answer(&at_b, "200 OK");

    let imdn =
        "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
        NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: d-imdn-1\r\n\r\n\
        Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n\
        <?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>d-e2e-1</message-id>\
        <delivery-notification><status><delivered/></status></delivery-notification></imdn>";
    b.send(&b.request("MESSAGE", "alice", "d-imdn-call", CPM, imdn));
    let at_a = a.expect("MESSAGE ");
    assert_eq!(body(&at_a), imdn);
    a.answer(&at_a, "200 OK");
    b.expect("SIP/2.0 200");

    cpmd.stop();
    assert_eq!(
        deferred_rows(&cpmd.db_path()),
        0,
        "delivered: the row is gone"
    );
    assert_eq!(
        standalone_entries(&cpmd.db_path()),
        [
            ("sip:alice@example.com".to_owned(), 1),
            ("sip:bob@example.com".to_owned(), 1)
        ],
        "DEF-8: once in each user's store"
    );
    let delivered = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "disposition" && l["message_id"] == "d-e2e-1")
        .count();
    assert_eq!(delivered, 1, "bob's delivered is recorded");
}

/// DEF-9: a MESSAGE answered 202 before a `kill -9` is delivered after the restart.
#[test]
fn deferred_message_survives_kill_9() {
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    register(&b, "bob-reg-1", 300);
    register(&b, "bob-unreg", 0);
    let first = cpim("k1", "positive-delivery", "before the crash 1");
    let second = cpim("k2", "positive-delivery", "before the crash 2");
    a.send(&a.request("MESSAGE", "bob", "k-call-1", CPM, &first));
    a.expect("SIP/2.0 202");
    a.send(&a.request("MESSAGE", "bob", "k-call-2", CPM, &second));
    a.expect("SIP/2.0 202");
    cpmd.kill();
    cpmd.restart();
    let server = cpmd.addr(Transport::Udp);
    let b = Ua::new("bob", server);
    register(&b, "bob-after", 300);
    for expected in [&first, &second] {
        let at_b = b.expect("MESSAGE ");
        assert_eq!(body(&at_b), expected.as_str(), "in order");
        b.answer(&at_b, "200 OK");
    }
    // The last 200 is one UDP datagram: stopping right after sending it can
    // beat it to the server, and then the row rightly stays (DEF-9 keeps an
    // unconfirmed message). Wait until the server has seen both answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while deferred_rows(&cpmd.db_path()) != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    cpmd.stop();
    assert_eq!(deferred_rows(&cpmd.db_path()), 0);
    assert!(
        cpmd.log().contains("deferred messages restored"),
        "{}",
        cpmd.log()
    );
}

/// A local HTTP receiver: answers the first POST 503 and the rest 204, and
/// appends each body as one line to `posts`. Prints its port first.
const RECEIVER: &str = r#"
import http.server, sys
posts = sys.argv[1]
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        seen[0] += 1
        with open(posts, "ab") as f:
            f.write(body + b"\n")
        self.send_response(503 if seen[0] == 1 else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// DEF-11: the deferral is POSTed as JSON without the body; a 503 is retried.
#[test]
fn push_hook_posts_to_a_local_receiver() {
    if !tool_available("python3", &["--version"], "python3") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let posts = dir.path().join("posts");
    let mut child = Command::new("python3")
        .args(["-c", RECEIVER])
        .arg(&posts)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut port = String::new();
    {
        use std::io::BufRead as _;
        let out = child.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut port)
            .expect("port line");
    }
    let _receiver = Receiver(child);
    let config = format!(
        "[push]\nurl = \"http://127.0.0.1:{}/cpmd-push\"\ntimeout_s = 2\nretries = 2\n",
        port.trim()
    );
    let mut cpmd = Cpmd::start_with_config(Some(&config), &["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    register(&b, "bob-reg-1", 300);
    register(&b, "bob-unreg", 0);
    a.send(&a.request(
        "MESSAGE",
        "bob",
        "p-call-1",
        CPM,
        &cpim("p1", "positive-delivery", "secret text"),
    ));
    a.expect("SIP/2.0 202");
    // The first POST is refused 503, the retry (1 s later) accepted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let text = std::fs::read_to_string(&posts).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 2 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "posts so far: {lines:?}\n{}",
            cpmd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 2, "one retry, then done: {lines:?}");
    assert_eq!(lines[0], lines[1], "the retry posts the same document");
    let doc: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(
        doc,
        serde_json::json!({
            "recipient": "sip:bob@example.com",
            "sender": "sip:alice@example.com",
            "kind": "pager",
            "conversation_id": "conv-deferred",
        })
    );
    assert!(
        !lines[0].contains("secret text"),
        "no body unless configured"
    );
    cpmd.stop();
}

/// DEF-2, DEF-3 with sipp on both ends: bob is a listed user who never registered;
/// alice's MESSAGE gets 202, and bob's first REGISTER brings it to him.
#[test]
fn sipp_alice_defers_and_sipp_bob_receives_on_register() {
    if !sipp_available() {
        return;
    }
    let mut cpmd = Cpmd::start_with_config(
        Some("users = [\"alice\", \"bob\"]\n"),
        &["--udp", "127.0.0.1:0"],
    );
    let server = cpmd.addr(Transport::Udp);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |port: u16| SippRun {
        server,
        transport: Transport::Udp,
        local: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        args: vec!["-m".into(), "1".into()],
    };
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    Sipp::spawn("a_pager_deferred.xml", &run(free_port(ip)), dir.path()).assert_success();
    let bob = run(free_port(ip));
    let mut register = bob.clone();
    register.args.extend(["-s".to_owned(), "bob".to_owned()]);
    Sipp::spawn("register.xml", &register, dir.path()).assert_success();
    Sipp::spawn("b_pager_deferred.xml", &bob, dir.path()).assert_success();
    cpmd.stop();
    assert_eq!(deferred_rows(&cpmd.db_path()), 0, "delivered");
    let kept: Vec<_> = cpmd
        .history()
        .into_iter()
        .filter(|l| l["kind"] == "standalone" && l["message_id"] == "sipp-deferred-1")
        .collect();
    assert_eq!(kept.len(), 1, "filed once");
}
