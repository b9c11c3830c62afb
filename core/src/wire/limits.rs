//! Size limits applied to untrusted input.

use crate::msrp::reassembly::ReassemblyLimits;

/// Limits every decoder enforces. Defaults suit a chat server: SIP signalling is
/// small; bodies carry SDP and short resource lists. MSRP chunks are larger (chat
/// messages and file-transfer chunks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest start line plus header block, in bytes (beyond: 513).
    pub max_header_bytes: usize,
    /// Largest body, in bytes (beyond: 413).
    pub max_body_bytes: usize,
    /// Most header lines in one message (beyond: 513).
    pub max_header_count: usize,
    /// Most parts in one multipart body.
    pub max_multipart_parts: usize,
    /// Most entries in one resource list.
    pub max_list_entries: usize,
    /// Largest MSRP start line plus header block (up to and including the empty line
    /// or the end-line that closes it), in bytes.
    pub max_msrp_header_bytes: usize,
    /// Largest body of one MSRP chunk (one SEND), in bytes.
    pub max_msrp_chunk_bytes: usize,
    /// Largest whole MSRP message a reassembler puts back together, in bytes.
    pub max_msrp_message_bytes: usize,
    /// Most partially received MSRP messages one reassembler holds at a time.
    pub max_msrp_pending_messages: usize,
    /// Most bytes of partially received MSRP messages one leg's reassembler holds
    /// (bytes actually received, not announced ranges; beyond: MSRP 413).
    pub max_msrp_pending_bytes: u64,
    /// Most bytes of partially received MSRP messages over all legs (beyond: 413).
    pub max_msrp_pending_bytes_total: u64,
    /// A partial MSRP message with no new chunk for this long is dropped, in ms.
    pub msrp_partial_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            max_header_count: 128,
            max_multipart_parts: 8,
            max_list_entries: 64,
            max_msrp_header_bytes: 8 * 1024,
            max_msrp_chunk_bytes: 1024 * 1024,
            max_msrp_message_bytes: 16 * 1024 * 1024,
            max_msrp_pending_messages: 16,
            max_msrp_pending_bytes: 32 * 1024 * 1024,
            max_msrp_pending_bytes_total: 256 * 1024 * 1024,
            msrp_partial_timeout_ms: 120_000,
        }
    }
}

/// The MSRP reassembler's share of the limits.
impl From<&Limits> for ReassemblyLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            max_message_bytes: limits.max_msrp_message_bytes,
            max_pending_messages: limits.max_msrp_pending_messages,
            max_pending_bytes: limits.max_msrp_pending_bytes,
            max_pending_bytes_total: limits.max_msrp_pending_bytes_total,
            partial_timeout_ms: limits.msrp_partial_timeout_ms,
        }
    }
}
