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
//! [`ReassemblyLimits::max_message_bytes`], a chunk that would take the bytes held past
//! [`ReassemblyLimits::max_pending_bytes`] on this leg or
//! [`ReassemblyLimits::max_pending_bytes_total`] over all legs. A new message beyond
//! [`ReassemblyLimits::max_pending_messages`] is refused without touching the others.
//!
//! Memory follows the bytes received, never the ranges announced: chunks are kept
//! as separate segments by offset (a 1-byte chunk at offset 16 MiB holds 1 byte),
//! and the body is laid out only when the message is complete (specs/limits.md,
//! LIM-5). Time is an input: a partial message with no new chunk for
//! [`ReassemblyLimits::partial_timeout_ms`] is dropped when the reassembler next sees a
//! chunk or [`Reassembler::expire`] runs.
//!
//! What it is *not*: no timers of its own, no reports.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{ByteRange, Continuation, MsrpRequest};
use crate::time::Time;

/// The numbers a [`Reassembler`] enforces (taken from the decoder limits
/// `wire::Limits`, which converts into this type, so this value module does not
/// depend on `wire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReassemblyLimits {
    /// Largest whole message put back together, in bytes.
    pub max_message_bytes: usize,
    /// Most partially received messages held at a time.
    pub max_pending_messages: usize,
    /// Most bytes the partial messages of one leg may hold.
    pub max_pending_bytes: u64,
    /// Most bytes the partial messages of all legs may hold together.
    pub max_pending_bytes_total: u64,
    /// How long a partial message may wait for its next chunk, in milliseconds.
    pub partial_timeout_ms: u64,
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
    /// The chunk would take the partial messages' bytes past
    /// [`ReassemblyLimits::max_pending_bytes`] (this leg) or
    /// [`ReassemblyLimits::max_pending_bytes_total`] (all legs).
    #[error("partial messages exceed {limit} bytes")]
    PendingBytes {
        /// The limit hit.
        limit: u64,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Partial {
    /// Bytes received, as non-overlapping segments by offset (0-based): memory is
    /// what arrived, whatever the ranges announce.
    segments: BTreeMap<u64, Vec<u8>>,
    /// Sum of the segments' lengths.
    held: u64,
    /// The total size, once known.
    total: Option<u64>,
    /// When the last chunk arrived.
    touched: Time,
}

impl Partial {
    fn new(now: Time) -> Self {
        Self {
            segments: BTreeMap::new(),
            held: 0,
            total: None,
            touched: now,
        }
    }

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

    /// How many bytes [`Partial::put`] of `[start, end)` would add to `held`.
    fn growth(&self, start: u64, end: u64) -> u64 {
        let overlap: u64 = self
            .segments
            .range(..end)
            .rev()
            .take_while(|(s, d)| *s + d.len() as u64 > start)
            .map(|(s, d)| (*s + d.len() as u64).min(end) - (*s).max(start))
            .sum();
        (end - start) - overlap
    }

    /// Stores `data` at `start` (moved in when owned); a retransmitted range
    /// overwrites what was there.
    fn put(&mut self, start: u64, data: Cow<'_, [u8]>) {
        let end = start + data.len() as u64;
        if start == end {
            return;
        }
        let overlapping: Vec<u64> = self
            .segments
            .range(..end)
            .rev()
            .take_while(|(s, d)| *s + d.len() as u64 > start)
            .map(|(s, _)| *s)
            .collect();
        for s in overlapping {
            let Some(d) = self.segments.remove(&s) else {
                continue;
            };
            self.held -= d.len() as u64;
            let e = s + d.len() as u64;
            // Keep the parts of the old segment outside `[start, end)`.
            if s < start {
                let left = d[..(start - s) as usize].to_vec();
                self.held += left.len() as u64;
                self.segments.insert(s, left);
            }
            if e > end {
                let right = d[(end - s) as usize..].to_vec();
                self.held += right.len() as u64;
                self.segments.insert(end, right);
            }
        }
        self.held += data.len() as u64;
        self.segments.insert(start, data.into_owned());
    }

    fn is_complete(&self) -> bool {
        // Segments do not overlap and lie below the total: all bytes are there
        // when their lengths add up to it.
        self.total == Some(self.held)
    }

    /// The body, laid out once complete.
    fn into_body(mut self) -> Vec<u8> {
        // Complete with one segment: it is the whole body (segments lie within the
        // total and add up to it), moved out rather than copied. The usual case: a
        // message sent in one chunk with its `Byte-Range`.
        if self.segments.len() == 1 {
            if let Some((_, whole)) = self.segments.pop_first() {
                return whole;
            }
        }
        let mut body = Vec::with_capacity(usize::try_from(self.held).unwrap_or(0));
        for (_, d) in self.segments {
            body.extend_from_slice(&d);
        }
        body
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

    /// How many bytes the partially received messages hold.
    pub fn pending_bytes(&self) -> u64 {
        self.pending.values().map(|p| p.held).sum()
    }

    /// Drops a partial message (e.g. when its session ends or a timer fires).
    pub fn abandon(&mut self, message_id: &str) {
        self.pending.remove(message_id);
    }

    /// Drops the partial messages that got no chunk for
    /// [`ReassemblyLimits::partial_timeout_ms`] up to `now`; returns how many.
    pub fn expire(&mut self, now: Time, limits: impl Into<ReassemblyLimits>) -> usize {
        let limits: ReassemblyLimits = limits.into();
        let before = self.pending.len();
        self.pending
            .retain(|_, p| p.touched.plus_ms(limits.partial_timeout_ms) > now);
        before - self.pending.len()
    }

    /// [`Reassembler::accept_request_at`] without time and without other legs: for
    /// callers (tests) that neither time out nor share a budget.
    pub fn accept_request(
        &mut self,
        request: &MsrpRequest,
        limits: impl Into<ReassemblyLimits>,
    ) -> Result<Reassembly, ReassemblyError> {
        let limits: ReassemblyLimits = limits.into();
        self.accept_request_at(request, limits, Time::ZERO, 0)
    }

    /// Accepts the body of a request at `now`, with `elsewhere` bytes held by the
    /// other legs' reassemblers: a request without `Byte-Range` ending with `$` is a
    /// whole message (no `Message-ID` needed); otherwise it is a chunk of the
    /// message named by its `Message-ID` (a missing range counts as `1-*/*`). A `#`
    /// request aborts its message (if it names one).
    pub fn accept_request_at(
        &mut self,
        request: &MsrpRequest,
        limits: impl Into<ReassemblyLimits>,
        now: Time,
        elsewhere: u64,
    ) -> Result<Reassembly, ReassemblyError> {
        self.accept_body_at(
            request,
            Cow::Borrowed(&request.body),
            limits,
            now,
            elsewhere,
        )
    }

    /// [`Reassembler::accept_request_at`] with the request's body handed over
    /// (`body`; the request's own `body` field is not read): a message whose one
    /// chunk completes it comes back as those very bytes, not a copy.
    pub fn accept_request_body_at(
        &mut self,
        request: &MsrpRequest,
        body: Vec<u8>,
        limits: impl Into<ReassemblyLimits>,
        now: Time,
        elsewhere: u64,
    ) -> Result<Reassembly, ReassemblyError> {
        self.accept_body_at(request, Cow::Owned(body), limits, now, elsewhere)
    }

    fn accept_body_at(
        &mut self,
        request: &MsrpRequest,
        body: Cow<'_, [u8]>,
        limits: impl Into<ReassemblyLimits>,
        now: Time,
        elsewhere: u64,
    ) -> Result<Reassembly, ReassemblyError> {
        let limits: ReassemblyLimits = limits.into();
        if request.continuation == Continuation::Aborted {
            if let Some(id) = &request.message_id {
                self.abandon(id);
            }
            return Ok(Reassembly::Aborted);
        }
        let range = match (request.byte_range, request.continuation) {
            (None, Continuation::Complete) if !self.is_pending(request) => {
                if body.len() > limits.max_message_bytes {
                    return Err(ReassemblyError::TooLarge {
                        limit: limits.max_message_bytes,
                    });
                }
                return Ok(Reassembly::Complete(body.into_owned()));
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
        self.accept_chunk(
            id,
            range,
            request.continuation,
            body,
            limits,
            now,
            elsewhere,
        )
    }

    fn is_pending(&self, request: &MsrpRequest) -> bool {
        request
            .message_id
            .as_ref()
            .is_some_and(|id| self.pending.contains_key(id))
    }

    /// [`Reassembler::accept_at`] without time and without other legs.
    pub fn accept(
        &mut self,
        message_id: &str,
        range: ByteRange,
        flag: Continuation,
        data: &[u8],
        limits: impl Into<ReassemblyLimits>,
    ) -> Result<Reassembly, ReassemblyError> {
        let limits: ReassemblyLimits = limits.into();
        self.accept_at(message_id, range, flag, data, limits, Time::ZERO, 0)
    }

    /// Accepts one chunk of message `message_id` at `now`: its range, flag and
    /// bytes; `elsewhere` is what the other legs' reassemblers hold. Partial
    /// messages past their timeout are dropped first.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_at(
        &mut self,
        message_id: &str,
        range: ByteRange,
        flag: Continuation,
        data: &[u8],
        limits: impl Into<ReassemblyLimits>,
        now: Time,
        elsewhere: u64,
    ) -> Result<Reassembly, ReassemblyError> {
        self.accept_chunk(
            message_id,
            range,
            flag,
            Cow::Borrowed(data),
            limits.into(),
            now,
            elsewhere,
        )
    }

    /// [`Reassembler::accept_at`] for bytes that may be owned (moved into the
    /// message rather than copied).
    #[allow(clippy::too_many_arguments)]
    fn accept_chunk(
        &mut self,
        message_id: &str,
        range: ByteRange,
        flag: Continuation,
        data: Cow<'_, [u8]>,
        limits: ReassemblyLimits,
        now: Time,
        elsewhere: u64,
    ) -> Result<Reassembly, ReassemblyError> {
        self.expire(now, limits);
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
        let held_here = self.pending_bytes();
        let room = Room {
            here: limits.max_pending_bytes,
            total: limits.max_pending_bytes_total,
            held_here,
            elsewhere,
        };
        if is_new {
            if let Some(whole) = whole_in_one(range, flag, data.len(), limits, &room) {
                return whole.map(|()| Reassembly::Complete(data.into_owned()));
            }
        }
        let mut partial = self
            .pending
            .remove(message_id)
            .unwrap_or_else(|| Partial::new(now));
        match add_chunk(&mut partial, range, flag, data, limits, room) {
            Err(e) => Err(e),
            Ok(()) if partial.is_complete() => Ok(Reassembly::Complete(partial.into_body())),
            Ok(()) => {
                partial.touched = now;
                self.pending.insert(message_id.to_owned(), partial);
                Ok(Reassembly::Incomplete)
            }
        }
    }
}

/// The pending-bytes budget a chunk must fit in.
struct Room {
    /// This leg's cap.
    here: u64,
    /// The cap over all legs.
    total: u64,
    /// What this leg holds now (the chunk's own message included).
    held_here: u64,
    /// What the other legs hold.
    elsewhere: u64,
}

/// A new message sent whole in one chunk (`1-N/N`, `$`, N bytes: the usual
/// message): what [`add_chunk`] answers for it on a fresh [`Partial`], decided
/// without making one (a B-tree of one segment, built and taken apart again per
/// message). `None` for any other chunk.
fn whole_in_one(
    range: ByteRange,
    flag: Continuation,
    len: usize,
    limits: ReassemblyLimits,
    room: &Room,
) -> Option<Result<(), ReassemblyError>> {
    let len = len as u64;
    let whole = flag == Continuation::Complete
        && range.start == 1
        && range.end == Some(len)
        && range.total == Some(len);
    if !whole {
        return None;
    }
    // `add_chunk`'s checks in its order, for offset 0, end and total `len` and
    // nothing held for this message.
    let limit = limits.max_message_bytes;
    if len > limit as u64 {
        return Some(Err(ReassemblyError::TooLarge { limit }));
    }
    let here = room.held_here.saturating_add(len);
    if here > room.here {
        return Some(Err(ReassemblyError::PendingBytes { limit: room.here }));
    }
    if here.saturating_add(room.elsewhere) > room.total {
        return Some(Err(ReassemblyError::PendingBytes { limit: room.total }));
    }
    Some(Ok(()))
}

/// Adds one chunk's bytes (checks first, then copies).
fn add_chunk(
    partial: &mut Partial,
    range: ByteRange,
    flag: Continuation,
    data: Cow<'_, [u8]>,
    limits: ReassemblyLimits,
    room: Room,
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
        // Also what arrived before the total was known must lie within it.
        let held_end = partial
            .segments
            .last_key_value()
            .map_or(0, |(s, d)| s + d.len() as u64);
        if end.max(held_end) > total {
            return Err(ReassemblyError::BeyondTotal {
                end: end.max(held_end),
                total,
            });
        }
    }
    if end > limit as u64 {
        return Err(too_large);
    }
    let growth = partial.growth(offset, end);
    let here = room.held_here.saturating_add(growth);
    if here > room.here {
        return Err(ReassemblyError::PendingBytes { limit: room.here });
    }
    if here.saturating_add(room.elsewhere) > room.total {
        return Err(ReassemblyError::PendingBytes { limit: room.total });
    }
    partial.put(offset, data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Limits;

    /// `whole_in_one` answers what `add_chunk` answers on a fresh partial (and the
    /// partial is then complete with those bytes) for every whole-message chunk,
    /// at and around each limit; other chunks it leaves to `add_chunk`.
    #[test]
    fn whole_in_one_answers_as_add_chunk() {
        let ranges = |n: u64| {
            [
                (
                    ByteRange {
                        start: 1,
                        end: Some(n),
                        total: Some(n),
                    },
                    Continuation::Complete,
                ),
                (
                    ByteRange {
                        start: 1,
                        end: Some(n),
                        total: Some(n),
                    },
                    Continuation::More,
                ),
                (
                    ByteRange {
                        start: 1,
                        end: None,
                        total: Some(n),
                    },
                    Continuation::Complete,
                ),
                (
                    ByteRange {
                        start: 1,
                        end: Some(n),
                        total: None,
                    },
                    Continuation::Complete,
                ),
                (
                    ByteRange {
                        start: 2,
                        end: Some(n + 1),
                        total: Some(n + 1),
                    },
                    Continuation::Complete,
                ),
            ]
        };
        for len in [0usize, 1, 5, 10, 11] {
            let data = vec![b'x'; len];
            for (max_message, here, total, held, elsewhere) in [
                (10, 100, 1000, 0, 0),
                (100, 10, 1000, 0, 0),
                (100, 10, 1000, 5, 0),
                (100, 100, 10, 0, 0),
                (100, 100, 10, 0, 5),
                (100, 100, 1000, 95, 900),
                (100, u64::MAX, u64::MAX, u64::MAX, u64::MAX),
            ] {
                let limits = ReassemblyLimits {
                    max_message_bytes: max_message,
                    max_pending_messages: 4,
                    max_pending_bytes: here,
                    max_pending_bytes_total: total,
                    partial_timeout_ms: 1000,
                };
                let room = || Room {
                    here,
                    total,
                    held_here: held,
                    elsewhere,
                };
                for (range, flag) in ranges(len as u64) {
                    let fast = whole_in_one(range, flag, len, limits, &room());
                    let mut partial = Partial::new(Time::ZERO);
                    let slow = add_chunk(
                        &mut partial,
                        range,
                        flag,
                        Cow::Borrowed(&data),
                        limits,
                        room(),
                    );
                    let case = format!("{len} {range:?} {flag:?} {limits:?} {held} {elsewhere}");
                    match fast {
                        None => assert!(
                            flag != Continuation::Complete
                                || range.start != 1
                                || range.end != range.total
                                || range.total.is_none(),
                            "{case}"
                        ),
                        Some(fast) => {
                            assert_eq!(fast, slow, "{case}");
                            if fast.is_ok() {
                                assert!(partial.is_complete(), "{case}");
                                assert_eq!(partial.into_body(), data, "{case}");
                            }
                        }
                    }
                }
            }
        }
    }

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

    /// LIM-5: memory follows the bytes received: a 1-byte chunk at the end of a
    /// 16 MiB range holds 1 byte, and the message completes when the rest arrives.
    #[test]
    fn sparse_chunks_hold_only_what_arrived() {
        let l = limits();
        let total = l.max_msrp_message_bytes as u64;
        let mut r = Reassembler::new();
        let at = |start, end| ByteRange {
            start,
            end: Some(end),
            total: Some(total),
        };
        for i in 0..l.max_msrp_pending_messages {
            let id = format!("m{i}");
            assert_eq!(
                r.accept(&id, at(total, total), Continuation::More, b"z", &l),
                Ok(Reassembly::Incomplete)
            );
        }
        assert_eq!(r.pending_bytes(), l.max_msrp_pending_messages as u64);
        // A retransmission of the same byte does not count twice.
        r.accept("m0", at(total, total), Continuation::More, b"z", &l)
            .unwrap();
        assert_eq!(r.pending_bytes(), l.max_msrp_pending_messages as u64);
        // Overlapping chunks: the later one overwrites.
        let small = |start, end| ByteRange {
            start,
            end: Some(end),
            total: Some(6),
        };
        let mut r = Reassembler::new();
        r.accept("s", small(3, 6), Continuation::More, b"XXXX", &l)
            .unwrap();
        r.accept("s", small(2, 3), Continuation::More, b"bc", &l)
            .unwrap();
        assert_eq!(r.pending_bytes(), 5);
        assert_eq!(
            r.accept("s", small(1, 1), Continuation::More, b"a", &l),
            Ok(Reassembly::Complete(b"abcXXX".to_vec()))
        );
        assert_eq!(r.pending_bytes(), 0);
    }

    /// LIM-5: the per-leg and the all-legs caps on bytes held, and the timeout.
    #[test]
    fn pending_bytes_are_capped_and_partials_time_out() {
        let l = Limits {
            max_msrp_pending_bytes: 10,
            max_msrp_pending_bytes_total: 25,
            msrp_partial_timeout_ms: 1_000,
            ..Limits::default()
        };
        let open = |start| ByteRange {
            start,
            end: None,
            total: Some(100),
        };
        let t = Time::from_ms;
        let mut r = Reassembler::new();
        let more = Continuation::More;
        assert_eq!(
            r.accept_at("a", open(1), more, b"123456", &l, t(0), 0),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(
            r.accept_at("b", open(1), more, b"12345", &l, t(10), 0),
            Err(ReassemblyError::PendingBytes { limit: 10 })
        );
        assert_eq!(
            r.accept_at("b", open(1), more, b"1234", &l, t(10), 16),
            Err(ReassemblyError::PendingBytes { limit: 25 })
        );
        assert_eq!(
            r.accept_at("b", open(1), more, b"1234", &l, t(10), 15),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!(r.pending_bytes(), 10);
        // "a" is silent for 1 s: dropped when the next chunk comes; "b" is not.
        assert_eq!(
            r.accept_at("b", open(5), more, b"5", &l, t(1_000), 0),
            Ok(Reassembly::Incomplete)
        );
        assert_eq!((r.pending(), r.pending_bytes()), (1, 5));
        assert_eq!(r.expire(t(1_999), &l), 0);
        assert_eq!(r.expire(t(2_000), &l), 1);
        assert_eq!(r.pending(), 0);
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
