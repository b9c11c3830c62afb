//! The push hook (specs/deferred.md, DEF-11): when the core defers a message
//! (`Event::MessageDeferred`), POST a small JSON document to the operator's push
//! gateway (`[push] url`) so it can wake the recipient's device:
//!
//! ```json
//! {"recipient":"sip:bob@example.com","sender":"sip:alice@example.com",
//!  "kind":"pager","conversation_id":"…"}
//! ```
//!
//! plus `content_type` and `body` (as text) only with `include_body = true`.
//!
//! Off the event loop: the loop only queues the document ([`PushHook::announce`],
//! never waits; a full queue drops it with a warning: the message itself is safe in
//! the store, only the wake-up is lost). A task posts each one with a per-attempt
//! timeout and retries after 1 s, 2 s, 4 s, ... on a connection failure, a timeout
//! or a 5xx; a 2xx ends it, another status gives up (logged).
//!
//! The client is hand-written HTTP/1.1 over a tokio `TcpStream` (`http://` only,
//! one request per connection, `Connection: close`): about a hundred lines, where
//! an HTTP client crate would add a dependency tree for one POST (README's
//! dependency list says why). A gateway reached over TLS sits behind a local
//! forwarder.
//!
//! What it is *not*: the deferral itself (the core) or any delivery guarantee.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use crate::deferred_config::PushFileConfig;

/// Posts in flight at once.
const CONCURRENCY: usize = 16;

/// Largest answer head read (the status line is all that counts).
const MAX_HEAD: usize = 8 * 1024;

/// A `[push] url` that is not `http://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[push] url {0:?}: expected http://HOST[:PORT][/PATH]")]
pub struct PushUrlError(pub String);

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 when the URL names none).
    pub port: u16,
    /// Path and query (`/` when the URL names none).
    pub path: String,
    /// The `Host` header (as the URL wrote it).
    pub authority: String,
}

impl Target {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Self, PushUrlError> {
        let bad = || PushUrlError(url.to_owned());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 80,
                None => return Err(bad()),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), 80),
            }
        };
        if host.is_empty() || path.contains(['\r', '\n', ' ']) {
            return Err(bad());
        }
        Ok(Self {
            host,
            port,
            path: path.to_owned(),
            authority: authority.to_owned(),
        })
    }
}

/// The loop's handle: queues documents for the posting task.
#[derive(Debug, Clone)]
pub struct PushHook {
    tx: mpsc::Sender<Vec<u8>>,
    include_body: bool,
}

/// One deferral, as the document tells it.
pub struct Deferral<'a> {
    /// Who the message waits for.
    pub recipient: &'a str,
    /// Its sender.
    pub sender: &'a str,
    /// Its Conversation-ID, if any.
    pub conversation_id: Option<&'a str>,
    /// Its Content-Type.
    pub content_type: &'a str,
    /// Its body.
    pub body: &'a [u8],
    /// `pager` (a pager MESSAGE) or `session` (a message of a store-and-forward
    /// session, specs/deferred.md).
    pub kind: &'a str,
}

impl PushHook {
    /// Starts the posting task when `[push] url` is set (inside a tokio runtime).
    pub fn start(config: &PushFileConfig) -> Result<Option<Self>, PushUrlError> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let target = Target::parse(url)?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let timeout = Duration::from_secs(config.timeout_s.max(1));
        tokio::spawn(run(target, rx, timeout, config.retries));
        Ok(Some(Self {
            tx,
            include_body: config.include_body,
        }))
    }

    /// Queues the document for `d`; never waits (DEF-11).
    pub fn announce(&self, d: &Deferral<'_>) {
        let mut doc = serde_json::json!({
            "recipient": d.recipient,
            "sender": d.sender,
            "kind": d.kind,
            "conversation_id": d.conversation_id,
        });
        if self.include_body {
            doc["content_type"] = d.content_type.into();
            doc["body"] = String::from_utf8_lossy(d.body).into_owned().into();
        }
        if self.tx.try_send(doc.to_string().into_bytes()).is_err() {
            tracing::warn!(
                recipient = d.recipient,
                "push queue full: notification dropped"
            );
        }
    }
}

/// Posts every queued document, [`CONCURRENCY`] at a time.
async fn run(target: Target, mut rx: mpsc::Receiver<Vec<u8>>, timeout: Duration, retries: u32) {
    let target = Arc::new(target);
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(doc) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let target = target.clone();
        tokio::spawn(async move {
            deliver(&target, &doc, timeout, retries).await;
            drop(slot);
        });
    }
}

/// One document: attempts until a 2xx, a final refusal, or the retries are spent.
async fn deliver(target: &Target, doc: &[u8], timeout: Duration, retries: u32) {
    let mut backoff = Duration::from_secs(1);
    for attempt in 0..=retries {
        match tokio::time::timeout(timeout, post(target, doc)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                tracing::debug!(status, attempt, "push delivered");
                return;
            }
            Ok(Ok(status)) if status < 500 => {
                tracing::warn!(status, "push refused by the gateway; not retried");
                return;
            }
            Ok(Ok(status)) => tracing::warn!(status, attempt, "push failed"),
            Ok(Err(error)) => tracing::warn!(%error, attempt, "push failed"),
            Err(_) => tracing::warn!(attempt, "push timed out"),
        }
        if attempt < retries {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    tracing::warn!("push given up after {} attempts", retries + 1);
}

/// One POST; the answer's status code.
async fn post(target: &Target, doc: &[u8]) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cpmd\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority,
        doc.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(doc).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    status_of(&answer)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line"))
}

/// The status code of `HTTP/1.x NNN ...`.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/1."))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    //! The URL forms and the status line (DEF-11); the posting itself is tested
    //! end to end against a local receiver (tests/tests/deferred.rs).

    use super::*;

    #[test]
    fn urls_parse_with_and_without_port_and_path() {
        let t = Target::parse("http://127.0.0.1:8080/push?x=1").expect("ok");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/push?x=1")
        );
        let t = Target::parse("http://gw.example").expect("ok");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("gw.example", 80, "/")
        );
        let t = Target::parse("http://[::1]:9/p").expect("ok");
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 9, "[::1]:9")
        );
        for bad in [
            "https://x/",
            "http://",
            "http://u@h/",
            "http://h:x/",
            "http://h/a b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_status_code_is_read_from_the_status_line() {
        assert_eq!(status_of(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_of(b"HTTP/1.0 503 Busy\r\nX: y\r\n"), Some(503));
        assert_eq!(status_of(b"SIP/2.0 200 OK\r\n"), None);
        assert_eq!(status_of(b""), None);
    }
}
