//! Refusals over real sockets, driven by a minimal raw SIP client (no sipp needed):
//! a BYE for an unknown dialog (481), a malformed request (400), an unknown method
//! (501), and an extension INVITE from a registered user who is not a party of the
//! 1-to-1 it names (403, EXT-2).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use cpmd_tests::udp_ua::Ua;
use cpmd_tests::{Cpmd, Transport};

const TIMEOUT: Duration = Duration::from_secs(5);

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

fn status_of(reply: &str) -> u16 {
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 7001 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
    a=path:msrp://127.0.0.1:7001/x;tcp\r\na=setup:active\r\na=sendrecv\r\n";

#[test]
fn udp_unknown_dialog_malformed_and_unknown_method() {
    let cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let ua = Ua::new("alice", cpmd.addr(Transport::Udp));
    let bye = ua.request("BYE", "bob", "no-such-dialog", "", "");
    let bye = bye.replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=gone",
    );
    ua.send(&bye);
    assert_eq!(status_of(&ua.expect("SIP/2.0 ")), 481);
    ua.send(
        &ua.request("OPTIONS", "bob", "bad-cseq", "", "")
            .replace("CSeq: 1 OPTIONS", "CSeq: abc OPTIONS"),
    );
    assert_eq!(status_of(&ua.expect("SIP/2.0 ")), 400);
    ua.send(&ua.request("FOO", "bob", "foo", "", ""));
    assert_eq!(status_of(&ua.expect("SIP/2.0 ")), 501);
}

#[test]
fn tcp_unknown_method_and_malformed() {
    let cpmd = Cpmd::start(&["--tcp", "127.0.0.1:0"]);
    let mut conn = TcpStream::connect(cpmd.addr(Transport::Tcp)).expect("connect");
    conn.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let ua = Ua::new("alice", cpmd.addr(Transport::Tcp));
    for (text, want) in [
        (ua.request("FOO", "bob", "t-foo", "", ""), 501),
        (
            ua.request("OPTIONS", "bob", "t-bad", "", "")
                .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
            400,
        ),
        (ua.request("OPTIONS", "bob", "t-ok", "", ""), 200),
    ] {
        conn.write_all(text.replace("SIP/2.0/UDP", "SIP/2.0/TCP").as_bytes())
            .expect("write");
        let mut buf = vec![0u8; 8192];
        let n = conn.read(&mut buf).expect("read reply");
        let reply = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(status_of(&reply), want, "{reply}");
    }
}

#[test]
fn replacement_by_a_non_participant_is_refused() {
    let cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let server = cpmd.addr(Transport::Udp);
    let (a, b, c) = (
        Ua::new("alice", server),
        Ua::new("bob", server),
        Ua::new("carol", server),
    );
    for ua in [&a, &b, &c] {
        ua.register();
    }
    // The 1-to-1 A-B, contribution K1.
    let cpm = "Conversation-ID: conv-1\r\nContribution-ID: k1\r\nContent-Type: application/sdp\r\n";
    a.send(&a.request("INVITE", "bob", "call-ab", cpm, SDP));
    let invite = b.expect("INVITE ");
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=bob-tag\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:bob@127.0.0.1:{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        header(&invite, "Via"),
        header(&invite, "From"),
        header(&invite, "To"),
        header(&invite, "Call-ID"),
        header(&invite, "CSeq"),
        b.port(),
        SDP.len(),
    );
    b.send(&ok);
    let a_ok = a.expect("SIP/2.0 200");
    let ack = a.request("ACK", "bob", "call-ab", "", "").replace(
        "To: <sip:bob@example.com>",
        &format!("To: {}", header(&a_ok, "To")),
    );
    a.send(&ack);
    // C, registered but no party of K1, tries to replace it.
    let body_hdrs = "Require: recipient-list-invite\r\nConversation-ID: conv-1\r\n\
        Contribution-ID: k2\r\nSession-Replaces: k1\r\nContent-Type: multipart/mixed;boundary=bb\r\n";
    let body = format!(
        "--bb\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--bb\r\n\
         Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n\
         <?xml version=\"1.0\"?><resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>\
         <entry uri=\"sip:bob@example.com\"/><entry uri=\"sip:alice@example.com\"/></list></resource-lists>\r\n--bb--\r\n"
    );
    c.send(&c.request("INVITE", "conf-factory", "call-c-ext", body_hdrs, &body));
    let reply = c.expect("SIP/2.0 4");
    assert_eq!(status_of(&reply), 403, "{reply}");
}
