//! The MSRP side of a `claim_bench` terminal: one TCP connection per leg, opened by
//! the terminal (its SDP says `a=setup:active`, so it connects to the first URI of
//! the server's `a=path` and binds with an empty SEND, specs/msrp.md). RFC 4975
//! framing written and read here (start line, headers, body, `-------tid` and a flag),
//! never with `cpmd_core::msrp`, like `msrp_bench`: only what the benchmark needs. A
//! task reads the connection, answers every SEND that asks for it with 200, and
//! reports complete messages (by the CPIM `imdn.Message-ID`, which cpmd keeps while
//! it gives the MSRP message a Message-ID of its own) and responses to ours.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::sip::Failure;

/// What the reader saw.
#[derive(Debug)]
enum Event {
    /// A complete message carrying this imdn.Message-ID.
    Message(String),
    /// A response to our request `tid` with this status.
    Response(String, u16),
}

/// One MSRP leg of a terminal.
pub struct Leg {
    name: String,
    /// Its own `a=path` (also the From-Path of what it sends).
    pub own: String,
    /// The server's `a=path` for this leg (the To-Path of what it sends).
    peer: String,
    out: mpsc::UnboundedSender<Vec<u8>>,
    events: mpsc::UnboundedReceiver<Event>,
    sent: u64,
    limit: Duration,
}

/// The path a terminal puts in its SDP (`a=setup:active`: the port is never dialled,
/// RFC 4975 only compares the URI).
pub fn own_path(session: &str) -> String {
    format!("msrp://127.0.0.1:9/{session};tcp")
}

impl Leg {
    /// Connects to the first URI of `peer` and binds (empty SEND, its 200).
    pub async fn open(
        name: String,
        own: String,
        peer: String,
        limit: Duration,
    ) -> Result<Self, Failure> {
        let first = peer.split_whitespace().next().unwrap_or_default();
        let authority = first
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| format!("{name}: bad server path {peer:?}"))?
            .to_owned();
        let stream = TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("{name}: MSRP connect {authority}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let (answer, own2) = (out.clone(), own.clone());
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                while let Some((frame, used)) = parse(&buf) {
                    buf.drain(..used);
                    let ev = match frame {
                        Frame::Send {
                            tid,
                            from_path,
                            imdn_id,
                            last,
                            wants_response,
                        } => {
                            if wants_response {
                                let _ = answer.send(response(&tid, &from_path, &own2));
                            }
                            match imdn_id {
                                Some(id) if last => Event::Message(id),
                                Some(_) | None => continue,
                            }
                        }
                        Frame::Response { tid, status } => Event::Response(tid, status),
                        Frame::Other => continue,
                    };
                    if ev_tx.send(ev).is_err() {
                        return;
                    }
                }
                match read.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let mut leg = Self {
            name,
            own,
            peer,
            out,
            events,
            sent: 0,
            limit,
        };
        let bind = format!(
            "MSRP bind SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: bind0\r\n\
             Byte-Range: 1-0/0\r\n-------bind$\r\n",
            leg.peer, leg.own
        );
        leg.write(bind.into_bytes())?;
        leg.collect(&["bind".to_owned()].into_iter().collect(), &BTreeSet::new())
            .await?;
        Ok(leg)
    }

    fn write(&self, bytes: Vec<u8>) -> Result<(), Failure> {
        self.out
            .send(bytes)
            .map_err(|_| format!("{}: MSRP connection closed", self.name))
    }

    /// Sends one CPIM text message `id` (its transaction id is returned).
    pub fn say(&mut self, id: &str, from: &str, to: &str) -> Result<String, Failure> {
        self.sent += 1;
        let tid = format!("tx{:04}", self.sent); // RFC 4975: at least 4 characters
        let text = format!("claim bench message {id}");
        let cpim = format!(
            "From: <{from}>\r\nTo: <{to}>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
             imdn.Message-ID: {id}\r\nDateTime: 2026-12-07T04:00:00.000Z\r\n\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {id}\r\n\
             Byte-Range: 1-{n}/{n}\r\nContent-Type: message/cpim\r\n\r\n{cpim}\r\n-------{tid}$\r\n",
            self.peer,
            self.own,
            n = cpim.len()
        );
        self.write(frame.into_bytes())?;
        Ok(tid)
    }

    /// Waits until every transaction of `tids` got its 200 and every message of
    /// `ids` arrived (others that arrive are a failure: nobody else talks here).
    pub async fn collect(
        &mut self,
        tids: &BTreeSet<String>,
        ids: &BTreeSet<String>,
    ) -> Result<(), Failure> {
        let (mut tids, mut ids) = (tids.clone(), ids.clone());
        let deadline = tokio::time::Instant::now() + self.limit;
        while !tids.is_empty() || !ids.is_empty() {
            let ev = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => {
                    return Err(format!(
                        "{}: MSRP connection closed; missing {tids:?} {ids:?}",
                        self.name
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "{}: missing within {:?}: 200s {tids:?}, messages {ids:?}",
                        self.name, self.limit
                    ))
                }
            };
            match ev {
                Event::Response(tid, 200) if tids.remove(&tid) => {}
                Event::Message(id) if ids.remove(&id) => {}
                other @ (Event::Response(..) | Event::Message(_)) => {
                    return Err(format!("{}: unexpected {other:?}", self.name))
                }
            }
        }
        Ok(())
    }
}

/// One parsed frame: what the benchmark needs of it.
enum Frame {
    Send {
        tid: String,
        from_path: String,
        imdn_id: Option<String>,
        last: bool,
        wants_response: bool,
    },
    Response {
        tid: String,
        status: u16,
    },
    /// REPORT or another request: nothing to do.
    Other,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Parses one frame at the start of `buf`: `(frame, bytes used)` once complete.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let eol = find(buf, b"\r\n", 0)?;
    let start = String::from_utf8_lossy(&buf[..eol]).into_owned();
    let mut parts = start.split(' ');
    let _msrp = parts.next()?;
    let tid = parts.next()?.to_owned();
    let what = parts.next()?.to_owned();
    let marker = format!("\r\n-------{tid}");
    let end = find(buf, marker.as_bytes(), eol)?;
    let flag_at = end + marker.len();
    if buf.len() < flag_at + 3 {
        return None;
    }
    let used = flag_at + 3;
    let inner = String::from_utf8_lossy(&buf[eol + 2..end + 2]).into_owned();
    let (head, body) = inner.split_once("\r\n\r\n").unwrap_or((&inner, ""));
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if let Ok(status) = what.parse::<u16>() {
        return Some((Frame::Response { tid, status }, used));
    }
    if what != "SEND" {
        return Some((Frame::Other, used));
    }
    let failure_report = header("Failure-Report").unwrap_or_default();
    let imdn_id = body.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("imdn.Message-ID")
            .then(|| v.trim().to_owned())
    });
    let frame = Frame::Send {
        from_path: header("From-Path").unwrap_or_default(),
        imdn_id,
        last: buf[flag_at] == b'$',
        wants_response: failure_report.is_empty() || failure_report == "yes",
        tid,
    };
    Some((frame, used))
}

/// A transaction response (RFC 4975 §7.2): To-Path is the previous hop.
fn response(tid: &str, from_path: &str, own: &str) -> Vec<u8> {
    let prev = from_path.split_whitespace().next().unwrap_or_default();
    format!("MSRP {tid} 200 OK\r\nTo-Path: {prev}\r\nFrom-Path: {own}\r\n-------{tid}$\r\n")
        .into_bytes()
}
