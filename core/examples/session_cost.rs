//! The core's cost per 1-to-1 session, measured without the machine's load: a
//! driver that pushes complete sessions through [`cpmd_core::Server`] the way the
//! runtime does (bytes in through `handle_bytes`, every `Transmit` encoded with
//! `wire::encode_message_into` into one buffer kept from step to step, as the
//! runtime's UDP sending does, the store's answer to the seal fed back), with the bytes
//! sipp sends in `bench/calls.sh` (`bench/uac.xml` as alice, `bench/uas.xml` as
//! bob, both registered first). `bench/core_ir.sh` runs it under valgrind and turns
//! instruction counts into instructions per session; run alone it prints the heap
//! allocations per session (a counting global allocator).
//!
//! What it is *not*: a measure of the runtime (sockets, the event loop, the store
//! thread, logging) or of wall-clock time. Virtual time advances at `RATE` sessions
//! per second, so finished transactions linger and expire as in a real run.
//!
//! ```sh
//! cargo build --release -p cpmd-core --example session_cost
//! target/release/examples/session_cost 10000 250   # sessions, sessions per second
//! ```

use std::alloc::System;
use std::net::SocketAddr;

use cpmd_core::server::Seed;
use cpmd_core::wire::encode_message_into;
use cpmd_core::{Command, Config, ConnId, Flow, Server, Time, Transport, WallClock};
use stats_alloc::{Region, Stats, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// sipp's `[pid]` in tags, branches and Call-IDs.
const PID: u32 = 4711;
/// The server's UDP socket (the runtime's connection number for it).
const SOCKET: ConnId = ConnId::new(1);

/// The driven server with its virtual clock and what it sent, per peer.
struct Driver {
    server: Server,
    now: Time,
    alice: SocketAddr,
    bob: SocketAddr,
    /// Encoded messages sent to each terminal, not yet read by it.
    to_alice: Vec<String>,
    to_bob: Vec<String>,
    /// What the last core step sent, encoded one after the other (the buffer is
    /// kept, as the runtime keeps its own).
    wire: Vec<u8>,
    /// Each message of `wire`: (peer, where its bytes end).
    outputs: Vec<(SocketAddr, usize)>,
    /// Messages the server sent (encoded), in all.
    sent: u64,
    /// Whether the core steps' allocations are being counted, and their sum.
    counting: bool,
    allocs: Stats,
}

impl Driver {
    fn new() -> Self {
        let mut config = Config::new("example.com");
        config.advertised_host = "127.0.0.1".into();
        config.advertised_port = 5060;
        config.msrp.advertised = "127.0.0.1:2855".parse().expect("address");
        config.seed = Seed {
            instance: 0,
            key: [7; 32],
        };
        let mut server = Server::new(config);
        server.set_wall_clock(WallClock::from_unix_secs(1_795_694_400));
        Self {
            server,
            now: Time::from_ms(1_000),
            alice: "127.0.0.1:5062".parse().expect("address"),
            bob: "127.0.0.1:5061".parse().expect("address"),
            to_alice: Vec::new(),
            to_bob: Vec::new(),
            wire: Vec::new(),
            outputs: Vec::new(),
            sent: 0,
            counting: false,
            allocs: Stats::default(),
        }
    }

    /// A datagram from `peer`, then what the server sent, delivered to the terminals.
    fn datagram(&mut self, peer: SocketAddr, text: &str) {
        let region = Region::new(GLOBAL);
        self.core_datagram(peer, text.as_bytes());
        self.count(&region);
        self.deliver();
    }

    /// Adds a core step's allocations to the sum, when counting.
    fn count(&mut self, region: &Region<'_, System>) {
        if self.counting {
            let change = region.change();
            self.allocs.allocations += change.allocations;
            self.allocs.reallocations += change.reallocations;
            self.allocs.bytes_allocated += change.bytes_allocated;
        }
    }

    /// Moves virtual time to `ms`, firing the timers due as the runtime's sleep would.
    fn advance_to(&mut self, ms: u64) {
        self.now = Time::from_ms(ms.max(self.now.as_ms()));
        let region = Region::new(GLOBAL);
        self.core_timeout();
        self.count(&region);
        self.deliver();
    }

    // The `core_*` functions are all the work the runtime's event loop would do with
    // the core; `bench/core_ir.sh` counts instructions inside them only (callgrind's
    // `--toggle-collect`), not the terminals' side of this driver.

    /// The runtime's handling of one datagram: `handle_bytes`, then the drain.
    #[inline(never)]
    fn core_datagram(&mut self, peer: SocketAddr, bytes: &[u8]) {
        let flow = Flow {
            transport: Transport::Udp,
            conn: SOCKET,
            peer,
        };
        self.server.handle_bytes(self.now, flow, bytes);
        self.drain();
    }

    /// The runtime's timer wake-up: the due timers fired, then the drain.
    #[inline(never)]
    fn core_timeout(&mut self) {
        if self
            .server
            .poll_timeout()
            .is_some_and(|due| due <= self.now)
        {
            self.server.handle_timeout(self.now);
            self.drain();
        }
    }

    /// Carries out the server's commands as the runtime does: SIP encoded and "sent",
    /// the store's answer fed back (ok, after the drain, as from the store thread),
    /// an MSRP connect to the callee's absent port failing (`handle_closed`).
    fn drain(&mut self) {
        let mut stored = Vec::new();
        let mut refused = Vec::new();
        loop {
            while let Some(cmd) = self.server.poll_command() {
                match cmd {
                    Command::Transmit { flow, message } => {
                        encode_message_into(&message, &mut self.wire);
                        self.outputs.push((flow.peer, self.wire.len()));
                    }
                    Command::TransmitRaw { flow, bytes } => {
                        self.wire.extend_from_slice(&bytes);
                        self.outputs.push((flow.peer, self.wire.len()));
                    }
                    Command::Persist { ticket, .. } | Command::SealSession { ticket, .. } => {
                        stored.push(ticket)
                    }
                    Command::MsrpConnect { conn, .. } => refused.push(conn),
                    Command::Connect { .. }
                    | Command::MsrpSend { .. }
                    | Command::Close { .. }
                    | Command::ChatDeliver { .. }
                    | Command::ChatResult { .. } => {}
                }
            }
            while self.server.poll_event().is_some() {}
            if stored.is_empty() && refused.is_empty() {
                return;
            }
            for conn in refused.drain(..) {
                self.server.handle_closed(self.now, conn);
            }
            for ticket in stored.drain(..) {
                self.server.handle_store_result(self.now, ticket, Ok(()));
            }
        }
    }

    /// Hands what the server sent to the terminals' inboxes.
    fn deliver(&mut self) {
        let mut start = 0;
        for (peer, end) in self.outputs.drain(..) {
            self.sent += 1;
            let bytes = self.wire.get(start..end).expect("a message's bytes");
            start = end;
            let text = String::from_utf8(bytes.to_vec()).expect("the server sends text here");
            if peer == self.alice {
                self.to_alice.push(text);
            } else if peer == self.bob {
                self.to_bob.push(text);
            } else {
                panic!("sent to {peer}: {text}");
            }
        }
        self.wire.clear();
    }

    /// REGISTERs `user` from `peer` (`tests/sipp/register.xml`).
    fn register(&mut self, user: &str, peer: SocketAddr) {
        let port = peer.port();
        let text = sipp(&format!(
            "REGISTER sip:example.com SIP/2.0\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{PID}-1-0;rport\n\
             Max-Forwards: 70\n\
             From: <sip:{user}@example.com>;tag={PID}SIPpTag091\n\
             To: <sip:{user}@example.com>\n\
             Call-ID: 1-{PID}@127.0.0.1-{user}\n\
             CSeq: 1 REGISTER\n\
             Contact: <sip:{user}@127.0.0.1:{port}>\n\
             Expires: 300\n"
        ));
        self.datagram(peer, &text);
        let got = if peer == self.alice {
            std::mem::take(&mut self.to_alice)
        } else {
            std::mem::take(&mut self.to_bob)
        };
        assert!(
            got.iter().any(|m| m.starts_with("SIP/2.0 200")),
            "REGISTER of {user}: {got:?}"
        );
    }

    /// One sipp call of `uac.xml` (alice) against `uas.xml` (bob): INVITE, 200, ACK,
    /// BYE, 200, through the server.
    fn session(&mut self, n: u64) {
        let a = self.alice.port();
        let b = self.bob.port();
        // alice: INVITE.
        let sdp = format!(
            "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n\
             m=message 7001 TCP/MSRP *\na=accept-types:message/cpim\n\
             a=path:msrp://127.0.0.1:7001/a{n};tcp\na=setup:active\na=sendrecv\n"
        );
        let invite = sipp_with_body(
            &format!(
                "INVITE sip:bob@example.com SIP/2.0\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{a};branch=z9hG4bK-{PID}-{n}-0;rport\n\
                 Max-Forwards: 70\n\
                 From: <sip:alice@example.com>;tag={PID}b{n}\n\
                 To: <sip:bob@example.com>\n\
                 Call-ID: {n}-{PID}@127.0.0.1\n\
                 CSeq: 1 INVITE\n\
                 Contact: <sip:alice@127.0.0.1:{a}>\n\
                 Conversation-ID: conv-{PID}-{n}\n\
                 Contribution-ID: contrib-{PID}-{n}\n\
                 Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"\n\
                 Content-Type: application/sdp\n"
            ),
            &sdp,
        );
        self.datagram(self.alice, &invite);
        // bob: the INVITE, answered 200 with its SDP.
        let b_invite = take_request(&mut self.to_bob, "INVITE");
        let sdp = format!(
            "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n\
             m=message 7002 TCP/MSRP *\na=accept-types:message/cpim\n\
             a=path:msrp://127.0.0.1:7002/b{n};tcp\na=setup:passive\na=sendrecv\n"
        );
        let ok = sipp_with_body(
            &format!(
                "SIP/2.0 200 OK\n{}\n{}\n{};tag={PID}c{n}\n{}\n{}\n\
                 Contact: <sip:bob@127.0.0.1:{b}>\n\
                 Content-Type: application/sdp\n",
                last(&b_invite, "Via"),
                last(&b_invite, "From"),
                last(&b_invite, "To"),
                last(&b_invite, "Call-ID"),
                last(&b_invite, "CSeq"),
            ),
            &sdp,
        );
        self.datagram(self.bob, &ok);
        take_request(&mut self.to_bob, "ACK");
        // alice: the 200, then ACK and BYE to its Contact.
        let a_ok = take_response(&mut self.to_alice, "200", "INVITE");
        let next_url = contact_uri(&a_ok);
        let to = last(&a_ok, "To");
        let ack = sipp(&format!(
            "ACK {next_url} SIP/2.0\n\
             Via: SIP/2.0/UDP 127.0.0.1:{a};branch=z9hG4bK-{PID}-{n}-4;rport\n\
             Max-Forwards: 70\n\
             From: <sip:alice@example.com>;tag={PID}b{n}\n\
             {to}\n\
             Call-ID: {n}-{PID}@127.0.0.1\n\
             CSeq: 1 ACK\n"
        ));
        self.datagram(self.alice, &ack);
        let bye = sipp(&format!(
            "BYE {next_url} SIP/2.0\n\
             Via: SIP/2.0/UDP 127.0.0.1:{a};branch=z9hG4bK-{PID}-{n}-5;rport\n\
             Max-Forwards: 70\n\
             From: <sip:alice@example.com>;tag={PID}b{n}\n\
             {to}\n\
             Call-ID: {n}-{PID}@127.0.0.1\n\
             CSeq: 2 BYE\n"
        ));
        self.datagram(self.alice, &bye);
        // bob: the BYE, answered 200; the server seals, then answers alice.
        let b_bye = take_request(&mut self.to_bob, "BYE");
        let ok = sipp(&format!(
            "SIP/2.0 200 OK\n{}\n{}\n{}\n{}\n{}\n",
            last(&b_bye, "Via"),
            last(&b_bye, "From"),
            last(&b_bye, "To"),
            last(&b_bye, "Call-ID"),
            last(&b_bye, "CSeq"),
        ));
        self.datagram(self.bob, &ok);
        take_response(&mut self.to_alice, "200", "BYE");
        assert!(self.to_bob.is_empty(), "bob got more: {:?}", self.to_bob);
        self.to_alice.clear(); // 100 Trying
    }
}

/// A sipp message without a body: CRLF line ends, `Content-Length: 0`.
fn sipp(head: &str) -> String {
    sipp_with_body(head, "")
}

/// A sipp message: the head's lines, `Content-Length` of the body, the body, all
/// with CRLF line ends (sipp's `[len]`).
fn sipp_with_body(head: &str, body: &str) -> String {
    let body = body.replace('\n', "\r\n");
    let mut text = head.replace('\n', "\r\n");
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    text.push_str(&body);
    text
}

/// The whole first header line `name: ...` of `msg` (sipp's `[last_Name:]`).
fn last<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n")
        .find(|l| {
            l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name) && {
                l[name.len()..].trim_start().starts_with(':')
            }
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

/// The URI of the Contact of `msg` (sipp's `[next_url]`).
fn contact_uri(msg: &str) -> String {
    let line = last(msg, "Contact");
    let start = line.find('<').expect("Contact in <>") + 1;
    let end = line.find('>').expect("Contact in <>");
    line[start..end].to_owned()
}

/// Takes the first request `method` out of a terminal's inbox.
fn take_request(inbox: &mut Vec<String>, method: &str) -> String {
    let at = inbox
        .iter()
        .position(|m| m.starts_with(&format!("{method} ")))
        .unwrap_or_else(|| panic!("no {method} in {inbox:?}"));
    inbox.remove(at)
}

/// Takes the first response `status` to `method` out of a terminal's inbox.
fn take_response(inbox: &mut Vec<String>, status: &str, method: &str) -> String {
    let at = inbox
        .iter()
        .position(|m| {
            m.starts_with(&format!("SIP/2.0 {status} "))
                && last(m, "CSeq").ends_with(&format!(" {method}"))
        })
        .unwrap_or_else(|| panic!("no {status} to {method} in {inbox:?}"));
    inbox.remove(at)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sessions: u64 = args
        .next()
        .map_or(1_000, |a| a.parse().expect("sessions: a number"));
    let rate: u64 = args
        .next()
        .map_or(25, |a| a.parse().expect("rate: sessions per second"));
    assert!(rate > 0 && sessions > 1);
    let mut d = Driver::new();
    let (alice, bob) = (d.alice, d.bob);
    d.register("bob", bob);
    d.register("alice", alice);
    let start = d.now.as_ms();
    // The core's allocations in the second half only: the tables are warm by then.
    let half = sessions / 2;
    for n in 1..=sessions {
        d.counting = n > half;
        d.advance_to(start + n * 1000 / rate);
        d.session(n);
    }
    let measured = (sessions - half) as f64;
    let stats = d.server.transaction_stats();
    println!(
        "session_cost: {sessions} sessions at {rate}/s of virtual time, {} messages sent; \
         the core's steps over the last {}: {:.1} allocations, {:.1} reallocations and \
         {:.0} bytes allocated per session; at the end {} sessions, {} transactions lingering",
        d.sent,
        sessions - half,
        d.allocs.allocations as f64 / measured,
        d.allocs.reallocations as f64 / measured,
        d.allocs.bytes_allocated as f64 / measured,
        d.server.session_count(),
        stats.lingering,
    );
}
