//! The real `cpmd` binary relays an MSRP message between two raw TCP peers
//! (specs/msrp.md MSRP-2, MSRP-7): A and B set the session up over SIP/UDP (requests
//! and B's answer built by `cpmd_core::testing`, printed by the core's encoder; the
//! MSRP side is plain text written here); A connects to the server's MSRP
//! listener (A's offer is `active`), the server connects to B (B's answer is
//! `passive`) and binds with an empty SEND; A's SEND arrives at B as the server's
//! own SEND with the same body.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cpmd_core::sip::{MediaType, Request, SipMessage, StatusCode};
use cpmd_core::testing;
use cpmd_core::wire::{decode_message, encode_message, Limits};
use cpmd_core::{CallId, Tag, Transport};

const WAIT: Duration = Duration::from_secs(10);

struct Cpmd(Child);

impl Drop for Cpmd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts cpmd on loopback with port 0 listeners; returns its UDP and MSRP addresses.
fn start(dir: &std::path::Path) -> (Cpmd, SocketAddr, SocketAddr) {
    let ready = dir.join("ready");
    let child = Command::new(env!("CARGO_BIN_EXE_cpmd"))
        .args([
            "--udp",
            "127.0.0.1:0",
            "--msrp",
            "127.0.0.1:0",
            // Not the default 1143: another cpmd on the machine may hold it.
            "--imap",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cpmd");
    let cpmd = Cpmd(child);
    let deadline = Instant::now() + WAIT;
    let line = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break text;
        }
        assert!(Instant::now() < deadline, "no ready line");
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr = |name: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
            .parse()
            .unwrap()
    };
    let (udp, msrp) = (addr("udp"), addr("msrp"));
    (cpmd, udp, msrp)
}

fn sdp(port: u16, session: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=path:msrp://127.0.0.1:{port}/{session};tcp\r\na=setup:{setup}\r\n"
    )
}

