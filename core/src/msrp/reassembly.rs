//! Chunking and reassembly of MSRP messages (RFC 4975 §5.1, §7.1.1).
//!
//! [`split`] cuts a message body into chunks with their `Byte-Range` and
//! continuation flag. A [`Reassembler`] puts chunks back together by `Message-ID`:
//! chunks may arrive in order or out of order (by `Byte-Range`), may overlap (a
//! retransmitted range overwrites), and an interrupted chunk may carry fewer bytes
//! than its range announces (the bytes received count, RFC 4975 §7.1.2). A message is
//! complete when its total size is known (from a `Byte-Range` total, or from the end
//! of the `$` chunk) and every byte up to it has arrived. A `#` chunk aborts the
//! message: what was received is dropped.
//!
//! Refused, with the partial message dropped: a start of 0, more bytes than the range
//! announces, a total that changes, bytes beyond the total, a message larger than
//! [`ReassemblyLimits::max_message_bytes`]. A new message beyond
//! [`ReassemblyLimits::max_pending_messages`] is refused without touching the others.
//! The numbers come from the decoder limits (`wire::Limits` converts into
//! [`ReassemblyLimits`]), so this value module does not depend on `wire`.
//!
//! What it is *not*: no timers (abandoning a message that never completes is the
//! caller's decision, see [`Reassembler::abandon`]), no reports.

use std::collections::BTreeMap;

use super::{ByteRange, Continuation, MsrpRequest};

/// The two numbers a [`Reassembler`] enforces (taken from the decoder limits:
/// `max_msrp_message_bytes`, `max_msrp_pending_messages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReassemblyLimits {
    /// Largest whole message put back together, in bytes.
    pub max_message_bytes: usize,
    /// Most partially received messages held at a time.
    pub max_pending_messages: usize,
}

/// Cuts `body` into chunks of at most `chunk_size` bytes (0 is taken as 1), each
/// with its `Byte-Range` (end and total known) and flag (`+`, `$` for the last). An
/// empty body is one empty chunk `1-0/0`.
pub fn split(body: &[u8], chunk_size: usize) -> Vec<(ByteRange, Continuation, &[u8])> {
    let total = body.len() as u64;
    if body.is_empty() {
        let range = ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        };
        return vec![(range, Continuation::Complete, body)];
    }
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut chunks = body.chunks(chunk_size.max(1)).peekable();
    while let Some(chunk) = chunks.next() {
        let end = offset + chunk.len() as u64;
        let flag = if chunks.peek().is_some() {
            Continuation::More
        } else {
            Continuation::Complete
        };
        let range = ByteRange {
            start: offset + 1,
            end: Some(end),
            total: Some(total),
        };
        out.push((range, flag, chunk));
        offset = end;
    }
    out
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ReassemblyError {
    /// A `Byte-Range` starting at 0, or a chunk longer than its range.
    #[error("chunk does not match its byte-range")]
    BadRange,
    /// A chunk announcing another total than an earlier one (or than the end of the
    /// `$` chunk).
    #[error("inconsistent total: {known} then {declared}")]
    InconsistentTotal {
        /// The total known so far.
        known: u64,
        /// The total this chunk implies.
        declared: u64,
    },
    /// Bytes beyond the message's total.
    #[error("chunk ends at {end}, beyond the total {total}")]
    BeyondTotal {
        /// End of the chunk (bytes).
        end: u64,
        /// The total.
        total: u64,
    },
    /// A message larger than [`ReassemblyLimits::max_message_bytes`].
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A new message while [`ReassemblyLimits::max_pending_messages`] are pending.
    #[error("more than {limit} partial messages")]
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// A chunk of a larger message without `Message-ID`.
    #[error("chunk without message-id")]
    MissingMessageId,
}

/// What accepting a chunk led to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reassembly {
    /// More bytes are needed.
    Incomplete,
    /// The whole message body.
    Complete(Vec<u8>),
    /// The sender aborted the message (`#`); its bytes were dropped.
    Aborted,
}

