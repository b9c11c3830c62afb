//! A raw SIP-over-UDP terminal for tests that need to send exact bytes (malformed
//! requests, pager MESSAGEs) rather than a sipp scenario. Not a SIP stack: it builds
//! requests with the shared builders of `cpmd_core::testing` and sends their text
//! (which tests may edit into malformed input), and matches answers by their first
//! line.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use cpmd_core::sip::{Method, SipMessage};
use cpmd_core::testing;
use cpmd_core::wire::encode_message;
use cpmd_core::{CallId, Tag, Transport};

const TIMEOUT: Duration = Duration::from_secs(5);

/// One UDP terminal.
pub struct Ua {
    /// The terminal's socket.
    pub sock: UdpSocket,
    /// cpmd's UDP address.
    pub server: SocketAddr,
    /// The user name (`alice`).
    pub name: &'static str,
}

impl Ua {
    pub fn new(name: &'static str, server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        Self { sock, server, name }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().expect("addr").port()
    }

    pub fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    /// The next message whose first line starts with `prefix` (100 Trying and
    /// retransmissions are skipped).
    pub fn expect(&self, prefix: &str) -> String {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = self
                .sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{}: waiting for {prefix}: {e}", self.name));
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(prefix) {
                return text;
            }
        }
    }

    /// A request from this terminal to `to_user@example.com`, built with the shared
    /// builder (`cpmd_core::testing::request`: CSeq 1, Max-Forwards 70, Contact) and
    /// printed; `extra` holds further header lines exactly as they are to be sent
    /// (`Name: value\r\n` each), `body` the body. Tests edit the text further for
    /// malformed input.
    pub fn request(
        &self,
        method: &str,
        to_user: &str,
        call_id: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port());
        let sender = testing::Sender::new(
            testing::sip_uri(self.name, "example.com"),
            &Tag::new(format!("{}-tag", self.name)),
            CallId::new(call_id),
            testing::via(Transport::Udp, addr, &format!("{call_id}{method}")),
            testing::contact(self.name, addr),
        );
        let to = testing::sip_uri(to_user, "example.com");
        let mut req = testing::request(Method::from_token(method), to.clone(), to, sender);
        req.headers.other = extra
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(':').expect("extra header line");
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        req.body = body.as_bytes().to_vec();
        String::from_utf8(encode_message(&SipMessage::Request(req))).expect("UTF-8 request")
    }

    pub fn register(&self) {
        let call_id = format!("reg-{}", self.name);
        self.send(&self.request("REGISTER", self.name, &call_id, "Expires: 300\r\n", ""));
        self.expect("SIP/2.0 200");
    }

    /// Answers a request this terminal received with `status`.
    pub fn answer(&self, req: &str, status: &str) {
        self.send(&format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={}-tag\r\nCall-ID: {}\r\n\
             CSeq: {}\r\nContent-Length: 0\r\n\r\n",
            header(req, "Via"),
            header(req, "From"),
            header(req, "To"),
            self.name,
            header(req, "Call-ID"),
            header(req, "CSeq"),
        ));
    }
}

/// The value of the first header `name` in `msg` (case-insensitive), or "".
pub fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}
