//! The SIP side of a `claim_bench` terminal: one TCP connection per user to cpmd's SIP
//! listener (the user's flow: cpmd sends it requests on it, and attributes the user's
//! requests by it, REG-2 with authentication off), Content-Length framing
//! (`cpmd_tests::sip_peer::cut_frame`), requests and answers written as text the way
//! the Python clients of the claim tests write them. Not a SIP stack: no
//! retransmission (TCP), no forking, no authentication.

use std::net::SocketAddr;
use std::time::Duration;

use cpmd_tests::sip_peer::{cut_frame, header_value, status_of};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// One received SIP message, as text.
pub type Msg = String;

/// A user's SIP connection.
pub struct SipUser {
    /// User part (`r1a3`): the AOR is `sip:NAME@DOMAIN`.
    pub name: String,
    domain: String,
    local: SocketAddr,
    write: OwnedWriteHalf,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Messages read but not yet taken by an `expect`.
    backlog: Vec<Msg>,
    cseq: u32,
    counter: u64,
    /// How long one `expect` waits.
    pub limit: Duration,
}

/// Why a flow failed (a line for stderr).
pub type Failure = String;

impl SipUser {
    /// Connects to `server` and reads messages on a task of their own.
    pub async fn connect(
        server: SocketAddr,
        name: String,
        domain: &str,
        limit: Duration,
    ) -> Result<Self, Failure> {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| format!("{name}: connect {server}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let (mut read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                while let Some(frame) = cut_frame(&mut pending) {
                    if tx
                        .send(String::from_utf8_lossy(&frame).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
        });
        Ok(Self {
            name,
            domain: domain.to_owned(),
            local,
            write,
            rx,
            backlog: Vec::new(),
            cseq: 0,
            counter: 0,
            limit,
        })
    }

