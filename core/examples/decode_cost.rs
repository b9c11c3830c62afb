//! The SIP decoder alone over the five datagrams of one bench session (alice's
//! INVITE, bob's 200, alice's ACK and BYE, bob's 200 to the BYE), as
//! `session_cost` feeds them to the core: `decode_datagram` of each, `N` times.
//!
//! What it is *not*: the core's handling of the messages; see `session_cost`.
//!
//! ```sh
//! cargo build --release -p cpmd-core --example decode_cost
//! valgrind --tool=callgrind target/release/examples/decode_cost 1000
//! ```

use cpmd_core::wire::{decode_datagram, Limits};

/// The five messages (CRLF line ends added below), as the bench sends them.
const MESSAGES: [&str; 5] = [
    "INVITE sip:bob@example.com SIP/2.0\n\
     Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-4711-3-0;rport\n\
     Max-Forwards: 70\n\
     From: <sip:alice@example.com>;tag=4711b3\n\
     To: <sip:bob@example.com>\n\
     Call-ID: 3-4711@127.0.0.1\n\
     CSeq: 1 INVITE\n\
     Contact: <sip:alice@127.0.0.1:5062>\n\
     Conversation-ID: conv-4711-3\n\
     Contribution-ID: contrib-4711-3\n\
     Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"\n\
     Content-Type: application/sdp\n\
     Content-Length: 184\n\
     \n\
     v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n\
     m=message 7001 TCP/MSRP *\na=accept-types:message/cpim\n\
     a=path:msrp://127.0.0.1:7001/a3;tcp\na=setup:active\na=sendrecv\n",
    "SIP/2.0 200 OK\n\
     Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK9ISVBRzUzXdPD_SgZSRRNw;rport\n\
     From: <sip:alice@example.com>;tag=2cNxhlXCJ0lTiw9AXGg_UA\n\
     To: <sip:bob@example.com>;tag=4711c3\n\
     Call-ID: 91c8aV6JjZ-beLEqqOtVsA\n\
     CSeq: 1 INVITE\n\
     Contact: <sip:bob@127.0.0.1:5061>\n\
     Content-Type: application/sdp\n\
     Content-Length: 185\n\
     \n\
     v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n\
     m=message 7002 TCP/MSRP *\na=accept-types:message/cpim\n\
     a=path:msrp://127.0.0.1:7002/b3;tcp\na=setup:passive\na=sendrecv\n",
    "ACK sip:cpmd@127.0.0.1:5060 SIP/2.0\n\
     Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-4711-3-4;rport\n\
     Max-Forwards: 70\n\
     From: <sip:alice@example.com>;tag=4711b3\n\
     To: <sip:bob@example.com>;tag=Ll-Sw6fqEoGjOotWPPH78A\n\
     Call-ID: 3-4711@127.0.0.1\n\
     CSeq: 1 ACK\n\
     Content-Length: 0\n\
     \n",
    "BYE sip:cpmd@127.0.0.1:5060 SIP/2.0\n\
     Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-4711-3-5;rport\n\
     Max-Forwards: 70\n\
     From: <sip:alice@example.com>;tag=4711b3\n\
     To: <sip:bob@example.com>;tag=Ll-Sw6fqEoGjOotWPPH78A\n\
     Call-ID: 3-4711@127.0.0.1\n\
     CSeq: 2 BYE\n\
     Content-Length: 0\n\
     \n",
    "SIP/2.0 200 OK\n\
     Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKoAPephUvGN8GAW3JLxyq_Q;rport\n\
     From: <sip:alice@example.com>;tag=2cNxhlXCJ0lTiw9AXGg_UA\n\
     To: <sip:bob@example.com>;tag=4711c3\n\
     Call-ID: 91c8aV6JjZ-beLEqqOtVsA\n\
     CSeq: 2 BYE\n\
     Content-Length: 0\n\
     \n",
];

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000, |a| a.parse().expect("rounds: a number"));
    let messages: Vec<Vec<u8>> = MESSAGES
        .iter()
        .map(|m| m.replace('\n', "\r\n").into_bytes())
        .collect();
    let limits = Limits::default();
    let mut kept = 0usize;
    for _ in 0..n {
        for m in &messages {
            let decoded = decode_datagram(std::hint::black_box(m), &limits);
            kept += usize::from(decoded.is_ok());
            drop(std::hint::black_box(decoded));
        }
    }
    assert_eq!(kept as u64, n * 5, "every message decodes");
    println!("decode_cost: {n} rounds of {} messages", messages.len());
}
