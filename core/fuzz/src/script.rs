//! The `server` target: a text script of inputs for the whole [`Server`], and the
//! driver that plays it the way the runtime would.
//!
//! # Script
//!
//! A script is a sequence of records. A record starts with a line `%% VERB ARGS`
//! at the start of the input or right after a `\n`; its body is every byte up to
//! the next record (so SIP text keeps its CRLFs). Bytes before the first record are
//! a `udp 1` datagram, so a bare SIP message is a script too. Verbs:
//!
//! | record | input |
//! |---|---|
//! | `%% udp N` | the body is one datagram from terminal N (`10.0.0.N:5060`) |
//! | `%% tcp N` | the body arrives on terminal N's SIP TCP connection (one read) |
//! | `%% tcp-out K` | ... on the K-th SIP connection the server opened (`Connect`) |
//! | `%% msrp N` | ... on terminal N's MSRP connection to the server |
//! | `%% msrp-out K` | ... on the K-th MSRP connection the server opened (`MsrpConnect`) |
//! | `%% close tcp N` (or `tcp-out K`, `msrp N`, `msrp-out K`) | that connection closed |
//! | `%% tick MS` | MS milliseconds pass (default 1000); due timers fire |
//! | `%% store ok` / `store fail` / `store all` | the store answers its oldest request / fails it / answers every waiting one |
//! | `%% auth` | (before the first input only) digest authentication on, users alice, bob, carol |
//!
//! Unknown verbs are skipped. N and K are taken modulo 16; K counts connections in
//! the order the server opened them.
//!
//! # Driver
//!
//! The [`Driver`] drains every command after each input and carries out what the
//! runtime would: a `Close` is followed by `handle_closed`, a `Persist` or
//! `SealSession` waits for a `store` record. A connection that closed and is used
//! again is a new connection (a new `ConnId`), as after a reconnect.
//!
//! # Rules checked ([`run_checked`], specs/limits.md)
//!
//! * LIM-9: no input makes the server panic;
//! * LIM-10: every SIP message the server sends prints to bytes that decode back to it (the
//!   server never sends what a peer with our own parser would refuse), and every raw
//!   answer to an undecodable request frames as one body-less response with nothing
//!   injected (its echoed headers may be what was wrong, see [`check_raw_answer`]);
//! * LIM-10: every MSRP write holds whole messages that decode (the framing rule
//!   of `Command::MsrpSend`);
//! * LIM-9: the server is deterministic: the same script gives the same commands, events
//!   and final state twice.

use std::collections::VecDeque;
use std::net::SocketAddr;

use cpmd_core::ids::{ConnId, StoreTicket};
use cpmd_core::server::{AuthConfig, Command, Config, Event, Flow, Server, StoreError, Transport};
use cpmd_core::time::Time;
use cpmd_core::wire;

use crate::decoders::generous;

/// The server's domain.
pub const DOMAIN: &str = "example.com";

/// A connection a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Conn {
    /// Terminal N's SIP TCP connection to the server.
    Tcp(u8),
    /// The K-th SIP connection the server opened.
    TcpOut(u8),
    /// Terminal N's MSRP connection to the server.
    Msrp(u8),
    /// The K-th MSRP connection the server opened.
    MsrpOut(u8),
}

impl Conn {
    fn parse(kind: &str, n: u8) -> Option<Conn> {
        Some(match kind {
            "tcp" => Conn::Tcp(n),
            "tcp-out" => Conn::TcpOut(n),
            "msrp" => Conn::Msrp(n),
            "msrp-out" => Conn::MsrpOut(n),
            _ => return None,
        })
    }

    fn words(self) -> String {
        match self {
            Conn::Tcp(n) => format!("tcp {n}"),
            Conn::TcpOut(k) => format!("tcp-out {k}"),
            Conn::Msrp(n) => format!("msrp {n}"),
            Conn::MsrpOut(k) => format!("msrp-out {k}"),
        }
    }
}

/// How the store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAnswer {
    /// The oldest waiting request is durable.
    Ok,
    /// The oldest waiting request failed.
    Fail,
    /// Every waiting request is durable.
    All,
}

/// What one record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A UDP datagram from terminal N.
    Udp(u8),
    /// Bytes on a connection.
    Bytes(Conn),
    /// A connection closed.
    Close(Conn),
    /// Time passes (milliseconds).
    Tick(u64),
    /// The store answers.
    Store(StoreAnswer),
    /// Digest authentication on (an option: before the first input only).
    Auth,
    /// An unknown verb: skipped.
    Skip,
}

