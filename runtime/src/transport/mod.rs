//! Sockets: small tasks that only move bytes between the network and the event
//! loop. They never parse SIP or MSRP (the core frames and decodes) and never touch the
//! core.

pub mod per_ip;
pub mod tcp;
#[cfg(test)]
mod tcp_tests;
pub mod tls;
#[cfg(test)]
mod tls_name_tests;
pub mod udp;
pub mod udp_send;
#[cfg(test)]
mod udp_tests;
pub mod writer;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cpmd_core::ConnId;

/// Connection numbers the runtime hands out start here, far above the small numbers
/// the core would choose for its own `Connect` commands, so the two never collide.
pub const RUNTIME_CONN_BASE: u64 = 1 << 40;

/// Hands out connection numbers and task serials.
#[derive(Debug, Clone)]
pub struct ConnIds(Arc<AtomicU64>);

impl ConnIds {
    /// Numbers from [`RUNTIME_CONN_BASE`] on.
    pub fn new() -> Self {
        Self(Arc::new(AtomicU64::new(RUNTIME_CONN_BASE)))
    }

    /// A fresh number (used both for `ConnId`s and for connection-task serials).
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh connection id.
    pub fn conn(&self) -> ConnId {
        ConnId::new(self.next())
    }
}

impl Default for ConnIds {
    fn default() -> Self {
        Self::new()
    }
}

/// What the socket tasks tell the event loop (UDP datagrams it reads itself).
#[derive(Debug)]
pub enum NetEvent {
    /// An inbound TCP connection was accepted; bytes for it go to `writer`.
    Accepted {
        /// Its number.
        conn: ConnId,
        /// The connection task's serial (tells a stale `Closed` from a live one).
        serial: u64,
        /// The remote address.
        peer: SocketAddr,
        /// Where to queue bytes to send (bounded, see [`writer`]).
        writer: writer::Writer,
        /// Accepted on an MSRP listener (its bytes go to `handle_msrp_bytes`).
        msrp: bool,
        /// Accepted on a TLS listener (the handshake is done; SIP bytes on it are
        /// `Transport::Tls` to the core).
        tls: bool,
    },
    /// Bytes read from a TCP connection.
    Data {
        /// The connection.
        conn: ConnId,
        /// The remote address.
        peer: SocketAddr,
        /// What one read returned.
        bytes: Vec<u8>,
    },
    /// A TCP connection ended (EOF, error, idle timeout, failed connect).
    Closed {
        /// The connection.
        conn: ConnId,
        /// The connection task's serial.
        serial: u64,
        /// Why, for the log.
        reason: String,
    },
    /// An IMAP login attempt for the core's password-failure table (SEC-4f).
    Login(crate::imap::login_limit::LoginQuery),
    /// Another node's binding, read from the location rows (specs/scale-out.md).
    RemoteBinding(cpmd_core::server::RemoteBinding),
}
