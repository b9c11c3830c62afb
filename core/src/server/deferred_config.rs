//! The configuration of deferred messaging ([`DeferredConfig`], `[deferred]` in the
//! runtime); `deferred.rs` applies it (specs/deferred.md). Plain values, no logic.

/// How long and how much the server keeps for a user with no registered device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeferredConfig {
    /// How long a deferred message waits for a device before it expires, seconds
    /// (7 days). 0 turns deferral off: a MESSAGE to a user with no device gets 480.
    pub expiry_s: u64,
    /// Most messages waiting for one recipient (1,000); one more is refused with 480
    /// and `Retry-After` (DEF-6).
    pub max_messages_per_user: usize,
    /// Most body bytes waiting for one recipient (10 MiB); as above.
    pub max_bytes_per_user: usize,
    /// The `Retry-After` of a refusal for a full queue, seconds (600).
    pub retry_after_s: u32,
}

impl Default for DeferredConfig {
    fn default() -> Self {
        Self {
            expiry_s: 7 * 24 * 3600,
            max_messages_per_user: 1_000,
            max_bytes_per_user: 10 * 1024 * 1024,
            retry_after_s: 600,
        }
    }
}