impl Op {
    /// The record's header line, without `%% ` and the newline.
    pub fn words(self) -> String {
        match self {
            Op::Udp(n) => format!("udp {n}"),
            Op::Bytes(c) => c.words(),
            Op::Close(c) => format!("close {}", c.words()),
            Op::Tick(ms) => format!("tick {ms}"),
            Op::Store(StoreAnswer::Ok) => "store ok".into(),
            Op::Store(StoreAnswer::Fail) => "store fail".into(),
            Op::Store(StoreAnswer::All) => "store all".into(),
            Op::Auth => "auth".into(),
            Op::Skip => "skip".into(),
        }
    }

    /// Parses a header line (after `%% `).
    fn parse(line: &[u8]) -> Op {
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().unwrap_or("");
        let arg = words.next();
        let n = |arg: Option<&str>| arg.and_then(|a| a.parse::<u32>().ok()).unwrap_or(1) as u8 % 16;
        match verb {
            "udp" => Op::Udp(n(arg)),
            "tick" => Op::Tick(arg.and_then(|a| a.parse().ok()).unwrap_or(1000)),
            "store" => match arg {
                Some("fail") => Op::Store(StoreAnswer::Fail),
                Some("all") => Op::Store(StoreAnswer::All),
                _ => Op::Store(StoreAnswer::Ok),
            },
            "auth" => Op::Auth,
            "close" => match arg.and_then(|kind| Conn::parse(kind, n(words.next()))) {
                Some(c) => Op::Close(c),
                None => Op::Skip,
            },
            kind => match Conn::parse(kind, n(arg)) {
                Some(c) => Op::Bytes(c),
                None => Op::Skip,
            },
        }
    }
}

/// One record of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// What it does.
    pub op: Op,
    /// Its bytes (empty for records without input bytes).
    pub body: &'a [u8],
}

/// Splits a script into records.
pub fn parse(data: &[u8]) -> Vec<Record<'_>> {
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i..].starts_with(b"%% ") && (i == 0 || data[i - 1] == b'\n'))
        .collect();
    let mut records = Vec::new();
    let first = starts.first().copied().unwrap_or(data.len());
    if first > 0 {
        records.push(Record {
            op: Op::Udp(1),
            body: &data[..first],
        });
    }
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(data.len());
        let record = &data[start + 3..end];
        let (line, body) = match record.iter().position(|&b| b == b'\n') {
            Some(at) => (&record[..at], &record[at + 1..]),
            None => (record, &[][..]),
        };
        records.push(Record {
            op: Op::parse(line),
            body,
        });
    }
    records
}

/// Prints a record (the inverse of [`parse`] for a body that does not contain a
/// line starting with `%% `).
pub fn print(op: Op, body: &[u8]) -> Vec<u8> {
    let mut out = format!("%% {}\n", op.words()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Something the server put out.
// Kept as the server gives them (a log entry is moved once); see `Command`'s own note.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Output {
    /// A command.
    Command(Command),
    /// An event.
    Event(Event),
}

/// The server's configuration for a script: `example.com`, defaults, digest
/// authentication when asked.
pub fn config(auth: bool) -> Config {
    let mut config = Config::new(DOMAIN);
    if auth {
        let passwords = [
            ("alice", "alice-pw"),
            ("bob", "bob-pw"),
            ("carol", "carol-pw"),
        ]
        .into_iter()
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
        .collect();
        config.auth = Some(AuthConfig::new(DOMAIN, passwords));
    }
    config
}

/// Terminal N's SIP address.
pub fn terminal(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 5060))
}

/// Terminal N's MSRP address.
pub fn terminal_msrp(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 7000 + u16::from(n)))
}

/// The UDP socket's number (all terminals share it, as in the runtime).
const UDP_SOCKET: u64 = 1;

/// Plays a script against a [`Server`] the way the runtime would.
#[derive(Debug)]
pub struct Driver {
    /// The server.
    pub server: Server,
    /// The current time.
    pub now: Time,
    /// Everything the server put out, in order.
    pub log: Vec<Output>,
    /// Store requests not answered yet, oldest first.
    waiting: VecDeque<StoreTicket>,
    /// Connections the server opened, in order: SIP and MSRP.
    opened_sip: Vec<(ConnId, SocketAddr)>,
    opened_msrp: Vec<(ConnId, SocketAddr)>,
    /// Connections that closed (bytes for them open a new one, or are dropped for the
    /// server's own).
    closed: std::collections::BTreeSet<ConnId>,
    /// How many times each terminal connection was reopened.
    generation: std::collections::BTreeMap<Conn, u64>,
}

impl Driver {
    /// A driver with a fresh server.
    pub fn new(auth: bool) -> Self {
        Self {
            server: Server::new(config(auth)),
            now: Time::ZERO,
            log: Vec::new(),
            waiting: VecDeque::new(),
            opened_sip: Vec::new(),
            opened_msrp: Vec::new(),
            closed: Default::default(),
            generation: Default::default(),
        }
    }

