//! IMAP over TLS: implicit TLS (RFC 8314, the IMAPS listener) and STARTTLS on the
//! plain listener (RFC 3501 §6.2.1), and what each connection may do before TLS
//! (`LOGINDISABLED` until STARTTLS when TLS is configured, unless the operator
//! allows plain-text login from loopback).
//!
//! Not here: the certificate and its reload (`crate::tls`), the IMAP protocol itself
//! (`conn.rs`, `session.rs`). See specs/tls.md (TLS-4..TLS-6).

use std::net::SocketAddr;
use std::time::Duration;

use imap_next::imap_types::response::{Code, Greeting, GreetingKind};
use tokio::net::TcpStream;

use super::conn;
use super::session::{capabilities_for, Shared};
use super::Settings;
use crate::tls::Tls;

/// A TLS handshake that has not finished by then is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection's transport allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Security {
    /// STARTTLS is offered (a plain connection on a server with TLS configured).
    pub starttls: bool,
    /// LOGIN and AUTHENTICATE are accepted.
    pub login: bool,
}

impl Default for Security {
    /// A server without TLS: nothing to offer, login accepted.
    fn default() -> Self {
        Self {
            starttls: false,
            login: true,
        }
    }
}

/// Over TLS: nothing more to offer, login accepted.
const SECURED: Security = Security {
    starttls: false,
    login: true,
};

/// How the connections of one listener begin.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Plain IMAP on a server without TLS configured.
    Plain,
    /// Plain IMAP offering STARTTLS; login before it is refused, except from a
    /// loopback address when `plaintext_login_on_loopback` is set.
    StartTls {
        /// The server's TLS configuration.
        tls: Tls,
        /// Accept LOGIN/AUTHENTICATE without TLS from 127.0.0.0/8 and ::1.
        plaintext_login_on_loopback: bool,
    },
    /// Implicit TLS: the handshake comes first (RFC 8314 §3.3, port 993).
    Implicit(Tls),
}

fn greeting(security: Security) -> Greeting<'static> {
    Greeting::new(
        GreetingKind::Ok,
        Some(Code::Capability(capabilities_for(security))),
        "cpmd IMAP4rev1 ready",
    )
    .expect("valid greeting")
}

async fn handshake(
    tls: &Tls,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "imap: TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "imap: TLS handshake timed out");
            None
        }
    }
}

/// Serves one accepted connection as `mode` says, to its end.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Shared,
    settings: Settings,
    mode: Mode,
) {
    match mode {
        Mode::Plain => {
            let security = Security::default();
            let g = Some(greeting(security));
            let _ = conn::serve_stream(stream, Some(peer), shared, settings, g, security).await;
        }
        Mode::Implicit(tls) => {
            if let Some(s) = handshake(&tls, stream, peer).await {
                let g = Some(greeting(SECURED));
                let _ = conn::serve_stream(s, Some(peer), shared, settings, g, SECURED).await;
            }
        }
        Mode::StartTls {
            tls,
            plaintext_login_on_loopback,
        } => {
            let security = Security {
                starttls: true,
                login: plaintext_login_on_loopback && peer.ip().is_loopback(),
            };
            let g = Some(greeting(security));
            let plain = conn::serve_stream(
                stream,
                Some(peer),
                shared.clone(),
                settings.clone(),
                g,
                security,
            )
            .await;
            if let Some(stream) = plain {
                if let Some(s) = handshake(&tls, stream, peer).await {
                    let _ =
                        conn::serve_stream(s, Some(peer), shared, settings, None, SECURED).await;
                }
            }
        }
    }
}
