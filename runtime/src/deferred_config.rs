//! `[deferred]` and `[push]` in the configuration file: how long and how much the
//! server keeps for a user with no device, and where it announces a deferral
//! (specs/deferred.md).
//!
//! What it is *not*: the queue (the core's `server/deferred.rs`) or the push
//! client (`push.rs`).

use cpmd_core::server::DeferredConfig;
use serde::Deserialize;

/// `[deferred]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeferredFileConfig {
    /// How long a message waits for a device, seconds (7 days); 0 turns deferral
    /// off (a MESSAGE to a user with no device gets 480, as before).
    pub expiry_s: u64,
    /// Most messages waiting for one user.
    pub max_messages_per_user: usize,
    /// Most body bytes waiting for one user.
    pub max_bytes_per_user: usize,
    /// `Retry-After` of the 480 for a full queue, seconds.
    pub retry_after_s: u32,
}

impl Default for DeferredFileConfig {
    fn default() -> Self {
        let d = DeferredConfig::default();
        Self {
            expiry_s: d.expiry_s,
            max_messages_per_user: d.max_messages_per_user,
            max_bytes_per_user: d.max_bytes_per_user,
            retry_after_s: d.retry_after_s,
        }
    }
}

impl DeferredFileConfig {
    /// The core's values.
    pub fn core(&self) -> DeferredConfig {
        DeferredConfig {
            expiry_s: self.expiry_s,
            max_messages_per_user: self.max_messages_per_user,
            max_bytes_per_user: self.max_bytes_per_user,
            retry_after_s: self.retry_after_s,
        }
    }
}

/// `[push]`: the push hook (off unless `url` is set).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushFileConfig {
    /// `http://host:port/path` of the operator's push gateway.
    pub url: Option<String>,
    /// Per attempt: connect, send and the answer's status line, seconds.
    pub timeout_s: u64,
    /// Attempts after the first one (1 s, 2 s, 4 s, ... apart).
    pub retries: u32,
    /// Put the message's body (base64) and Content-Type into the document. Off:
    /// the body never leaves the server.
    pub include_body: bool,
    /// Most notifications waiting to be posted; more are dropped (logged).
    pub queue: usize,
}

impl Default for PushFileConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout_s: 5,
            retries: 3,
            include_body: false,
            queue: 1024,
        }
    }
}