    /// The connection a record names and its peer, or `None` for a server-opened
    /// connection that does not exist or has closed.
    fn resolve(&mut self, conn: Conn) -> Option<(ConnId, SocketAddr)> {
        let accepted =
            |base: u64, n: u8, generation: u64| ConnId::new(base + u64::from(n) + 16 * generation);
        let (id, peer) = match conn {
            Conn::Tcp(n) | Conn::Msrp(n) => {
                let base = if matches!(conn, Conn::Tcp(_)) {
                    100
                } else {
                    200
                };
                let peer = if matches!(conn, Conn::Tcp(_)) {
                    terminal(n)
                } else {
                    terminal_msrp(n)
                };
                let generation = self.generation.entry(conn).or_default();
                let mut id = accepted(base, n, *generation);
                if self.closed.contains(&id) {
                    *generation += 1;
                    id = accepted(base, n, *generation);
                }
                (id, peer)
            }
            Conn::TcpOut(k) => *self.opened_sip.get(usize::from(k))?,
            Conn::MsrpOut(k) => *self.opened_msrp.get(usize::from(k))?,
        };
        (!self.closed.contains(&id)).then_some((id, peer))
    }

    /// Plays one record; returns what the server put out for it.
    pub fn step(&mut self, op: Op, body: &[u8]) -> &[Output] {
        let from = self.log.len();
        let now = self.now;
        match op {
            Op::Udp(n) => {
                let flow = Flow {
                    transport: Transport::Udp,
                    conn: ConnId::new(UDP_SOCKET),
                    peer: terminal(n),
                };
                self.server.handle_bytes(now, flow, body);
            }
            Op::Bytes(conn) => {
                if let Some((id, peer)) = self.resolve(conn) {
                    match conn {
                        Conn::Tcp(_) | Conn::TcpOut(_) => {
                            let flow = Flow {
                                transport: Transport::Tcp,
                                conn: id,
                                peer,
                            };
                            self.server.handle_bytes(now, flow, body);
                        }
                        Conn::Msrp(_) | Conn::MsrpOut(_) => {
                            self.server.handle_msrp_bytes(now, id, peer, body)
                        }
                    }
                }
            }
            Op::Close(conn) => {
                if let Some((id, _)) = self.resolve(conn) {
                    self.closed.insert(id);
                    self.server.handle_closed(now, id);
                }
            }
            Op::Tick(ms) => {
                self.now = now.plus_ms(ms);
                self.server.handle_timeout(self.now);
            }
            Op::Store(answer) => {
                let count = match answer {
                    StoreAnswer::Ok | StoreAnswer::Fail => 1,
                    StoreAnswer::All => self.waiting.len(),
                };
                for _ in 0..count {
                    let Some(ticket) = self.waiting.pop_front() else {
                        break;
                    };
                    let result = match answer {
                        StoreAnswer::Fail => Err(StoreError::Failed {
                            reason: "fuzz".into(),
                        }),
                        StoreAnswer::Ok | StoreAnswer::All => Ok(()),
                    };
                    self.server.handle_store_result(now, ticket, result);
                    self.drain();
                }
            }
            Op::Auth | Op::Skip => {}
        }
        self.drain();
        &self.log[from..]
    }

    /// Takes every command and event, checks each command, and carries out what the
    /// runtime would (closing, remembering opened connections and store requests).
    fn drain(&mut self) {
        let mut closes = Vec::new();
        while let Some(cmd) = self.server.poll_command() {
            check(&cmd);
            match &cmd {
                Command::Connect { conn, peer, .. } => self.opened_sip.push((*conn, *peer)),
                Command::MsrpConnect { conn, peer, .. } => self.opened_msrp.push((*conn, *peer)),
                Command::Persist { ticket, .. } | Command::SealSession { ticket, .. } => {
                    self.waiting.push_back(*ticket)
                }
                Command::Close { conn } => closes.push(*conn),
                Command::Transmit { .. }
                | Command::TransmitRaw { .. }
                | Command::MsrpSend { .. }
                | Command::ChatDeliver { .. }
                | Command::ChatResult { .. } => {}
            }
            self.log.push(Output::Command(cmd));
        }
        while let Some(event) = self.server.poll_event() {
            self.log.push(Output::Event(event));
        }
        for conn in closes {
            if self.closed.insert(conn) {
                self.server.handle_closed(self.now, conn);
                self.drain();
            }
        }
    }
}

