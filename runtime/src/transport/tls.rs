//! TLS under a SIP or MSRP stream (RFC 3261 §26, RFC 4975 §14): the server side of
//! a handshake on a TLS listener and the client side of an outbound connection.
//! After the handshake the connection is pumped like a TCP one (`tcp.rs`); the
//! core only ever sees plaintext.
//!
//! Not here: the certificate configuration and its reload (`crate::tls`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

/// The server's TLS configuration (swapped on SIGHUP; each handshake takes the one
/// in force).
pub type ServerTls = crate::tls::Tls;

/// The client configuration for outbound TLS (peer verification per `[tls]`,
/// reloaded on SIGHUP: each handshake takes the one in force).
pub type ClientTls = Arc<crate::tls::peer::PeerTls>;

/// How long a handshake may take, inbound or outbound (specs/tls.md, Timers).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of the handshake; `None` (logged) when it fails or times out.
pub async fn accept(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "tls handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "tls handshake timed out");
            None
        }
    }
}

/// The client side of the handshake with `peer`. When verification is on, its
/// certificate must carry `server_name` (a DNS name: the host of the terminal's
/// Contact, RFC 5922 §7.2, TLS-15) or, without one, `peer`'s IP address.
pub async fn connect(
    tls: &ClientTls,
    stream: TcpStream,
    peer: SocketAddr,
    server_name: Option<String>,
) -> Result<client::TlsStream<TcpStream>, String> {
    let name = match server_name {
        Some(dns) => match ServerName::try_from(dns) {
            Ok(name) => name,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "outbound tls: unusable server name");
                return Err(format!("tls server name: {e}"));
            }
        },
        None => ServerName::IpAddress(peer.ip().into()),
    };
    let connector = TlsConnector::from(tls.config());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "outbound tls handshake failed");
            Err(format!("tls handshake: {e}"))
        }
        Err(_) => Err("tls handshake timed out".into()),
    }
}