/// One message being put back together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct Partial {
    /// Bytes received so far, at their offsets (gaps are zero until filled).
    data: Vec<u8>,
    /// Received intervals, `start → end` (0-based, end exclusive), merged.
    covered: BTreeMap<u64, u64>,
    /// The total size, once known.
    total: Option<u64>,
}

impl Partial {
    fn set_total(&mut self, total: u64) -> Result<(), ReassemblyError> {
        match self.total {
            Some(known) if known != total => Err(ReassemblyError::InconsistentTotal {
                known,
                declared: total,
            }),
            Some(_) | None => {
                self.total = Some(total);
                Ok(())
            }
        }
    }

    /// Marks `[start, end)` as received, merging neighbouring intervals.
    fn cover(&mut self, mut start: u64, mut end: u64) {
        if start == end {
            return;
        }
        let overlapping: Vec<(u64, u64)> = self
            .covered
            .range(..=end)
            .rev()
            .take_while(|(_, e)| **e >= start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in overlapping {
            self.covered.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.covered.insert(start, end);
    }

    fn is_complete(&self) -> bool {
        match self.total {
            Some(0) => true,
            Some(total) => self.covered.get(&0) == Some(&total),
            None => false,
        }
    }
}

/// Reassembles the chunked messages of one MSRP session, keyed by `Message-ID`.
/// Deterministic: state lives in a `BTreeMap`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Reassembler {
    pending: BTreeMap<String, Partial>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages are partially received.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Drops a partial message (e.g. when its session ends or a timer fires).
    pub fn abandon(&mut self, message_id: &str) {
        self.pending.remove(message_id);
    }

    /// Accepts the body of a request: a request without `Byte-Range` ending with `$`
    /// is a whole message (no `Message-ID` needed); otherwise it is a chunk of the
    /// message named by its `Message-ID` (a missing range counts as `1-*/*`). A `#`
    /// request aborts its message (if it names one).
    pub fn accept_request(
        &mut self,
        request: &MsrpRequest,
        limits: impl Into<ReassemblyLimits>,
    ) -> Result<Reassembly, ReassemblyError> {
        let limits = limits.into();
        if request.continuation == Continuation::Aborted {
            if let Some(id) = &request.message_id {
                self.abandon(id);
            }
            return Ok(Reassembly::Aborted);
        }
        let range = match (request.byte_range, request.continuation) {
            (None, Continuation::Complete) if !self.is_pending(request) => {
                if request.body.len() > limits.max_message_bytes {
                    return Err(ReassemblyError::TooLarge {
                        limit: limits.max_message_bytes,
                    });
                }
                return Ok(Reassembly::Complete(request.body.clone()));
            }
            (Some(range), _) => range,
            (None, _) => ByteRange {
                start: 1,
                end: None,
                total: None,
            },
        };
        let Some(id) = &request.message_id else {
            return Err(ReassemblyError::MissingMessageId);
        };
        self.accept(id, range, request.continuation, &request.body, limits)
    }

    fn is_pending(&self, request: &MsrpRequest) -> bool {
        request
            .message_id
            .as_ref()
            .is_some_and(|id| self.pending.contains_key(id))
    }

    /// Accepts one chunk of message `message_id`: its range, flag and bytes.
    pub fn accept(
        &mut self,
        message_id: &str,
        range: ByteRange,
        flag: Continuation,
        data: &[u8],
        limits: impl Into<ReassemblyLimits>,
    ) -> Result<Reassembly, ReassemblyError> {
        let limits = limits.into();
        if flag == Continuation::Aborted {
            self.pending.remove(message_id);
            return Ok(Reassembly::Aborted);
        }
        let is_new = !self.pending.contains_key(message_id);
        if is_new && self.pending.len() >= limits.max_pending_messages {
            return Err(ReassemblyError::TooManyPending {
                limit: limits.max_pending_messages,
            });
        }
        let mut partial = self.pending.remove(message_id).unwrap_or_default();
        match add_chunk(&mut partial, range, flag, data, limits) {
            Err(e) => Err(e),
            Ok(()) if partial.is_complete() => {
                let total = partial.total.unwrap_or_default();
                let mut body = partial.data;
                body.truncate(usize::try_from(total).unwrap_or(usize::MAX));
                Ok(Reassembly::Complete(body))
            }
            Ok(()) => {
                self.pending.insert(message_id.to_owned(), partial);
                Ok(Reassembly::Incomplete)
            }
        }
    }
}

/// Adds one chunk's bytes (checks first, then copies).
fn add_chunk(
    partial: &mut Partial,
    range: ByteRange,
    flag: Continuation,
    data: &[u8],
    limits: ReassemblyLimits,
) -> Result<(), ReassemblyError> {
    let limit = limits.max_message_bytes;
    let too_large = ReassemblyError::TooLarge { limit };
    let offset = range
        .start
        .checked_sub(1)
        .ok_or(ReassemblyError::BadRange)?;
    let len = data.len() as u64;
    if let Some(end) = range.end {
        if offset.saturating_add(len) > end {
            return Err(ReassemblyError::BadRange);
        }
    }
    let end = offset.checked_add(len).ok_or(too_large.clone())?;
    if let Some(total) = range.total {
        if total > limit as u64 {
            return Err(too_large);
        }
        partial.set_total(total)?;
    }
    if flag == Continuation::Complete && range.total.is_none() {
        partial.set_total(end)?;
    }
    if let Some(total) = partial.total {
        if end > total {
            return Err(ReassemblyError::BeyondTotal { end, total });
        }
    }
    if end > limit as u64 {
        return Err(too_large);
    }
    // `end <= limit`, a usize: the conversions below cannot fail.
    let (from, to) = (offset as usize, end as usize);
    if partial.data.len() < to {
        partial.data.resize(to, 0);
    }
    if let Some(slot) = partial.data.get_mut(from..to) {
        slot.copy_from_slice(data);
    }
    partial.cover(offset, end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Limits;

    fn limits() -> Limits {
        Limits::default()
    }

    fn feed(
        r: &mut Reassembler,
        id: &str,
        chunks: &[(ByteRange, Continuation, &[u8])],
    ) -> Vec<Reassembly> {
        chunks
            .iter()
            .map(|(range, flag, data)| r.accept(id, *range, *flag, data, &limits()).unwrap())
            .collect()
    }

    #[test]
    fn split_ranges() {
        let chunks = split(b"hello world", 4);
        let ranges: Vec<_> = chunks
            .iter()
            .map(|(r, f, d)| (r.start, r.end, r.total, *f, d.len()))
            .collect();
        assert_eq!(
            ranges,
            [
                (1, Some(4), Some(11), Continuation::More, 4),
                (5, Some(8), Some(11), Continuation::More, 4),
                (9, Some(11), Some(11), Continuation::Complete, 3),
            ]
        );
        assert_eq!(split(b"", 0).len(), 1);
        assert_eq!(split(b"ab", 0).len(), 2);
    }

    #[test]
    fn in_order_and_out_of_order() {
        let body = b"The quick brown fox jumps over the lazy dog";
        let mut chunks = split(body, 5);
        let mut r = Reassembler::new();
        let out = feed(&mut r, "m1", &chunks);
        assert_eq!(out.last(), Some(&Reassembly::Complete(body.to_vec())));
        assert!(out[..out.len() - 1]
            .iter()
            .all(|o| *o == Reassembly::Incomplete));
        chunks.reverse();
        let out = feed(&mut r, "m2", &chunks);
        assert_eq!(out.last(), Some(&Reassembly::Complete(body.to_vec())));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn unknown_end_and_total_complete_with_dollar() {
        let mut r = Reassembler::new();
        let open = |start| ByteRange {
            start,
            end: None,
            total: None,
        };
        let l = limits();
        assert_eq!(
            r.accept("m", open(1), Continuation::More, b"abc", &l),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(
            r.accept("m", open(4), Continuation::Complete, b"de", &l),
            Ok(Reassembly::Complete(b"abcde".to_vec()))
        );
    }

    #[test]
    fn abort_drops_and_errors() {
        let mut r = Reassembler::new();
        let l = limits();
        let range = |start, end, total| ByteRange {
            start,
            end: Some(end),
            total: Some(total),
        };
        assert_eq!(
            r.accept("m", range(1, 3, 6), Continuation::More, b"abc", &l),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(
            r.accept("m", range(4, 6, 6), Continuation::Aborted, b"d", &l),
            Ok(Reassembly::Aborted)
        );
        assert_eq!(r.pending(), 0);
        r.accept("m", range(1, 3, 6), Continuation::More, b"abc", &l)
            .unwrap();
        assert_eq!(
            r.accept("m", range(4, 6, 7), Continuation::More, b"def", &l),
            Err(ReassemblyError::InconsistentTotal {
                known: 6,
                declared: 7
            })
        );
        assert_eq!(r.pending(), 0, "a refused chunk drops its message");
        assert_eq!(
            r.accept("m", range(0, 3, 6), Continuation::More, b"abc", &l),
            Err(ReassemblyError::BadRange)
        );
        assert_eq!(
            r.accept("m", range(1, 2, 6), Continuation::More, b"abc", &l),
            Err(ReassemblyError::BadRange)
        );
        let open = ByteRange {
            start: 5,
            end: None,
            total: Some(6),
        };
        assert_eq!(
            r.accept("m", open, Continuation::More, b"abc", &l),
            Err(ReassemblyError::BeyondTotal { end: 7, total: 6 })
        );
        let tight = Limits {
            max_msrp_message_bytes: 4,
            max_msrp_pending_messages: 1,
            ..Limits::default()
        };
        assert_eq!(
            r.accept("m", range(1, 3, 5), Continuation::More, b"abc", &tight),
            Err(ReassemblyError::TooLarge { limit: 4 })
        );
        let huge = ByteRange {
            start: u64::MAX,
            end: None,
            total: None,
        };
        assert_eq!(
            r.accept("m", huge, Continuation::More, b"abc", &tight),
            Err(ReassemblyError::TooLarge { limit: 4 })
        );
        r.accept("a", range(1, 1, 2), Continuation::More, b"a", &tight)
            .unwrap();
        assert_eq!(
            r.accept("b", range(1, 1, 2), Continuation::More, b"b", &tight),
            Err(ReassemblyError::TooManyPending { limit: 1 })
        );
        assert_eq!(r.pending(), 1);
        r.abandon("a");
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn overlap_and_interrupted_chunk() {
        let mut r = Reassembler::new();
        let l = limits();
        let range = |start, end| ByteRange {
            start,
            end: Some(end),
            total: Some(8),
        };
        // An interrupted chunk announced 1-8 but carried 3 bytes.
        assert_eq!(
            r.accept("m", range(1, 8), Continuation::More, b"abc", &l),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(
            r.accept("m", range(2, 5), Continuation::More, b"bcde", &l),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(
            r.accept("m", range(6, 8), Continuation::Complete, b"fgh", &l),
            Ok(Reassembly::Complete(b"abcdefgh".to_vec()))
        );
    }

    #[test]
    fn whole_request_without_range() {
        let mut req = MsrpRequest::new(
            crate::ids::TransactionId::new("abcd"),
            super::super::MsrpMethod::Send,
            vec!["msrp://a/1".into()],
            vec!["msrp://b/2".into()],
        );
        req.body = b"hi".to_vec();
        let mut r = Reassembler::new();
        assert_eq!(
            r.accept_request(&req, &limits()),
            Ok(Reassembly::Complete(b"hi".to_vec()))
        );
        req.continuation = Continuation::Aborted;
        assert_eq!(r.accept_request(&req, &limits()), Ok(Reassembly::Aborted));
        req.continuation = Continuation::More;
        assert_eq!(
            r.accept_request(&req, &limits()),
            Err(ReassemblyError::MissingMessageId)
        );
        req.message_id = Some("m1234".into());
        assert_eq!(
            r.accept_request(&req, &limits()),
            Ok(Reassembly::Incomplete)
        );
        req.continuation = Continuation::Complete;
        req.body = b"there".to_vec();
        req.byte_range = Some(ByteRange {
            start: 3,
            end: Some(7),
            total: Some(7),
        });
        assert_eq!(
            r.accept_request(&req, &limits()),
            Ok(Reassembly::Complete(b"hithere".to_vec()))
        );
    }
}