/// The rules every command obeys (see the module documentation).
fn check(cmd: &Command) {
    match cmd {
        Command::Transmit { message, .. } => {
            let printed = wire::encode_message(message);
            let again = wire::decode_message(&printed, &generous());
            assert_eq!(
                again.as_ref().ok(),
                Some(&**message),
                "the server sent {:?}",
                String::from_utf8_lossy(&printed)
            );
        }
        Command::TransmitRaw { bytes, .. } => check_raw_answer(bytes),
        Command::MsrpSend { bytes, .. } => {
            let mut dec = wire::msrp::MsrpDecoder::default();
            dec.push(bytes);
            let messages: Vec<_> = std::iter::from_fn(|| dec.next_message(&generous())).collect();
            assert!(
                !messages.is_empty() && messages.iter().all(Result::is_ok),
                "the server wrote MSRP {:?}: {messages:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        Command::Connect { .. }
        | Command::MsrpConnect { .. }
        | Command::Close { .. }
        | Command::Persist { .. }
        | Command::SealSession { .. }
        | Command::ChatDeliver { .. }
        | Command::ChatResult { .. } => {}
    }
}

/// The answer to a request that did not decode echoes its raw Via, From, To,
/// Call-ID and CSeq (RFC 3261 §8.2.6.2), which may themselves be what was wrong, so
/// it need not decode. It must frame: a status line, header lines ending in CRLF with
/// no other CR or LF (nothing injected), `Content-Length: 0`, one blank line, at the
/// end.
fn check_raw_answer(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let head = text
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("the server answered {text:?}: no blank line at the end"));
    let lines: Vec<&str> = head.split("\r\n").collect();
    for line in &lines {
        assert!(
            !line.is_empty() && !line.contains(['\r', '\n']),
            "the server answered {text:?}: a line break inside {line:?}"
        );
    }
    let status = lines[0]
        .strip_prefix("SIP/2.0 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    assert!(
        status.is_some_and(|code| (100..700).contains(&code)),
        "the server answered {text:?}: no status line"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("Content-Length:"))
            .count()
            == 1
            && lines.contains(&"Content-Length: 0"),
        "the server answered {text:?}: not one Content-Length: 0"
    );
}

/// Plays a whole script on a fresh server.
pub fn execute(data: &[u8]) -> Driver {
    let records = parse(data);
    let auth = records
        .iter()
        .take_while(|r| matches!(r.op, Op::Auth | Op::Skip))
        .any(|r| r.op == Op::Auth);
    let mut driver = Driver::new(auth);
    for record in &records {
        driver.step(record.op, record.body);
    }
    driver
}

/// Target `server`: plays the script twice; checks every command, and that both
/// runs agree.
pub fn run_checked(data: &[u8]) {
    let first = execute(data);
    let second = execute(data);
    assert!(first.log == second.log, "two runs of one script differ");
    assert!(
        first.server == second.server,
        "two runs end in different states"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(f).is_err()
    }

    #[test]
    fn the_command_rules_can_fail() {
        let flow = Flow {
            transport: Transport::Udp,
            conn: ConnId::new(UDP_SOCKET),
            peer: terminal(1),
        };
        let raw = |bytes: &[u8]| Command::TransmitRaw {
            flow,
            bytes: bytes.to_vec(),
        };
        let good = b"SIP/2.0 400 Bad\r\nVia: x\r\nContent-Length: 0\r\n\r\n";
        assert!(!fails(|| check(&raw(good))));
        // A bare CR inside a line (a header injected), no blank line, no status line,
        // no Content-Length.
        assert!(fails(|| check(&raw(
            b"SIP/2.0 400 Bad\r\nVia: x\rTo: y\r\nContent-Length: 0\r\n\r\n"
        ))));
        assert!(fails(|| check(&raw(
            b"SIP/2.0 400 Bad\r\nContent-Length: 0\r\n"
        ))));
        assert!(fails(|| check(&raw(
            b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"
        ))));
        assert!(fails(|| check(&raw(b"SIP/2.0 400 Bad\r\nVia: x\r\n\r\n"))));
        let msrp = |bytes: &[u8]| Command::MsrpSend {
            conn: ConnId::new(300),
            bytes: bytes.to_vec(),
        };
        let send = b"MSRP tx12 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/r;tcp\r\nMessage-ID: m123\r\nByte-Range: 1-0/0\r\n-------tx12$\r\n";
        assert!(!fails(|| check(&msrp(send))));
        assert!(fails(|| check(&msrp(&send[..send.len() - 3]))));
        assert!(fails(|| check(&msrp(b""))));
    }

    #[test]
    fn scripts_replay_identically() {
        let script = b"%% udp 1\nOPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n%% tick 40000\n";
        let first = execute(script);
        assert!(first
            .log
            .iter()
            .any(|o| matches!(o, Output::Command(Command::Transmit { .. }))));
        assert!(first.log == execute(script).log);
        run_checked(script);
    }
}
