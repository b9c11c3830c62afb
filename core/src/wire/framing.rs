//! Stream framing (RFC 3261 §18.3): cutting the byte stream of one TCP/TLS
//! connection into complete SIP messages by their `Content-Length`.
//!
//! A frame is the head (start line and headers up to and including the empty line)
//! plus exactly Content-Length body bytes; it is then handed to
//! [`decode_message`](super::decode_message). CR/LF bytes between messages (RFC 5626
//! `\r\n\r\n` keep-alives, stray line ends) are skipped. Following the decoder's
//! bare-LF policy, the head may end with `\n\n` as well as `\r\n\r\n`.
//!
//! Errors are fatal for the connection, since the stream can no longer be cut
//! reliably: a head larger than [`Limits::max_header_bytes`] (513), a Content-Length
//! above [`Limits::max_body_bytes`] (413), a missing or unparsable Content-Length
//! (400; it is mandatory on streams). The error is reported once, and the refused
//! head is kept ([`StreamDecoder::take_rejected`]) so that the request can still be
//! answered before the connection closes (CONF-3); afterwards the decoder yields
//! nothing and ignores further bytes.
//!
//! What it is *not*: no SIP parsing beyond finding Content-Length (a frame may still
//! fail to decode), no I/O, no keep-alive answering (the runtime may send the RFC
//! 5626 CRLF pong on its own).

use super::sip_decode::head::find_head_end;
use super::sip_decode::syntax::parse_content_length;
use super::Limits;
use crate::sip::StatusCode;

/// Why a stream can no longer be framed; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FrameError {
    /// No empty line within [`Limits::max_header_bytes`].
    #[error("header block exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Content-Length above [`Limits::max_body_bytes`].
    #[error("content-length {length} exceeds {limit}")]
    BodyTooLarge {
        /// Declared length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// No Content-Length header (mandatory on stream transports).
    #[error("missing content-length on a stream")]
    MissingContentLength,
    /// A Content-Length that is not a number, or two that disagree.
    #[error("bad content-length")]
    BadContentLength,
}

impl FrameError {
    /// The status that describes the error (513, 413 or 400), should the runtime
    /// want to answer before closing.
    pub fn status(&self) -> StatusCode {
        match self {
            FrameError::HeadersTooLarge { .. } => StatusCode::MESSAGE_TOO_LARGE,
            FrameError::BodyTooLarge { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            FrameError::MissingContentLength | FrameError::BadContentLength => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// One decode buffer per connection. Work is linear in the bytes pushed: the search
/// for the empty line resumes where it stopped, a head is parsed once, and consumed
/// bytes are dropped in amortised batches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StreamDecoder {
    /// Received bytes; `buf[pos..]` is not yet framed.
    buf: Vec<u8>,
    /// Start of the unframed bytes.
    pos: usize,
    /// Where the search for the end of the current head resumes.
    scan_from: usize,
    /// Total length of the current frame once its head has been read.
    pending: Option<usize>,
    /// A framing error was reported; the stream is dead.
    failed: bool,
    /// The head that could not be framed (at most `max_header_bytes`), until taken.
    rejected: Vec<u8>,
}

impl StreamDecoder {
    /// Appends bytes read from the connection (ignored once the stream has failed).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The head refused by the framing error (empty before one, and once taken), for
    /// answering it with [`crate::wire::reply_context_of`].
    pub fn take_rejected(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rejected)
    }

    /// Whether a framing error was reported (the connection should be closed).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The next complete message's bytes, if one is buffered; `Some(Err)` once when
    /// the stream cannot be framed, then `None` forever.
    pub fn next_frame(&mut self, limits: &Limits) -> Option<Result<Vec<u8>, FrameError>> {
        if self.failed {
            return None;
        }
        let frame_len = match self.pending {
            Some(n) => n,
            None => {
                self.skip_line_ends();
                match self.find_frame(limits) {
                    Ok(Some(n)) => n,
                    Ok(None) => return None,
                    Err(e) => {
                        self.failed = true;
                        let rest = self.buf.get(self.pos..).unwrap_or_default();
                        let keep = rest.len().min(limits.max_header_bytes);
                        self.rejected = rest.get(..keep).unwrap_or_default().to_vec();
                        self.buf = Vec::new();
                        return Some(Err(e));
                    }
                }
            }
        };
        let end = self.pos.saturating_add(frame_len);
        let Some(frame) = self.buf.get(self.pos..end) else {
            self.pending = Some(frame_len);
            return None;
        };
        let frame = frame.to_vec();
        self.pos = end;
        self.scan_from = end;
        self.pending = None;
        self.compact();
        Some(Ok(frame))
    }

    /// Skips CR/LF keep-alives before the next message.
    fn skip_line_ends(&mut self) {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(rest.len());
        self.pos += n;
        self.scan_from = self.scan_from.max(self.pos);
        self.compact();
    }

    /// Looks for a complete head; returns the frame length once it is known.
    fn find_frame(&mut self, limits: &Limits) -> Result<Option<usize>, FrameError> {
        let too_large = FrameError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        };
        let Some((head_end, body_start)) = find_head_end(&self.buf, self.scan_from) else {
            // An empty line is `\n` + `\n` or `\n\r\n`: resume two bytes back so a
            // terminator split across pushes is still found.
            self.scan_from = self.buf.len().saturating_sub(2).max(self.pos);
            if self.buf.len() - self.pos > limits.max_header_bytes {
                return Err(too_large);
            }
            return Ok(None);
        };
        let head_len = body_start - self.pos;
        if head_len > limits.max_header_bytes {
            return Err(too_large);
        }
        let head = self.buf.get(self.pos..head_end).unwrap_or_default();
        let length = content_length(head)?;
        if length > limits.max_body_bytes {
            return Err(FrameError::BodyTooLarge {
                length,
                limit: limits.max_body_bytes,
            });
        }
        let total = head_len.saturating_add(length);
        self.pending = Some(total);
        Ok(Some(total))
    }

    /// Drops consumed bytes once they are at least half the buffer (amortised O(1)
    /// per byte, instead of a drain after every frame).
    fn compact(&mut self) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.scan_from -= self.pos.min(self.scan_from);
            self.pos = 0;
        }
    }
}

