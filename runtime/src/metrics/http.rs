//! The metrics listener: a minimal HTTP/1.1 server for scrapers and orchestrators.
//! `GET /metrics` (the exposition), `GET /health` (200 while the process serves),
//! `GET /ready` (200 once listeners are bound and the store is open, 503 before and
//! after the store is gone); anything else 404, other methods 405. One request per
//! connection (`Connection: close`).
//!
//! Bounded like every listener (specs/limits.md): a request head over 8 KiB or not
//! complete within 5 s gets no answer, and at most 32 scrapes run at once (more are
//! closed at once). Not a general web server: no keep-alive, no bodies, no TLS (bind
//! it to loopback or a management network).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::Metrics;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head (and to read the answer).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once.
const MAX_CONCURRENT: usize = 32;

/// A bound metrics listener.
pub struct MetricsListener {
    listener: TcpListener,
    /// The address bound (port 0 resolved).
    pub local: SocketAddr,
}

impl MetricsListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok(Self { listener, local })
    }

    /// Serves `metrics` until the runtime ends.
    pub fn spawn(self, metrics: Arc<Metrics>) {
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match self.listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!(%peer, "metrics: too many scrapes; closed");
                    continue;
                };
                let metrics = Arc::clone(&metrics);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TIMEOUT, serve(stream, &metrics)).await;
                    drop(slot);
                });
            }
        });
    }
}

/// Reads one request head and answers it.
async fn serve(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let answer = answer(&head, metrics);
    stream.write_all(&answer).await?;
    stream.shutdown().await
}

/// The whole HTTP response to request head `head`.
fn answer(head: &[u8], metrics: &Metrics) -> Vec<u8> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next());
    let path = target
        .map(|t| t.split(|&b| b == b'?').next().unwrap_or_default())
        .unwrap_or_default();
    if method != b"GET" {
        return response("405 Method Not Allowed", "text/plain", "GET only\n");
    }
    match path {
        b"/metrics" => response(
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            &metrics.encode(),
        ),
        b"/health" => response("200 OK", "text/plain", "ok\n"),
        b"/ready" if metrics.is_ready() => response("200 OK", "text/plain", "ready\n"),
        b"/ready" => response("503 Service Unavailable", "text/plain", "not ready\n"),
        _ => response("404 Not Found", "text/plain", "not found\n"),
    }
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str, metrics: &Metrics) -> String {
        let a = String::from_utf8(answer(head.as_bytes(), metrics)).unwrap();
        a.lines().next().unwrap().to_owned()
    }

    #[test]
    fn paths_methods_and_readiness() {
        let m = Metrics::new();
        assert_eq!(
            status("GET /health HTTP/1.1\r\n\r\n", &m),
            "HTTP/1.1 200 OK"
        );
        assert_eq!(
            status("GET /ready HTTP/1.1\r\n\r\n", &m),
            "HTTP/1.1 503 Service Unavailable"
        );
        m.set_ready(true);
        assert_eq!(status("GET /ready HTTP/1.0\r\n\r\n", &m), "HTTP/1.1 200 OK");
        assert_eq!(
            status("GET /metrics?x=1 HTTP/1.1\r\n\r\n", &m),
            "HTTP/1.1 200 OK"
        );
        assert_eq!(
            status("POST /metrics HTTP/1.1\r\n\r\n", &m),
            "HTTP/1.1 405 Method Not Allowed"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\n\r\n", &m),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(status("\r\n\r\n", &m), "HTTP/1.1 405 Method Not Allowed");
    }
}
