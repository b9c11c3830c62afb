//! A raw SIP peer over UDP or TCP that sends exact bytes and reads whole messages,
//! for the torture corpus (`tests/torture/`): it frames a TCP stream by
//! Content-Length itself and tells "connection closed" apart from "a message". Not a
//! SIP stack: it builds nothing beyond the probe OPTIONS and plain answers.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::Transport;

/// How long a read may block before it counts as "nothing came" (a liveness bound,
/// not a timing assertion: every expected message is already on its way, so only a
/// failing case ever waits this long).
const TIMEOUT: Duration = Duration::from_secs(5);

/// One message received, or the end of the TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A whole SIP message (head and Content-Length body bytes).
    Message(Vec<u8>),
    /// The server closed the TCP connection.
    Closed,
    /// Nothing arrived within the read timeout.
    Nothing,
}

/// The first line of a message, lossily decoded.
pub fn first_line(msg: &[u8]) -> String {
    let end = msg.iter().position(|b| *b == b'\r' || *b == b'\n');
    String::from_utf8_lossy(&msg[..end.unwrap_or(msg.len())]).into_owned()
}

/// The status code of a response, if `msg` is one.
pub fn status_of(msg: &[u8]) -> Option<u16> {
    let line = first_line(msg);
    let rest = line.strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// The value of the first header `name` (long form, case-insensitive), if any.
pub fn header_value(msg: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head_of(msg)).into_owned();
    text.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The head of a message (up to the empty line).
pub fn head_of(msg: &[u8]) -> &[u8] {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    &msg[..end]
}

/// A peer socket towards one cpmd listener.
pub enum Peer {
    /// A UDP socket (answers come to its source address).
    Udp(UdpSocket, SocketAddr),
    /// A TCP connection and the bytes read but not yet framed.
    Tcp(TcpStream, Vec<u8>),
}

impl Peer {
    /// Opens a socket to `server` over `transport`.
    pub fn connect(transport: Transport, server: SocketAddr) -> Self {
        match transport {
            Transport::Udp => {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
                sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
                Peer::Udp(sock, server)
            }
            Transport::Tcp => {
                let conn = TcpStream::connect(server).expect("connect tcp");
                conn.set_read_timeout(Some(TIMEOUT)).expect("timeout");
                Peer::Tcp(conn, Vec::new())
            }
        }
    }

    /// The local address (for Via and Contact).
    pub fn local(&self) -> SocketAddr {
        match self {
            Peer::Udp(s, _) => s.local_addr().expect("addr"),
            Peer::Tcp(s, _) => s.local_addr().expect("addr"),
        }
    }

    /// The transport token for a Via header.
    pub fn via_transport(&self) -> &'static str {
        match self {
            Peer::Udp(..) => "UDP",
            Peer::Tcp(..) => "TCP",
        }
    }

    /// Sends bytes: one datagram, or a write on the stream.
    pub fn send(&mut self, bytes: &[u8]) {
        match self {
            Peer::Udp(s, server) => {
                s.send_to(bytes, *server).expect("send datagram");
            }
            Peer::Tcp(s, _) => s.write_all(bytes).expect("write stream"),
        }
    }

    /// TCP: no more bytes from this side (the server sees end of stream).
    pub fn finish(&mut self) {
        if let Peer::Tcp(s, _) = self {
            s.shutdown(Shutdown::Write).expect("shutdown write");
        }
    }

    /// The next message, the end of the TCP connection, or nothing within the read
    /// timeout.
    pub fn recv(&mut self) -> Received {
        match self {
            Peer::Udp(s, _) => {
                let mut buf = vec![0u8; 65_535];
                match s.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        buf.truncate(n);
                        Received::Message(buf)
                    }
                    Err(e) if is_timeout(&e) => Received::Nothing,
                    Err(e) => panic!("waiting for a datagram: {e}"),
                }
            }
            Peer::Tcp(s, pending) => loop {
                if let Some(msg) = cut_frame(pending) {
                    return Received::Message(msg);
                }
                let mut buf = [0u8; 16 * 1024];
                match s.read(&mut buf) {
                    Ok(0) => return Received::Closed,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                        return Received::Closed
                    }
                    Err(e) if is_timeout(&e) => return Received::Nothing,
                    Err(e) => panic!("waiting for a message on tcp: {e}"),
                }
            },
        }
    }

    /// The next final response (provisional ones skipped), or `None` when the TCP
    /// connection closed or nothing came first.
    pub fn final_response(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.recv() {
                Received::Closed | Received::Nothing => return None,
                Received::Message(m) => {
                    if status_of(&m).is_some_and(|s| s >= 200) {
                        return Some(m);
                    }
                }
            }
        }
    }

    /// An OPTIONS from this socket with its own Call-ID (`probe-<tag>`).
    pub fn probe(&self, tag: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:cpmd@example.com SIP/2.0\r\n\
             Via: SIP/2.0/{} {};branch=z9hG4bK-probe-{tag}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:prober@example.com>;tag=p-{tag}\r\n\
             To: <sip:cpmd@example.com>\r\nCall-ID: probe-{tag}\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            self.via_transport(),
            self.local(),
        )
        .into_bytes()
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Cuts one whole message off the front of `pending` (CRLF keep-alives skipped).
pub fn cut_frame(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let skip = pending
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(pending.len());
    pending.drain(..skip);
    let head_end = pending.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let length = head
        .split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    if pending.len() < head_end + length {
        return None;
    }
    Some(pending.drain(..head_end + length).collect())
}