/// The Content-Length of a head (long or compact `l` form, any case, padding and
/// folding allowed). Repeated equal values are tolerated here (the decoder refuses
/// them with a proper answer); different values make the stream uncuttable.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let lines: Vec<&[u8]> = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let mut found = None;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = line.get(colon + 1..).unwrap_or_default().to_vec();
        let continuations = lines.get(i + 1..).unwrap_or_default();
        for more in continuations
            .iter()
            .take_while(|l| l.starts_with(b" ") || l.starts_with(b"\t"))
        {
            value.push(b' ');
            value.extend_from_slice(more);
        }
        let n = std::str::from_utf8(&value)
            .ok()
            .and_then(parse_content_length)
            .ok_or(FrameError::BadContentLength)?;
        if found.replace(n).is_some_and(|old| old != n) {
            return Err(FrameError::BadContentLength);
        }
    }
    found.ok_or(FrameError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl:  3 \r\n\r\nabc";

    fn frames(dec: &mut StreamDecoder) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| dec.next_frame(&Limits::default())).collect()
    }

    #[test]
    fn keepalives_and_back_to_back_messages() {
        let mut dec = StreamDecoder::default();
        dec.push(b"\r\n\r\n");
        dec.push(MSG);
        dec.push(b"\r\n");
        dec.push(MSG);
        assert_eq!(frames(&mut dec), [Ok(MSG.to_vec()), Ok(MSG.to_vec())]);
        assert!(frames(&mut dec).is_empty());
    }

    #[test]
    fn byte_by_byte() {
        let mut dec = StreamDecoder::default();
        let mut out = Vec::new();
        for b in MSG.iter().chain(MSG) {
            dec.push(&[*b]);
            out.extend(frames(&mut dec));
        }
        assert_eq!(out, [Ok(MSG.to_vec()), Ok(MSG.to_vec())]);
    }

    #[test]
    fn bare_lf_head_and_folded_length() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\nContent-Length:\n  2\n\nok";
        let mut dec = StreamDecoder::default();
        dec.push(msg);
        assert_eq!(frames(&mut dec), [Ok(msg.to_vec())]);
    }

    #[test]
    fn errors_are_reported_once() {
        let mut dec = StreamDecoder::default();
        dec.push(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n");
        assert_eq!(frames(&mut dec), [Err(FrameError::MissingContentLength)]);
        assert!(dec.is_failed());
        assert_eq!(
            dec.take_rejected(),
            b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",
            "kept for the answer"
        );
        assert!(dec.take_rejected().is_empty());
        dec.push(MSG);
        assert!(frames(&mut dec).is_empty());

        let limits = Limits {
            max_header_bytes: 16,
            ..Limits::default()
        };
        let mut dec = StreamDecoder::default();
        dec.push(b"OPTIONS sip:a@b SIP/2.0");
        let e = dec.next_frame(&limits).unwrap().unwrap_err();
        assert_eq!(e.status(), StatusCode::MESSAGE_TOO_LARGE);

        let mut dec = StreamDecoder::default();
        dec.push(b"X\r\nl: 99999999999999999999999\r\n\r\n");
        let e = frames(&mut dec).remove(0).unwrap_err();
        assert_eq!(e.status(), StatusCode::REQUEST_ENTITY_TOO_LARGE);

        let mut dec = StreamDecoder::default();
        dec.push(b"X\r\nl: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(frames(&mut dec), [Err(FrameError::BadContentLength)]);
    }
}
