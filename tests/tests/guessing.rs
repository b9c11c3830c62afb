//! SEC-4f against a real `cpmd` (specs/security.md): online password guessing with
//! a raw UDP client. Mallory guesses Alice's password from 127.0.0.1 (SIP digest,
//! SHA-256): after `max_failures_per_user_source` (3 here) wrong passwords, the
//! right one is refused too (403 `Too many failed attempts`, `Retry-After`), and so
//! is an IMAP LOGIN with it from the same address (one table for SIP and IMAP);
//! OPTIONS keep being answered; Alice from another source (127.0.0.2) and Bob from
//! Mallory's address register; once the window (4 s here) passed, the right password
//! works again.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cpmd_tests::imap_raw::Imap;
use cpmd_tests::{Cpmd, Transport};
use sha2::{Digest, Sha256};

const CONFIG: &str = "[auth]\nenabled = true\nalgorithms = [\"SHA-256\"]\n\
    [auth.passwords]\nalice = \"a-pass\"\nbob = \"b-pass\"\n\
    [trust]\nfailure_window_s = 4\nmax_failures_per_user_source = 3\n\
    failure_delay_ms = 50\nmax_failure_delay_ms = 200\nmax_user_failure_delay_ms = 100\n";

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A raw SIP terminal on `ip`.
struct Terminal {
    sock: UdpSocket,
    server: SocketAddr,
    calls: u32,
}

impl Terminal {
    fn new(ip: &str, server: SocketAddr) -> Self {
        let sock = UdpSocket::bind((ip, 0)).expect("bind (127.0.0.2 is loopback on Linux)");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Self {
            sock,
            server,
            calls: 0,
        }
    }

    /// Sends `method` as `user` (with `auth`, an Authorization value) and returns
    /// the final answer.
    fn request(&mut self, method: &str, user: &str, auth: Option<String>) -> String {
        self.calls += 1;
        let local = self.sock.local_addr().expect("addr");
        let call = format!("guess-{}-{}-{}", local.ip(), local.port(), self.calls);
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let to = if method == "REGISTER" {
            format!("<sip:{user}@example.com>")
        } else {
            "<sip:example.com>".to_owned()
        };
        let text = format!(
            "{method} sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{call};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag={call}\r\n\
             To: {to}\r\nCall-ID: {call}\r\nCSeq: 1 {method}\r\n\
             Contact: <sip:{user}@{local}>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        self.sock
            .send_to(text.as_bytes(), self.server)
            .expect("send");
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("an answer");
            let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !reply.starts_with("SIP/2.0 100") {
                return reply;
            }
        }
    }

    /// A REGISTER of `user` with `password`: challenge, then credentials.
    fn register(&mut self, user: &str, password: &str) -> String {
        let challenge = self.request("REGISTER", user, None);
        assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
        let start = challenge.find("nonce=\"").expect("nonce") + 7;
        let nonce = challenge[start..].split('"').next().expect("quote");
        let uri = "sip:example.com";
        let ha1 = sha(&format!("{user}:example.com:{password}"));
        let ha2 = sha(&format!("REGISTER:{uri}"));
        let response = sha(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let auth = format!(
            "Digest username=\"{user}\", realm=\"example.com\", nonce=\"{nonce}\", \
             uri=\"{uri}\", algorithm=SHA-256, response=\"{response}\", qop=auth, \
             nc=00000001, cnonce=\"c0ffee\""
        );
        self.request("REGISTER", user, Some(auth))
    }
}

fn imap_addr(cpmd: &Cpmd) -> SocketAddr {
    cpmd.bound
        .iter()
        .find(|(t, _)| t == "imap")
        .map(|(_, a)| *a)
        .expect("imap listener")
}

#[test]
fn sec_4f_guessing_locks_out_the_guesser_only_until_the_window_passes() {
    let cpmd = Cpmd::start_with_config(Some(CONFIG), &["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let mut mallory = Terminal::new("127.0.0.1", server);
    for guess in ["123456", "password", "alice"] {
        let answer = mallory.register("alice", guess);
        assert!(answer.starts_with("SIP/2.0 403 Forbidden"), "{answer}");
    }
    let blocked = mallory.register("alice", "a-pass");
    assert!(
        blocked.starts_with("SIP/2.0 403 Too many failed attempts"),
        "{blocked}"
    );
    let retry: u64 = blocked
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .expect("Retry-After")
        .trim()
        .parse()
        .expect("seconds");
    assert!((1..=4).contains(&retry), "{blocked}");

    // The same password over IMAP from the same address: the same table.
    let mut imap = Imap::connect(imap_addr(&cpmd), Duration::from_secs(10));
    let login = imap.command("LOGIN alice a-pass");
    assert!(
        login.status.starts_with("NO") && login.status.contains("too many failed logins"),
        "{login:?}"
    );

    let options = mallory.request("OPTIONS", "alice", None);
    assert!(options.starts_with("SIP/2.0 200"), "{options}");
    let mut alice = Terminal::new("127.0.0.2", server);
    let ok = alice.register("alice", "a-pass");
    assert!(ok.starts_with("SIP/2.0 200"), "another source: {ok}");
    let mut bob = Terminal::new("127.0.0.1", server);
    let ok = bob.register("bob", "b-pass");
    assert!(ok.starts_with("SIP/2.0 200"), "another user: {ok}");

    // Blocked attempts do not extend the window: it ends 4 s after the first failure.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = mallory.register("alice", "a-pass");
        if answer.starts_with("SIP/2.0 200") {
            break;
        }
        assert!(
            answer.starts_with("SIP/2.0 403 Too many failed attempts"),
            "{answer}"
        );
        assert!(Instant::now() < deadline, "still refused after 20 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}
