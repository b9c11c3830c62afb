//! A raw IMAP client for tests that send exact command bytes (hostile patterns,
//! oversized FETCHes) rather than what a library would send. Not an IMAP
//! implementation: it writes a tagged line and reads until the tagged answer,
//! reading `{n}` literals by their byte count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One connection.
pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

/// A tagged command's answer.
#[derive(Debug)]
pub struct Answer {
    /// The untagged lines and literals before the tagged line, as received.
    pub untagged: Vec<u8>,
    /// The tagged line without its tag (`OK LIST completed`).
    pub status: String,
}

impl Imap {
    /// Connects to `addr` and reads the greeting; reads wait at most `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Self {
        let stream = TcpStream::connect(addr).expect("connect IMAP");
        stream.set_read_timeout(Some(timeout)).expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut me = Self {
            reader: BufReader::new(stream),
            writer,
            next_tag: 0,
        };
        let greeting = me.line().expect("IMAP greeting");
        assert!(greeting.starts_with(b"* OK"), "greeting {greeting:?}");
        me
    }

    /// Connects and logs in as `user` with `password`.
    pub fn login(addr: SocketAddr, timeout: Duration, user: &str, password: &str) -> Self {
        let mut me = Self::connect(addr, timeout);
        let a = me.command(&format!("LOGIN {user} {password}"));
        assert!(a.status.starts_with("OK"), "LOGIN: {a:?}");
        me
    }

    fn line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line)
    }

    /// Sends `text` (without tag and CRLF) and reads its answer.
    pub fn command(&mut self, text: &str) -> Answer {
        self.try_command(text).unwrap_or_else(|e| {
            let short: String = text.chars().take(80).collect();
            panic!("IMAP {short:?}…: {e}")
        })
    }

    /// Like [`Imap::command`], the I/O error (timeout, reset) returned.
    pub fn try_command(&mut self, text: &str) -> std::io::Result<Answer> {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        self.writer
            .write_all(format!("{tag} {text}\r\n").as_bytes())?;
        self.read_answer(&tag)
    }

    fn read_answer(&mut self, tag: &str) -> std::io::Result<Answer> {
        let mut untagged = Vec::new();
        loop {
            let line = self.line()?;
            if let Some(rest) = line.strip_prefix(format!("{tag} ").as_bytes()) {
                let status = String::from_utf8_lossy(rest).trim_end().to_owned();
                return Ok(Answer { untagged, status });
            }
            untagged.extend_from_slice(&line);
            if let Some(n) = literal_len(&line) {
                let mut lit = vec![0u8; n];
                self.reader.read_exact(&mut lit)?;
                untagged.extend_from_slice(&lit);
            }
        }
    }

    /// Sends `head {n}` CRLF, waits for the server's `+` continuation, sends the
    /// `n` bytes of `literal` and CRLF (the rest of the command), and reads the answer.
    pub fn command_literal(&mut self, head: &str, literal: &[u8]) -> Answer {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        let io = |me: &mut Self| -> std::io::Result<Answer> {
            me.writer
                .write_all(format!("{tag} {head} {{{}}}\r\n", literal.len()).as_bytes())?;
            let cont = me.line()?;
            if !cont.starts_with(b"+") {
                // Refused before the literal (too long): the tagged answer.
                let status = String::from_utf8_lossy(&cont).trim_end().to_owned();
                return Ok(Answer {
                    untagged: Vec::new(),
                    status: status
                        .strip_prefix(&format!("{tag} "))
                        .unwrap_or(&status)
                        .to_owned(),
                });
            }
            me.writer.write_all(literal)?;
            me.writer.write_all(b"\r\n")?;
            me.read_answer(&tag)
        };
        io(self).unwrap_or_else(|e| panic!("IMAP {head:?} with a literal: {e}"))
    }

    /// Sends raw bytes (no tag, no CRLF added).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }
}

/// The `n` of a line ending in `{n}` CRLF.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let open = line.strip_suffix(b"}")?;
    let start = open.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&open[start + 1..]).ok()?.parse().ok()
}
