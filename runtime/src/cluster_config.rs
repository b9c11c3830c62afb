//! `[cluster]` in the configuration file: several nodes on one PostgreSQL store
//! (specs/scale-out.md).
//!
//! What it is *not*: the lease and take-over logic (`store/cluster.rs`) nor the
//! task that runs it (`cluster.rs`).

use std::net::SocketAddr;

use serde::Deserialize;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterFileConfig {
    /// Whether this node takes part: a lease row, taking over dead nodes, location
    /// rows. Needs a PostgreSQL store.
    pub enabled: bool,
    /// How long a lease lasts without renewal, in seconds (renewed every third).
    pub lease_s: u64,
    /// Where the other nodes (and the balancer) reach this node's SIP; unset: the
    /// advertised SIP address (the first SIP listener).
    pub node_address: Option<SocketAddr>,
}

impl Default for ClusterFileConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            lease_s: 10,
            node_address: None,
        }
    }
}
