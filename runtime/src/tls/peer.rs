//! The client configuration of outbound TLS as one reloadable value: built from
//! `[tls] verify_peers` and `peer_ca` at start-up and rebuilt from the same settings
//! on every SIGHUP, with the server certificate (specs/tls.md, TLS-14). A connection
//! cpmd opens takes the configuration in force when it starts its handshake; one
//! already established keeps its own. A rebuild that fails (unreadable or empty
//! `peer_ca`) keeps the configuration in force, as the server side does (TLS-3).
//!
//! Not here: what is verified (`client.rs`), the handshake (`transport::tls`).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::ClientConfig;

use super::client::client_config;
use super::TlsError;

/// `[tls] verify_peers` and `peer_ca`, and the configuration built from them.
#[derive(Debug)]
pub struct PeerTls {
    verify: bool,
    peer_ca: Option<PathBuf>,
    current: RwLock<Arc<ClientConfig>>,
}

impl PeerTls {
    /// Builds the configuration (an error refuses to start).
    pub fn load(verify: bool, peer_ca: Option<PathBuf>) -> Result<Self, TlsError> {
        let config = client_config(verify, peer_ca.as_deref())?;
        Ok(Self {
            verify,
            peer_ca,
            current: RwLock::new(config),
        })
    }

    /// The configuration in force, for one new handshake.
    pub fn config(&self) -> Arc<ClientConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rereads `peer_ca`; on failure the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = client_config(self.verify, self.peer_ca.as_deref())?;
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }
}