    /// `sip:NAME@DOMAIN`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.name, self.domain)
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{};transport=tcp>", self.name, self.local)
    }

    fn via(&mut self) -> String {
        self.counter += 1;
        format!(
            "SIP/2.0/TCP {};branch=z9hG4bK-{}-{};rport",
            self.local, self.name, self.counter
        )
    }

    /// A fresh tag or Call-ID part, unique for this user.
    pub fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}-{}-{}", self.name, self.counter)
    }

    /// Writes `text` on the connection.
    pub async fn send(&mut self, text: &str) -> Result<(), Failure> {
        self.write
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("{}: write: {e}", self.name))
    }

    /// An out-of-dialog or in-dialog request from this user; `to` is the To header
    /// value (with a tag inside a dialog), `extra` more header lines.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        method: &str,
        uri: &str,
        from_tag: &str,
        to: &str,
        call_id: &str,
        cseq: Option<u32>,
        extra: &str,
        body: &str,
    ) -> String {
        let cseq = cseq.unwrap_or_else(|| {
            self.cseq += 1;
            self.cseq
        });
        format!(
            "{method} {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n\
             From: <{}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            self.via(),
            self.aor(),
            self.contact(),
            body.len(),
        )
    }

    /// A BYE inside a dialog this user answered (it is the UAS of `invite`; `ok_to`
    /// is the To of its 200, with its tag).
    pub fn bye_as_callee(&mut self, invite: &str, ok_to: &str) -> String {
        self.cseq += 1;
        let target = uri_in(&header(invite, "Contact"));
        format!(
            "BYE {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {ok_to}\r\n\
             To: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            self.via(),
            header(invite, "From"),
            header(invite, "Call-ID"),
            self.cseq,
        )
    }

    /// A response to `req` (Via, From, Call-ID, CSeq copied; To with `tag` added when
    /// it has none); returns the text and its To.
    pub fn answer(
        &self,
        req: &str,
        status: &str,
        tag: &str,
        sdp: Option<&str>,
    ) -> (String, String) {
        let vias: String = head_lines(req)
            .filter(|(n, _)| n.eq_ignore_ascii_case("via") || n.eq_ignore_ascii_case("v"))
            .map(|(_, v)| format!("Via: {v}\r\n"))
            .collect();
        let mut to = header(req, "To");
        if !to.contains(";tag=") {
            to = format!("{to};tag={tag}");
        }
        let (ctype, body) = match sdp {
            Some(s) => ("Content-Type: application/sdp\r\n", s),
            None => ("", ""),
        };
        let text = format!(
            "SIP/2.0 {status}\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: {}\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            header(req, "From"),
            header(req, "Call-ID"),
            header(req, "CSeq"),
            self.contact(),
            body.len(),
        );
        (text, to)
    }

    /// REGISTER (Expires 3600) and its 200.
    pub async fn register(&mut self) -> Result<(), Failure> {
        let call_id = self.fresh("reg");
        let tag = self.fresh("t");
        let aor = self.aor();
        let req = self.request(
            "REGISTER",
            &format!("sip:{}", self.domain),
            &tag,
            &format!("<{aor}>"),
            &call_id,
            None,
            "Expires: 3600\r\n",
            "",
        );
        self.send(&req).await?;
        self.final_ok("REGISTER", &call_id).await.map(drop)
    }

    /// The next message matching `pred` (others are kept for later calls).
    pub async fn expect(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Msg, Failure> {
        if let Some(i) = self.backlog.iter().position(|m| pred(m)) {
            return Ok(self.backlog.remove(i));
        }
        let deadline = tokio::time::Instant::now() + self.limit;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) if pred(&m) => return Ok(m),
                Ok(Some(m)) => self.backlog.push(m),
                Ok(None) => {
                    return Err(format!(
                        "{}: connection closed waiting for {what}",
                        self.name
                    ))
                }
                Err(_) => {
                    let seen: Vec<String> = self.backlog.iter().map(|m| first_line(m)).collect();
                    return Err(format!(
                        "{}: no {what} within {:?}; unread {seen:?}",
                        self.name, self.limit
                    ));
                }
            }
        }
    }

    /// The final response to this user's `method` request on `call_id`: a 200, or
    /// the flow fails (provisional responses are dropped).
    pub async fn final_ok(&mut self, method: &str, call_id: &str) -> Result<Msg, Failure> {
        let want = format!(" {method}");
        let is_response = |m: &str| {
            m.starts_with("SIP/2.0 ")
                && header_value(m.as_bytes(), "Call-ID").as_deref() == Some(call_id)
                && header_value(m.as_bytes(), "CSeq").is_some_and(|c| c.ends_with(&want))
        };
        loop {
            let m = self
                .expect(&format!("answer to {method}"), is_response)
                .await?;
            match status_of(m.as_bytes()) {
                Some(s) if s < 200 => continue,
                Some(200) => return Ok(m),
                _ => {
                    return Err(format!(
                        "{}: {method} answered {:?}",
                        self.name,
                        first_line(&m)
                    ))
                }
            }
        }
    }

    /// The next `method` request whose header `name` is `value`.
    pub async fn request_with(
        &mut self,
        method: &str,
        name: &str,
        value: &str,
    ) -> Result<Msg, Failure> {
        let start = format!("{method} ");
        self.expect(&format!("{method} with {name} {value}"), |m| {
            m.starts_with(&start) && header_value(m.as_bytes(), name).as_deref() == Some(value)
        })
        .await
    }

    /// Forgets what is left unread (after a flow).
    pub fn clear(&mut self) -> usize {
        while let Ok(m) = self.rx.try_recv() {
            self.backlog.push(m);
        }
        let n = self.backlog.len();
        self.backlog.clear();
        n
    }
}

fn head_lines(msg: &str) -> impl Iterator<Item = (&str, &str)> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
}

/// The value of the first header `name` of `msg`, or "".
pub fn header(msg: &str, name: &str) -> String {
    header_value(msg.as_bytes(), name).unwrap_or_default()
}

/// The first line of `msg`.
pub fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or_default().to_owned()
}

/// The URI inside `<...>` of a header value (the value itself without brackets).
pub fn uri_in(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_owned(),
        _ => value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// The body of `msg` (after the empty line).
pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The first `a=path:` of an SDP body.
pub fn sdp_path(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=path:"))
        .map(|p| p.trim().to_owned())
}
