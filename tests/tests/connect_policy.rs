//! SEC-6 against a real `cpmd` (specs/security.md): the server as a connection
//! cannon. Alice's INVITE offers MSRP with `a=setup:passive` (cpmd connects) and an
//! `a=path` at 127.0.0.2, where a listener counts connections; Alice signals from
//! 127.0.0.1. cpmd must not connect there. A second call whose `a=path` is on
//! Alice's own address (127.0.0.1) is connected to: it shows cpmd did reach the
//! point where it connects, after the refused one (commands run in order).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use cpmd_tests::udp_ua::{header, Ua};
use cpmd_tests::{Cpmd, Transport};

fn sdp(path: SocketAddr, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=path:msrp://{path}/s{port};tcp\r\na=setup:{setup}\r\na=sendrecv\r\n",
        ip = path.ip(),
        port = path.port(),
    )
}

/// A calls B offering `a_sdp`; B answers `active` (B connects itself).
fn call(a: &Ua, b: &Ua, id: &str, a_sdp: &str) {
    let cpm = format!(
        "Conversation-ID: conv-{id}\r\nContribution-ID: k-{id}\r\nContent-Type: application/sdp\r\n"
    );
    a.send(&a.request("INVITE", "bob", &format!("call-{id}"), &cpm, a_sdp));
    let invite = b.expect("INVITE ");
    let b_sdp = sdp("127.0.0.1:9".parse().expect("addr"), "active");
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=bob-{id}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:bob@127.0.0.1:{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b_sdp}",
        header(&invite, "Via"),
        header(&invite, "From"),
        header(&invite, "To"),
        header(&invite, "Call-ID"),
        header(&invite, "CSeq"),
        b.port(),
        b_sdp.len(),
    );
    b.send(&ok);
    a.expect("SIP/2.0 200");
}

#[test]
fn sec_6_msrp_path_at_another_host_gets_no_connection() {
    let cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b) = (Ua::new("alice", server), Ua::new("bob", server));
    a.register();
    b.register();
    let victim = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2 (loopback on Linux)");
    victim.set_nonblocking(true).expect("nonblocking");
    let own = TcpListener::bind("127.0.0.1:0").expect("bind");
    call(
        &a,
        &b,
        "1",
        &sdp(victim.local_addr().expect("addr"), "passive"),
    );
    call(
        &a,
        &b,
        "2",
        &sdp(own.local_addr().expect("addr"), "passive"),
    );
    // The allowed connect, issued after the refused one would have been.
    own.set_nonblocking(false).expect("blocking");
    let (mut conn, _) = own.accept().expect("cpmd connects to Alice's own address");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut first = [0u8; 4];
    std::io::Read::read_exact(&mut conn, &mut first).expect("the bind SEND");
    assert_eq!(&first, b"MSRP");
    match victim.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("cpmd connected to 127.0.0.2: {other:?}\n{}", cpmd.log()),
    }
    assert!(
        cpmd.log().contains("SEC-6"),
        "the refusal is logged:\n{}",
        cpmd.log()
    );
}