/// Receives SIP datagrams until one whose first line contains `start`.
fn recv_sip(sock: &UdpSocket, start: &str) -> String {
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no {start}");
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.lines().next().is_some_and(|l| l.contains(start)) {
            return text;
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// `user` sending from `sock` a new request with tag `tag`, Call-ID `call` and branch
/// `z9hG4bK{branch}`.
fn sender(sock: &UdpSocket, user: &str, tag: &str, call: &str, branch: &str) -> testing::Sender {
    let SocketAddr::V4(me) = sock.local_addr().unwrap() else {
        panic!("the test's sockets are IPv4");
    };
    testing::Sender::new(
        testing::sip_uri(user, "example.com"),
        &Tag::new(tag),
        CallId::new(call),
        testing::via(Transport::Udp, me, branch),
        testing::contact(user, me),
    )
}

fn send(sock: &UdpSocket, message: SipMessage) {
    sock.send(&encode_message(&message)).unwrap();
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

fn path_in(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path in the server's sdp")
        .trim()
        .to_owned()
}

fn register(sock: &UdpSocket, user: &str) {
    let from = sender(
        sock,
        user,
        &format!("r{user}"),
        &format!("reg-{user}"),
        &format!("-reg-{user}"),
    );
    let aor = testing::sip_uri(user, "example.com");
    send(
        sock,
        SipMessage::Request(testing::register("example.com", aor, 600, from)),
    );
    recv_sip(sock, "200");
}

/// Reads from `stream` until one whole MSRP message (its end-line) is buffered.
fn read_msrp(stream: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(pending).into_owned();
        if let Some(tid) = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
        {
            let end = format!("-------{tid}");
            if let Some(at) = text.find(&end) {
                let stop = at + end.len() + 3; // flag + CRLF
                if text.len() >= stop {
                    pending.drain(..stop);
                    return text[..stop].to_owned();
                }
            }
        }
        assert!(Instant::now() < deadline, "no whole msrp message: {text:?}");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("read msrp");
        assert!(n > 0, "msrp connection closed");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn msrp_header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    header(msg, name).first().copied()
}

#[test]
fn two_raw_msrp_peers_exchange_a_message_through_cpmd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_cpmd, udp, msrp) = start(dir.path());
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.connect(udp).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    register(&a, "alice");
    register(&b, "bob");
    let b_msrp = TcpListener::bind("127.0.0.1:0").unwrap();
    let b_port = b_msrp.local_addr().unwrap().port();
    let a_path = "msrp://127.0.0.1:9/a1;tcp";

    let invite = testing::invite(
        testing::sip_uri("bob", "example.com"),
        "7f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10",
        "0f3c2a64-1d2e-4c1b-9a51-0d7b2e9c8f10",
        &sdp(9, "a1", "active"),
        sender(&a, "alice", "ta", "msrp-relay-1", "-inv1"),
    );
    send(&a, SipMessage::Request(invite));
    let at_b = recv_sip(&b, "INVITE");
    let s_b = path_in(body(&at_b));
    assert!(s_b.starts_with(&format!("msrp://{msrp}/")), "{s_b}");
    let relayed: Request = match decode_message(at_b.as_bytes(), &Limits::default()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("the server's INVITE to B decodes: {other:?}"),
    };
    let SocketAddr::V4(b_me) = b.local_addr().unwrap() else {
        panic!("IPv4");
    };
    let mut ok = testing::response(
        &relayed,
        StatusCode::OK,
        Some(&Tag::new("tb")),
        testing::contact("bob", b_me),
    );
    ok.headers.content_type = Some(MediaType::new("application", "sdp"));
    ok.body = sdp(b_port, "b1", "passive").into_bytes();
    send(&b, SipMessage::Response(ok));
    let at_a = recv_sip(&a, "200");
    let s_a = path_in(body(&at_a));
    assert!(body(&at_a).contains("a=setup:passive"));

    // The server connects to B and binds with an empty SEND.
    b_msrp.set_nonblocking(false).unwrap();
    let (mut to_b, _) = b_msrp.accept().expect("the server connects to B");
    to_b.set_read_timeout(Some(WAIT)).unwrap();
    let mut b_buf = Vec::new();
    let bind = read_msrp(&mut to_b, &mut b_buf);
    assert!(
        bind.starts_with("MSRP ") && bind.contains(" SEND\r\n"),
        "{bind}"
    );
    assert_eq!(
        msrp_header(&bind, "To-Path"),
        Some(format!("msrp://127.0.0.1:{b_port}/b1;tcp").as_str())
    );
    assert_eq!(msrp_header(&bind, "From-Path"), Some(s_b.as_str()));
    let bind_tid = bind.split_whitespace().nth(1).unwrap().to_owned();
    let b_path = format!("msrp://127.0.0.1:{b_port}/b1;tcp");
    write!(
        to_b,
        "MSRP {bind_tid} 200 OK\r\nTo-Path: {s_b}\r\nFrom-Path: {b_path}\r\n-------{bind_tid}$\r\n"
    )
    .unwrap();

    // A connects to the server's listener and sends a CPIM message.
    let mut from_a = TcpStream::connect(msrp).expect("connect to the msrp listener");
    from_a.set_read_timeout(Some(WAIT)).unwrap();
    let cpim = "From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:anonymous@anonymous.invalid>\r\n\
                NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: raw-1\r\n\
                DateTime: 2026-11-26T12:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhello over msrp";
    write!(
        from_a,
        "MSRP a1tx1 SEND\r\nTo-Path: {s_a}\r\nFrom-Path: {a_path}\r\nMessage-ID: msg-a1\r\n\
         Byte-Range: 1-{n}/{n}\r\nContent-Type: message/cpim\r\n\r\n{cpim}\r\n-------a1tx1$\r\n",
        n = cpim.len()
    )
    .unwrap();
    let mut a_buf = Vec::new();
    let answer = read_msrp(&mut from_a, &mut a_buf);
    assert!(answer.starts_with("MSRP a1tx1 200"), "{answer}");

    let relayed = read_msrp(&mut to_b, &mut b_buf);
    assert!(relayed.contains(" SEND\r\n"), "{relayed}");
    assert_eq!(msrp_header(&relayed, "To-Path"), Some(b_path.as_str()));
    assert_eq!(msrp_header(&relayed, "From-Path"), Some(s_b.as_str()));
    assert_ne!(msrp_header(&relayed, "Message-ID"), Some("msg-a1"));
    assert!(relayed.contains(cpim), "same body: {relayed}");
}
