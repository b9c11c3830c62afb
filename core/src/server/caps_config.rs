//! The configuration of the core's table caps ([`CoreCaps`]); `caps.rs` enforces
//! them (specs/limits.md, LIM-11..LIM-13). Plain values, no server logic.

/// Caps on the core's tables (configuration: `[limits]` in the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoreCaps {
    /// Most transactions (server and client, every transport) the core holds; a new
    /// request beyond it is answered 503 without entering the table (500,000: a
    /// finished transaction lingers 64·T1 = 32 s, so 2,400 sessions/s of four
    /// transactions each hold about 300,000).
    pub max_transactions: usize,
    /// Most sessions (1-to-1 and group, open or ending); a new INVITE beyond it is
    /// answered 503 (100,000).
    pub max_sessions: usize,
    /// Most messages of one session waiting for the store; one more is refused
    /// (MSRP 413; 1,024, well above the 128 SENDs in flight of the MSRP bench).
    pub max_pending_per_session: usize,
    /// Most messages one session takes on in its life (its log keeps each one's
    /// sender and id, MSG-6); one more is refused (MSRP 413; 100,000).
    pub max_messages_per_session: usize,
    /// The `Retry-After` of a 503 for a full table, seconds (5).
    pub retry_after_s: u32,
}

impl Default for CoreCaps {
    fn default() -> Self {
        Self {
            max_transactions: 500_000,
            max_sessions: 100_000,
            max_pending_per_session: 1_024,
            max_messages_per_session: 100_000,
            retry_after_s: 5,
        }
    }
}
