//! The IMAP4rev1 server (RFC 3501, with CONDSTORE, IDLE, NAMESPACE, UIDPLUS,
//! ENABLE, UNSELECT, SASL-IR) through which users read their CPM message store
//! with ordinary mail clients: the [`MailStore`] view, per user, read-mostly (flags,
//! `\Deleted` and expunge of the user's own copy).
//!
//! Built on `imap-next` (protocol flows) and `imap-codec` (parsing and
//! serialisation): no protocol text is written by hand here. Files: `conn.rs` (one
//! connection's I/O loop), `session.rs` (command semantics), `fetch.rs`,
//! `search.rs`, `message.rs` (reading objects), `pattern.rs` (sets and wildcards),
//! `auth.rs` (users), `tls.rs` (IMAPS and STARTTLS). Not here: APPEND,
//! COPY/MOVE, keywords, QRESYNC.
//!
//! See `specs/imap.md` for what a client sees and the IMAP-n invariants.

mod auth;
#[cfg(test)]
mod bench;
#[cfg(test)]
mod client_tests;
mod conn;
mod fetch;
mod list;
#[cfg(test)]
mod list_tests;
pub mod login_limit;
#[cfg(test)]
pub mod memory;
mod message;
mod pattern;
mod search;
mod session;
#[cfg(test)]
mod tests;
mod tls;
#[cfg(test)]
mod tls_tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imap_next::imap_types::response::{Greeting, GreetingKind};
use tokio::net::TcpListener;

pub use auth::Users;
pub use tls::Mode;

use crate::mailstore::MailStore;
use crate::transport::per_ip::PerIp;
use session::Shared;

/// Limits of the IMAP listener.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Open connections at most; more are greeted with BYE and closed.
    pub max_connections: usize,
    /// A connection silent this long (IDLE included) is closed (RFC 3501 §5.4
    /// asks for at least 30 minutes).
    pub idle_timeout: Duration,
    /// Largest literal a client may send; bigger ones are refused with BAD.
    pub max_literal: u32,
    /// Open connections from one address at most; more are greeted with BYE
    /// (specs/limits.md, LIM-7).
    pub max_per_ip: usize,
    /// A connection not logged in within this long gets BYE and is closed
    /// (LIM-7); after login [`Settings::idle_timeout`] applies.
    pub login_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_connections: 256,
            idle_timeout: Duration::from_secs(30 * 60),
            max_literal: 64 * 1024,
            max_per_ip: 64,
            login_timeout: Duration::from_secs(60),
        }
    }
}

/// A bound IMAP listener.
pub struct ImapListener {
    listener: TcpListener,
    /// The address bound (port 0 resolved).
    pub local: SocketAddr,
}

impl ImapListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok(Self { listener, local })
    }

    /// Accepts connections for ever, each served on its own task (no TLS).
    pub fn spawn(self, store: Arc<dyn MailStore>, users: Users, settings: Settings) {
        let _open = self.spawn_with(store, users, settings, Mode::Plain);
    }

    /// Accepts connections for ever, each begun as `mode` says (plain, STARTTLS
    /// offered, or implicit TLS) and served on its own task. Returns the number of
    /// connections open on this listener (for the metrics).
    pub fn spawn_with(
        self,
        store: Arc<dyn MailStore>,
        users: Users,
        settings: Settings,
        mode: Mode,
    ) -> Arc<AtomicUsize> {
        let shared = Shared { store, users };
        let open = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&open);
        let per_ip = PerIp::new(settings.max_per_ip);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match self.listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "imap: accept failed");
                        // Out of descriptors and the like: do not spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let ip_slot = per_ip.take(peer.ip());
                let full = open.fetch_add(1, Ordering::SeqCst) >= settings.max_connections
                    || ip_slot.is_none();
                let (shared, settings, open) = (shared.clone(), settings.clone(), open.clone());
                let mode = mode.clone();
                tokio::spawn(async move {
                    if full {
                        tracing::warn!(%peer, "imap: too many connections");
                        let greeting =
                            Greeting::new(GreetingKind::Bye, None, "too many connections")
                                .expect("valid greeting");
                        // An implicit-TLS client would read the BYE as a broken
                        // handshake: it is only told by the close.
                        if !matches!(mode, Mode::Implicit(_)) {
                            conn::refuse(stream, greeting).await;
                        }
                    } else {
                        tls::serve(stream, peer, shared, settings, mode).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                    drop(ip_slot);
                });
            }
        });
        counted
    }
}
