//! MSRP framing and codec (RFC 4975 §7–§9): cutting the byte stream of one MSRP
//! connection into [`MsrpMessage`]s, and printing them.
//!
//! A message is a start line (`MSRP <tid> <METHOD>` or `MSRP <tid> <code>
//! [comment]`), header lines, and then either directly the end-line
//! `-------<tid><flag>` (no body), or an empty line, the body and `CRLF` + end-line.
//! The body is delimited by the end-line only: it may hold any bytes except `CRLF
//! -------<tid>` followed by a flag (`$`, `+`, `#`) and `CRLF`. Lines end with
//! `CRLF` (no bare-LF tolerance: MSRP has no legacy to accommodate). Header names
//! are matched case-insensitively; values are trimmed. `To-Path` and `From-Path`
//! are required in every message (in any position; they are printed first).
//!
//! [`MsrpDecoder`] is incremental: a message split at any byte boundary comes out the
//! same, and several messages in one push come out one by one. It hands out
//! [`MsrpMessage`]s (`next_message`), or [`MsrpFrame`]s (`next_frame`: a response
//! as its transaction id and status only, checked alike; the server's loop reads
//! no more of the receivers' 200s). Errors are fatal for
//! the connection (the stream can no longer be cut reliably): a header block beyond
//! [`Limits::max_msrp_header_bytes`], a body beyond [`Limits::max_msrp_chunk_bytes`],
//! a malformed start line, header or end-line, a missing path, a body without
//! `Content-Type`, a response with a body. The error is reported once; afterwards the
//! decoder yields nothing and ignores further bytes.
//!
//! [`encode`] prints canonical text; `decode(encode(m)) == m` for every message
//! whose fields are valid wire values and whose body does not contain its own
//! end-line (RFC 4975 §7.1 makes checking that the sender's job; `encode` does not).
//!
//! What it is *not*: no session logic, no reassembly of chunks (see
//! [`crate::msrp::reassembly`]), no I/O.

use super::Limits;
use crate::ids::TransactionId;
use crate::msrp::{
    ByteRange, Continuation, FailureReport, MsrpFrame, MsrpMessage, MsrpMethod, MsrpRequest,
    MsrpResponse, MsrpResponseLine,
};

/// Why an MSRP stream can no longer be decoded; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MsrpError {
    /// No empty line or end-line within [`Limits::max_msrp_header_bytes`].
    #[error("msrp header block exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More header lines than [`Limits::max_header_count`].
    #[error("more than {limit} msrp header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// No end-line within [`Limits::max_msrp_chunk_bytes`] body bytes.
    #[error("msrp chunk body exceeds {limit} bytes")]
    ChunkTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The start line is neither a request nor a response line.
    #[error("bad msrp start line")]
    BadStartLine,
    /// A line not ended by CRLF, or with a stray CR or LF inside.
    #[error("bad msrp line ending")]
    BadLineEnding,
    /// A header line without a colon, with a bad name, or not UTF-8.
    #[error("bad msrp header line")]
    BadHeader,
    /// A known header whose value does not parse.
    #[error("bad value of msrp header {0}")]
    BadHeaderValue(String),
    /// A header that may appear only once appears twice.
    #[error("duplicate msrp header {0}")]
    DuplicateHeader(String),
    /// No `To-Path` header.
    #[error("missing to-path")]
    MissingToPath,
    /// No `From-Path` header.
    #[error("missing from-path")]
    MissingFromPath,
    /// A request with a body but no `Content-Type`.
    #[error("msrp body without content-type")]
    MissingContentType,
    /// A response followed by an empty line (responses carry no body).
    #[error("msrp response with a body")]
    ResponseWithBody,
    /// The line closing the header block is not `-------<tid><flag>`.
    #[error("bad msrp end-line")]
    BadEndLine,
}

impl MsrpError {
    /// The RFC 4975 §10 status that describes the error, should the runtime want to
    /// answer before closing (only possible when the start line gave a transaction
    /// id): 413 for a chunk beyond the limit, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            MsrpError::ChunkTooLarge { .. } => 413,
            MsrpError::HeadersTooLarge { .. }
            | MsrpError::TooManyHeaders { .. }
            | MsrpError::BadStartLine
            | MsrpError::BadLineEnding
            | MsrpError::BadHeader
            | MsrpError::BadHeaderValue(_)
            | MsrpError::DuplicateHeader(_)
            | MsrpError::MissingToPath
            | MsrpError::MissingFromPath
            | MsrpError::MissingContentType
            | MsrpError::ResponseWithBody
            | MsrpError::BadEndLine => 400,
        }
    }
}

/// The seven dashes that open an end-line.
const DASHES: &[u8] = b"-------";

/// Longest end-line including `CRLF` before and after: 2 + 7 + 32 (tid) + 1 + 2.
const MAX_END_LINE: usize = 44;

/// Where the decoder is within the current message.
// The request is held inline while its body arrives, not boxed: a `Box` (and a
// `Vec` for the delimiter) were two allocations per SEND with a body, and a
// decoder is one per connection, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
enum State {
    /// Reading the start line and headers.
    #[default]
    Head,
    /// Headers parsed; reading the body up to the end-line.
    Body {
        /// The request so far (body empty; responses have none).
        message: MsrpRequest,
        /// `CRLF -------<tid>`, the body delimiter.
        delimiter: Delimiter,
        /// Absolute start of the body in the buffer.
        body_start: usize,
    },
}

/// `CRLF -------<tid>`, held inline: a transaction id is an `ident`, at most 32
/// bytes, so the delimiter is at most 41.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Delimiter {
    bytes: [u8; MAX_END_LINE - 3],
    len: u8,
}

impl Delimiter {
    /// The delimiter of transaction `tid` (an `ident`: at most 32 bytes; a longer
    /// one, which the start line refuses, is cut).
    fn of(tid: &str) -> Self {
        let mut bytes = [0u8; MAX_END_LINE - 3];
        let parts = [&b"\r\n"[..], DASHES, tid.as_bytes()];
        let mut len = 0;
        for part in parts {
            let room = bytes.len() - len;
            let take = part.len().min(room);
            if let (Some(to), Some(from)) = (bytes.get_mut(len..len + take), part.get(..take)) {
                to.copy_from_slice(from);
            }
            len += take;
        }
        Self {
            bytes,
            len: u8::try_from(len).unwrap_or(u8::MAX),
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// One decode buffer per MSRP connection. Work is linear in the bytes pushed (times
/// the delimiter length): line and end-line searches resume where they stopped, and
/// consumed bytes are dropped in amortised batches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MsrpDecoder {
    /// Received bytes; `buf[pos..]` is not yet decoded.
    buf: Vec<u8>,
    /// Start of the current message.
    pos: usize,
    /// Start of the next unclassified head line.
    line_start: usize,
    /// Where the next search (for a line end or for the end-line) resumes.
    scan_from: usize,
    /// Head or body of the current message.
    state: State,
    /// An error was reported; the stream is dead.
    failed: bool,
}

impl MsrpDecoder {
    /// Appends bytes read from the connection (ignored once the stream has failed).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.append(bytes);
        }
    }

    /// [`MsrpDecoder::push`] of bytes the caller owns: when nothing is buffered
    /// (the last read ended at a message boundary, the usual case for small
    /// messages) they become the buffer without a copy.
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if self.failed {
            return;
        }
        if matches!(self.state, State::Head) && self.pos == self.buf.len() {
            self.buf = bytes;
            self.pos = 0;
            self.line_start = 0;
            self.scan_from = 0;
        } else {
            self.append(&bytes);
        }
    }

    /// Appends `bytes` behind what is not decoded yet. When the buffer has to grow
    /// and its front holds decoded bytes, it grows into a fresh buffer holding only
    /// the rest (copied once): a reallocation copied the decoded bytes along, and
    /// `finish` had moved the rest to the front before (when a read ends inside a
    /// message, the usual case at 4 KiB and at high rates, each read's tail was
    /// copied twice more). The buffer never holds more than what is undecoded and
    /// the bytes of the latest push, or what one message needs.
    fn append(&mut self, bytes: &[u8]) {
        let spare = self.buf.capacity() - self.buf.len();
        if self.pos == 0 || spare >= bytes.len() {
            return self.buf.extend_from_slice(bytes);
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let mut fresh = Vec::with_capacity(rest.len() + bytes.len());
        fresh.extend_from_slice(rest);
        fresh.extend_from_slice(bytes);
        let shift = self.pos;
        self.buf = fresh;
        self.pos = 0;
        // Every other position is at or past the message's start.
        self.line_start = self.line_start.saturating_sub(shift);
        self.scan_from = self.scan_from.saturating_sub(shift);
        if let State::Body { body_start, .. } = &mut self.state {
            *body_start = body_start.saturating_sub(shift);
        }
    }

    /// Whether an error was reported (the connection should be closed).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The next complete message, if one is buffered; `Some(Err)` once when the
    /// stream cannot be decoded, then `None` forever.
    pub fn next_message(&mut self, limits: &Limits) -> Option<Result<MsrpMessage, MsrpError>> {
        Some(self.next::<MsrpResponse>(limits)?.map(|d| match d {
            Decoded::Request(r) => MsrpMessage::Request(r),
            Decoded::Response(r) => MsrpMessage::Response(r),
        }))
    }

    /// [`MsrpDecoder::next_message`] with a response handed out as its
    /// [`MsrpResponseLine`] only: checked the same (the same errors on the same
    /// bytes), its paths and comment not copied out. For a reader that only
    /// matches responses to its own requests.
    pub fn next_frame(&mut self, limits: &Limits) -> Option<Result<MsrpFrame, MsrpError>> {
        Some(self.next::<MsrpResponseLine>(limits)?.map(|d| match d {
            Decoded::Request(r) => MsrpFrame::Request(r),
            Decoded::Response(r) => MsrpFrame::Response(r),
        }))
    }

    fn next<R: ResponseForm>(&mut self, limits: &Limits) -> Option<Result<Decoded<R>, MsrpError>> {
        if self.failed {
            return None;
        }
        match self.step(limits) {
            Ok(Some(msg)) => Some(Ok(msg)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                self.state = State::Head;
                Some(Err(e))
            }
        }
    }

    fn step<R: ResponseForm>(&mut self, limits: &Limits) -> Result<Option<Decoded<R>>, MsrpError> {
        if matches!(self.state, State::Head) {
            let Some((terminator, line_end)) = self.find_head_end(limits)? else {
                return Ok(None);
            };
            let head = self.buf.get(self.pos..terminator).unwrap_or_default();
            let term = self.buf.get(terminator..line_end).unwrap_or_default();
            let (req, has_body) = match parse_head::<R>(head, term, limits)? {
                (Decoded::Request(req), has_body) => (req, has_body),
                // A response has no body (`parse_head` refuses one).
                (response, _) => {
                    self.finish(line_end);
                    return Ok(Some(response));
                }
            };
            if !has_body {
                self.finish(line_end);
                return Ok(Some(Decoded::Request(req)));
            }
            let delimiter = Delimiter::of(req.transaction_id.as_str());
            self.scan_from = line_end;
            self.state = State::Body {
                message: req,
                delimiter,
                body_start: line_end,
            };
        }
        Ok(self.find_body_end(limits)?.map(Decoded::Request))
    }

    /// Looks for the line that ends the head (an empty line or an end-line); returns
    /// its start and end. Errors when the head cannot fit the limit.
    fn find_head_end(&mut self, limits: &Limits) -> Result<Option<(usize, usize)>, MsrpError> {
        let too_large = MsrpError::HeadersTooLarge {
            limit: limits.max_msrp_header_bytes,
        };
        loop {
            let from = self.scan_from.max(self.line_start);
            let rest = self.buf.get(from..).unwrap_or_default();
            let Some(i) = find_byte(rest, b'\n') else {
                self.scan_from = self.buf.len();
                // Every buffered byte belongs to the head: it can only grow.
                if self.buf.len() - self.pos > limits.max_msrp_header_bytes {
                    return Err(too_large);
                }
                return Ok(None);
            };
            let line_end = from + i + 1;
            if line_end - self.pos > limits.max_msrp_header_bytes {
                return Err(too_large);
            }
            let start = self.line_start;
            let line = self.buf.get(start..line_end).unwrap_or_default();
            self.line_start = line_end;
            self.scan_from = line_end;
            if start != self.pos && (line == b"\r\n" || line.starts_with(DASHES)) {
                return Ok(Some((start, line_end)));
            }
        }
    }

    /// Looks for the end-line after the body; returns the finished request.
    fn find_body_end(&mut self, limits: &Limits) -> Result<Option<MsrpRequest>, MsrpError> {
        let State::Body {
            delimiter,
            body_start,
            ..
        } = &self.state
        else {
            return Ok(None);
        };
        let body_start = *body_start;
        let delimiter = delimiter.as_slice();
        let limit = limits.max_msrp_chunk_bytes;
        loop {
            let from = self.scan_from.max(body_start);
            let rest = self.buf.get(from..).unwrap_or_default();
            let Some(i) = find_delimiter(rest, delimiter) else {
                self.scan_from = self
                    .buf
                    .len()
                    .saturating_sub(delimiter.len() - 1)
                    .max(body_start);
                if self.buf.len() - body_start > limit.saturating_add(MAX_END_LINE) {
                    return Err(MsrpError::ChunkTooLarge { limit });
                }
                return Ok(None);
            };
            let at = from + i;
            if at - body_start > limit {
                return Err(MsrpError::ChunkTooLarge { limit });
            }
            let after = at + delimiter.len();
            let Some(tail) = self.buf.get(after..after + 3) else {
                self.scan_from = at;
                return Ok(None);
            };
            let flag = tail.first().copied().and_then(Continuation::from_flag);
            match (flag, tail.get(1..)) {
                (Some(flag), Some(b"\r\n")) => {
                    let body = self.buf.get(body_start..at).unwrap_or_default().to_vec();
                    let state = std::mem::take(&mut self.state);
                    self.finish(after + 3);
                    let State::Body { message, .. } = state else {
                        return Ok(None);
                    };
                    let mut request = message;
                    request.body = body;
                    request.continuation = flag;
                    return Ok(Some(request));
                }
                _ => self.scan_from = at + 1,
            }
        }
    }

    /// Ends the current message at `end` and prepares for the next one.
    fn finish(&mut self, end: usize) {
        self.state = State::Head;
        self.pos = end;
        self.line_start = end;
        self.scan_from = end;
        // Decoded bytes left in front are dropped when the buffer next has to grow
        // ([`MsrpDecoder::append`]), not moved here: a buffer decoded to its end is
        // only emptied.
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.line_start = 0;
            self.scan_from = 0;
        }
    }
}

/// Where `delimiter` (`CRLF -------<tid>`) first occurs in `hay`. Only the
/// positions of its first byte (CR) are compared in full, so a body costs about one
/// byte comparison per byte rather than one slice comparison per byte.
fn find_delimiter(hay: &[u8], delimiter: &[u8]) -> Option<usize> {
    let (&first, _) = delimiter.split_first()?;
    let mut from = 0;
    while hay.len().saturating_sub(from) >= delimiter.len() {
        let i = from + find_byte(hay.get(from..)?, first)?;
        // The byte after `CRLF` first: in a CPIM body every header line's CR is
        // followed by a letter, not a dash (a slice comparison per CR was a
        // `memcmp` call each).
        let dash = hay.get(i + 2) == delimiter.get(2);
        if dash && hay.get(i..)?.starts_with(delimiter) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Where `needle` first occurs in `hay`, eight bytes at a time
/// ([`super::ascii::first_of`]). The decoder's searches for line ends and
/// end-lines ran a comparison per byte.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    super::ascii::first_of(hay, [needle])
}

/// Decodes exactly one message from `bytes` (trailing bytes are ignored); `None`
/// when the bytes end before the message does.
pub fn decode(bytes: &[u8], limits: &Limits) -> Option<Result<MsrpMessage, MsrpError>> {
    let mut dec = MsrpDecoder::default();
    dec.push(bytes);
    dec.next_message(limits)
}

/// RFC 4975 `ident` (transaction ids, Message-IDs): an alphanumeric, then 3 to 31
/// of alphanumerics and `.-+%=`.
pub fn is_ident(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=32).contains(&b.len())
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-+%=".contains(c))
}

/// Splits a line off its CRLF; refuses stray CR/LF.
fn strip_crlf(line: &[u8]) -> Result<&[u8], MsrpError> {
    let content = line.strip_suffix(b"\r\n").ok_or(MsrpError::BadLineEnding)?;
    if has_cr_or_lf(content) {
        return Err(MsrpError::BadLineEnding);
    }
    Ok(content)
}

/// Whether `bytes` holds a CR or an LF: a word at a time, as [`find_byte`].
fn has_cr_or_lf(bytes: &[u8]) -> bool {
    super::ascii::first_of(bytes, [b'\r', b'\n']).is_some()
}

/// The lines of `head`, each with its LF (what `split_inclusive` on LF yields),
/// found a word at a time.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = head;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = find_byte(rest, b'\n').map_or(rest.len(), |i| i + 1);
        let (line, more) = rest.split_at(end);
        rest = more;
        Some(line)
    })
}

/// `s` without leading and trailing SP and HT.
fn trim_sp_ht(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    s.get(start..end.max(start)).unwrap_or_default()
}

/// A decoded request, or a response in the form `R` the reader asked for.
// Handed out and taken apart at once: boxing the request would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum Decoded<R> {
    Request(MsrpRequest),
    Response(R),
}

/// How a response is handed out: in full ([`MsrpResponse`], [`MsrpDecoder::next_message`])
/// or as its start line ([`MsrpResponseLine`], [`MsrpDecoder::next_frame`]). Both
/// check the headers alike: the same bytes give the same error.
trait ResponseForm: Sized {
    /// The response with transaction id `tid` (an `ident`), `status` and
    /// `comment`, from its header lines.
    fn from_head(
        tid: &str,
        status: u16,
        comment: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Self, MsrpError>;
}

impl ResponseForm for MsrpResponse {
    fn from_head(
        tid: &str,
        status: u16,
        comment: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Self, MsrpError> {
        let mut to_path = None;
        let mut from_path = None;
        let mut other = Vec::new();
        for &(name, value) in headers {
            if name.eq_ignore_ascii_case("To-Path") {
                set_once(&mut to_path, parse_path(name, value)?, name)?;
            } else if name.eq_ignore_ascii_case("From-Path") {
                set_once(&mut from_path, parse_path(name, value)?, name)?;
            } else {
                other.push((name.to_owned(), value.to_owned()));
            }
        }
        Ok(MsrpResponse {
            transaction_id: TransactionId::new(tid),
            status,
            comment: comment.map(str::to_owned),
            to_path: to_path.ok_or(MsrpError::MissingToPath)?,
            from_path: from_path.ok_or(MsrpError::MissingFromPath)?,
            other,
        })
    }
}

impl ResponseForm for MsrpResponseLine {
    fn from_head(
        tid: &str,
        status: u16,
        _comment: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Self, MsrpError> {
        // The checks of `MsrpResponse::from_head` in its order, on the borrowed
        // values: each path a list of MSRP URIs, present once.
        let (mut to_path, mut from_path) = (None, None);
        for &(name, value) in headers {
            if name.eq_ignore_ascii_case("To-Path") {
                set_once(&mut to_path, check_path(name, value)?, name)?;
            } else if name.eq_ignore_ascii_case("From-Path") {
                set_once(&mut from_path, check_path(name, value)?, name)?;
            }
        }
        to_path.ok_or(MsrpError::MissingToPath)?;
        from_path.ok_or(MsrpError::MissingFromPath)?;
        // An `ident` (checked by the start line) is at most 32 bytes.
        MsrpResponseLine::new(tid, status).ok_or(MsrpError::BadStartLine)
    }
}

/// Parses a head (start line and header lines) and the line that closed it (an
/// empty line: a body follows; or the end-line). Returns the message (body empty)
/// and whether a body follows.
fn parse_head<R: ResponseForm>(
    head: &[u8],
    terminator: &[u8],
    limits: &Limits,
) -> Result<(Decoded<R>, bool), MsrpError> {
    // The head checked as UTF-8 once (the usual head is), its lines then cut out
    // of that text at their CRLFs (ASCII, so whole characters) instead of checked
    // one by one (nine checks per SEND and 200, ~1,000 instructions); a head that is
    // not UTF-8 is checked line by line, for the error of the first bad line.
    let text = std::str::from_utf8(head).ok();
    let text_of = |at: usize, line: &[u8]| text.and_then(|t| t.get(at..at + line.len()));
    let mut lines = lines(head);
    let first = lines.next().unwrap_or_default();
    let mut at = first.len();
    let start = strip_crlf(first)?;
    let start = match text_of(0, start) {
        Some(start) => start,
        None => std::str::from_utf8(start).map_err(|_| MsrpError::BadStartLine)?,
    };
    let (tid, kind) = parse_start_line(start)?;
    // Borrowed from the head: only the values a message keeps are copied (a
    // `String` per name and value cost the loop ~3,000 instructions per message).
    // Held on the stack up to `HeaderList`'s inline room (a `Vec` per head was an
    // allocation per SEND and per 200).
    let mut headers = HeaderList::default();
    for line in lines {
        if headers.len() >= limits.max_header_count {
            return Err(MsrpError::TooManyHeaders {
                limit: limits.max_header_count,
            });
        }
        let content = strip_crlf(line)?;
        headers.push(parse_header_line(content, text_of(at, content))?);
        at += line.len();
    }
    let term = strip_crlf(terminator)?;
    let has_body = term.is_empty();
    let continuation = if has_body {
        Continuation::Complete
    } else {
        let rest = term.strip_prefix(DASHES).ok_or(MsrpError::BadEndLine)?;
        let (flag, id) = rest.split_last().ok_or(MsrpError::BadEndLine)?;
        if id != tid.as_bytes() {
            return Err(MsrpError::BadEndLine);
        }
        Continuation::from_flag(*flag).ok_or(MsrpError::BadEndLine)?
    };
    let msg = match kind {
        StartKind::Request(method) => {
            let headers = headers.as_slice();
            let mut req = request_from_headers(TransactionId::new(tid), method, headers)?;
            if has_body && req.content_type.is_none() {
                return Err(MsrpError::MissingContentType);
            }
            req.continuation = continuation;
            Decoded::Request(req)
        }
        StartKind::Response(status, comment) => {
            if has_body {
                return Err(MsrpError::ResponseWithBody);
            }
            Decoded::Response(R::from_head(tid, status, comment, headers.as_slice())?)
        }
    };
    Ok((msg, has_body))
}

/// A head's header lines, `(name, value)` borrowed from it: the first
/// [`HeaderList::INLINE`] on the stack (a SEND from a terminal has five or six, a
/// response two), all of them in a `Vec` once there are more.
struct HeaderList<'a> {
    inline: [(&'a str, &'a str); HeaderList::INLINE],
    len: usize,
    spilled: Vec<(&'a str, &'a str)>,
}

impl Default for HeaderList<'_> {
    fn default() -> Self {
        Self {
            inline: [("", ""); HeaderList::INLINE],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl<'a> HeaderList<'a> {
    const INLINE: usize = 12;

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, header: (&'a str, &'a str)) {
        if self.spilled.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = header;
                self.len += 1;
                return;
            }
            self.spilled.extend_from_slice(&self.inline);
        }
        self.spilled.push(header);
        self.len += 1;
    }

    fn as_slice(&self) -> &[(&'a str, &'a str)] {
        if self.spilled.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.spilled
        }
    }
}

enum StartKind<'a> {
    Request(MsrpMethod),
    Response(u16, Option<&'a str>),
}

/// The start line: the transaction id (an `ident`, borrowed: a response's is
/// copied only by the form it is handed out in) and what follows it.
fn parse_start_line(line: &str) -> Result<(&str, StartKind<'_>), MsrpError> {
    let bad = || MsrpError::BadStartLine;
    let rest = line.strip_prefix("MSRP ").ok_or_else(bad)?;
    let (tid, rest) = rest.split_once(' ').ok_or_else(bad)?;
    if !is_ident(tid) {
        return Err(bad());
    }
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase()) {
        let method = match rest {
            "SEND" => MsrpMethod::Send,
            "REPORT" => MsrpMethod::Report,
            "AUTH" => MsrpMethod::Auth,
            other => MsrpMethod::Other(other.to_owned()),
        };
        return Ok((tid, StartKind::Request(method)));
    }
    let (status, comment) = parse_code_and_comment(rest).ok_or_else(bad)?;
    Ok((tid, StartKind::Response(status, comment)))
}

/// `3DIGIT [SP comment]`.
fn parse_code_and_comment(s: &str) -> Option<(u16, Option<&str>)> {
    let code = s.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = code.parse().ok()?;
    let rest = s.get(3..)?;
    if rest.is_empty() {
        return Some((code, None));
    }
    Some((code, Some(rest.strip_prefix(' ')?)))
}

/// A header line; `text`: the same line as text, when the head is known to be UTF-8.
fn parse_header_line<'a>(
    line: &'a [u8],
    text: Option<&'a str>,
) -> Result<(&'a str, &'a str), MsrpError> {
    let colon = find_byte(line, b':').ok_or(MsrpError::BadHeader)?;
    let line = match text {
        Some(line) => line,
        None => std::str::from_utf8(line).map_err(|_| MsrpError::BadHeader)?,
    };
    // The colon is ASCII: both sides are whole characters.
    let (name, value) = (
        line.get(..colon).unwrap_or_default(),
        line.get(colon + 1..).unwrap_or_default(),
    );
    let valid_name = name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name.bytes().all(|b| b.is_ascii_graphic());
    if !valid_name {
        return Err(MsrpError::BadHeader);
    }
    Ok((name, trim_sp_ht(value)))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), MsrpError> {
    if slot.replace(value).is_some() {
        return Err(MsrpError::DuplicateHeader(name.to_owned()));
    }
    Ok(())
}

fn bad_value(name: &str) -> MsrpError {
    MsrpError::BadHeaderValue(name.to_owned())
}

/// `MSRP-URI *(SP MSRP-URI)`: at least one `msrp://` or `msrps://` URI.
fn parse_path(name: &str, value: &str) -> Result<Vec<String>, MsrpError> {
    // Split at SP and HT over the bytes (a `char` pattern decoded every character
    // of four paths per message): both are ASCII, so every piece is whole text.
    let mut uris: Vec<String> = Vec::with_capacity(1);
    let bytes = value.as_bytes();
    if !value.is_empty() && find_byte(bytes, b' ').is_none() && find_byte(bytes, b'\t').is_none() {
        // One URI (the usual path of a terminal not behind a relay).
        uris.push(value.to_owned());
    } else {
        let mut start = 0;
        for (i, b) in bytes.iter().copied().chain([b' ']).enumerate() {
            if matches!(b, b' ' | b'\t') {
                if i > start {
                    uris.push(value.get(start..i).unwrap_or_default().to_owned());
                }
                start = i + 1;
            }
        }
    }
    if uris.is_empty() || !uris.iter().all(|u| is_msrp_uri(u.as_bytes())) {
        return Err(bad_value(name));
    }
    Ok(uris)
}

/// What [`parse_path`] accepts, checked without copying a URI out: at least one
/// URI, each `msrp://` or `msrps://` and more (case-insensitive scheme), between
/// SP and HT.
fn check_path(name: &str, value: &str) -> Result<(), MsrpError> {
    let bytes = value.as_bytes();
    if !bytes.is_empty() && find_byte(bytes, b' ').is_none() && find_byte(bytes, b'\t').is_none() {
        // One URI, as `parse_path` finds it: two word-at-a-time searches, where
        // the split below looked at every byte (~960 instructions per 200).
        return if is_msrp_uri(bytes) {
            Ok(())
        } else {
            Err(bad_value(name))
        };
    }
    let mut any = false;
    for uri in value.as_bytes().split(|b| matches!(b, b' ' | b'\t')) {
        if uri.is_empty() {
            continue;
        }
        if !is_msrp_uri(uri) {
            return Err(bad_value(name));
        }
        any = true;
    }
    if !any {
        return Err(bad_value(name));
    }
    Ok(())
}

/// Whether `uri` is `msrp://` or `msrps://` and more: the scheme compared in place,
/// case-insensitively (no lower-case copy).
fn is_msrp_uri(uri: &[u8]) -> bool {
    [&b"msrp://"[..], b"msrps://"].iter().any(|s| {
        uri.len() > s.len()
            && uri
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
    })
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_star_or_number(s: &str) -> Option<Option<u64>> {
    if s == "*" {
        Some(None)
    } else {
        parse_number(s).map(Some)
    }
}

/// `start-end/total` with `*` for an unknown end or total; refuses a start of 0,
/// an end before `start - 1` (an empty chunk) and an end beyond the total.
fn parse_byte_range(s: &str) -> Option<ByteRange> {
    let (range, total) = s.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let range = ByteRange {
        start: parse_number(start)?,
        end: parse_star_or_number(end)?,
        total: parse_star_or_number(total)?,
    };
    let end_ok = range.end.is_none_or(|e| e.saturating_add(1) >= range.start);
    let total_ok = match (range.end, range.total) {
        (Some(e), Some(t)) => e <= t,
        (None, _) | (_, None) => true,
    };
    (range.start >= 1 && end_ok && total_ok).then_some(range)
}

/// `000 SP status-code [SP comment]`.
fn parse_status(s: &str) -> Option<(u16, Option<String>)> {
    let (code, comment) = parse_code_and_comment(s.strip_prefix("000 ")?)?;
    Some((code, comment.map(str::to_owned)))
}

fn parse_yes_no(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

fn parse_failure_report(s: &str) -> Option<FailureReport> {
    match parse_yes_no(s) {
        Some(true) => Some(FailureReport::Yes),
        Some(false) => Some(FailureReport::No),
        None => s
            .eq_ignore_ascii_case("partial")
            .then_some(FailureReport::Partial),
    }
}

fn request_from_headers(
    tid: TransactionId,
    method: MsrpMethod,
    headers: &[(&str, &str)],
) -> Result<MsrpRequest, MsrpError> {
    let mut to_path = None;
    let mut from_path = None;
    let mut message_id = None;
    let mut byte_range = None;
    let mut success_report = None;
    let mut failure_report = None;
    let mut content_type = None;
    let mut status = None;
    let mut other = Vec::new();
    for &(name, value) in headers {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let n = name;
        if is("To-Path") {
            set_once(&mut to_path, parse_path(n, value)?, n)?;
        } else if is("From-Path") {
            set_once(&mut from_path, parse_path(n, value)?, n)?;
        } else if is("Message-ID") {
            if !is_ident(value) {
                return Err(bad_value(n));
            }
            set_once(&mut message_id, value.to_owned(), n)?;
        } else if is("Byte-Range") {
            let range = parse_byte_range(value).ok_or_else(|| bad_value(n))?;
            set_once(&mut byte_range, range, n)?;
        } else if is("Success-Report") {
            let v = parse_yes_no(value).ok_or_else(|| bad_value(n))?;
            set_once(&mut success_report, v, n)?;
        } else if is("Failure-Report") {
            let v = parse_failure_report(value).ok_or_else(|| bad_value(n))?;
            set_once(&mut failure_report, v, n)?;
        } else if is("Status") {
            let v = parse_status(value).ok_or_else(|| bad_value(n))?;
            set_once(&mut status, v, n)?;
        } else if is("Content-Type") {
            let (kind, subtype) = value.split_once('/').ok_or_else(|| bad_value(n))?;
            if kind.is_empty() || subtype.is_empty() {
                return Err(bad_value(n));
            }
            set_once(&mut content_type, value.to_owned(), n)?;
        } else {
            other.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut req = MsrpRequest::new(
        tid,
        method,
        to_path.ok_or(MsrpError::MissingToPath)?,
        from_path.ok_or(MsrpError::MissingFromPath)?,
    );
    req.message_id = message_id;
    req.byte_range = byte_range;
    req.success_report = success_report;
    req.failure_report = failure_report.unwrap_or_default();
    req.content_type = content_type;
    req.status = status;
    req.other = other;
    Ok(req)
}

/// Appends a number, or `*` for `None`.
fn push_star_or(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => push_number(out, n),
        None => out.push(b'*'),
    }
}

/// Appends a number in decimal (no `format!`: the relay prints one per SEND).
fn push_number(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(crate::decimal::decimal_digits(n, &mut buf));
}

/// Appends a status code zero-padded to three digits (as `{:03}` would).
fn push_status(out: &mut Vec<u8>, code: u16) {
    if code > 999 {
        return push_number(out, u64::from(code));
    }
    out.extend_from_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ]);
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A path header: the URIs separated by one space.
fn push_path(out: &mut Vec<u8>, name: &str, uris: &[String]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for (i, uri) in uris.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(uri.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn push_end_line(out: &mut Vec<u8>, tid: &TransactionId, flag: Continuation) {
    out.extend_from_slice(DASHES);
    out.extend_from_slice(tid.as_str().as_bytes());
    out.push(flag.flag());
    out.extend_from_slice(b"\r\n");
}

/// Prints a message as canonical RFC 4975 text. Header order: `To-Path`,
/// `From-Path`, `Message-ID`, `Byte-Range`, `Success-Report`, `Failure-Report`
/// (omitted when `yes`, the default), `Status`, the other headers in order, then
/// `Content-Type`. A request with a `Content-Type` or a body gets the empty line,
/// the body and `CRLF` before its end-line; others end with the end-line right
/// after the headers. Responses always end with `$`.
pub fn encode(msg: &MsrpMessage) -> Vec<u8> {
    // Head lines are short: one allocation for the whole message.
    let body = match msg {
        MsrpMessage::Request(r) => r.body.len(),
        MsrpMessage::Response(_) => 0,
    };
    let mut out = Vec::with_capacity(body + 512);
    encode_into(msg, &mut out);
    out
}

/// [`encode`], appending to `out` (every field written straight into it: no
/// intermediate string per header).
pub fn encode_into(msg: &MsrpMessage, out: &mut Vec<u8>) {
    match msg {
        MsrpMessage::Request(r) => {
            out.extend_from_slice(b"MSRP ");
            out.extend_from_slice(r.transaction_id.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(r.method.as_str().as_bytes());
            out.extend_from_slice(b"\r\n");
            push_path(out, "To-Path", &r.to_path);
            push_path(out, "From-Path", &r.from_path);
            if let Some(id) = &r.message_id {
                push_header(out, "Message-ID", id);
            }
            if let Some(br) = &r.byte_range {
                out.extend_from_slice(b"Byte-Range: ");
                push_number(out, br.start);
                out.push(b'-');
                push_star_or(out, br.end);
                out.push(b'/');
                push_star_or(out, br.total);
                out.extend_from_slice(b"\r\n");
            }
            if let Some(yes) = r.success_report {
                push_header(out, "Success-Report", if yes { "yes" } else { "no" });
            }
            match r.failure_report {
                FailureReport::Yes => {}
                FailureReport::No => push_header(out, "Failure-Report", "no"),
                FailureReport::Partial => push_header(out, "Failure-Report", "partial"),
            }
            if let Some((code, comment)) = &r.status {
                out.extend_from_slice(b"Status: 000 ");
                push_status(out, *code);
                if let Some(c) = comment {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            for (name, value) in &r.other {
                push_header(out, name, value);
            }
            if let Some(ct) = &r.content_type {
                push_header(out, "Content-Type", ct);
            }
            if r.content_type.is_some() || !r.body.is_empty() {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&r.body);
                out.extend_from_slice(b"\r\n");
            }
            push_end_line(out, &r.transaction_id, r.continuation);
        }
        MsrpMessage::Response(r) => {
            out.extend_from_slice(b"MSRP ");
            out.extend_from_slice(r.transaction_id.as_str().as_bytes());
            out.push(b' ');
            push_status(out, r.status);
            if let Some(c) = &r.comment {
                out.push(b' ');
                out.extend_from_slice(c.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            push_path(out, "To-Path", &r.to_path);
            push_path(out, "From-Path", &r.from_path);
            for (name, value) in &r.other {
                push_header(out, name, value);
            }
            push_end_line(out, &r.transaction_id, Continuation::Complete);
        }
    }
}

/// Prints the response to transaction `tid` with `status` and `comment`, to the
/// single `to` URI from the single `from` URI: the bytes [`encode`] prints for that
/// [`MsrpResponse`], without building it (the relay answers every SEND).
pub fn encode_response(
    tid: &TransactionId,
    status: u16,
    comment: &str,
    to: &str,
    from: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + tid.as_str().len() * 2 + to.len() + from.len());
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid.as_str().as_bytes());
    out.push(b' ');
    push_status(&mut out, status);
    out.push(b' ');
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(b"\r\n");
    push_header(&mut out, "To-Path", to);
    push_header(&mut out, "From-Path", from);
    push_end_line(&mut out, tid, Continuation::Complete);
    out
}

/// One SEND chunk of the server's, by its parts: what [`encode`] prints for the
/// [`MsrpRequest`] with these fields (one `From-Path` URI; `Content-Type` only with
/// a non-empty chunk; no other header), without building it: the relay prints one
/// per message it delivers.
pub struct SendChunk<'a> {
    /// The transaction id.
    pub tid: &'a str,
    /// `To-Path` URIs.
    pub to_path: &'a [String],
    /// The single `From-Path` URI.
    pub from: &'a str,
    /// `Message-ID`.
    pub message_id: &'a str,
    /// `Byte-Range` of this chunk.
    pub range: ByteRange,
    /// `Content-Type` of the whole message.
    pub content_type: &'a str,
    /// The chunk's bytes.
    pub data: &'a [u8],
    /// The end-line flag.
    pub flag: Continuation,
}

impl SendChunk<'_> {
    /// Appends the chunk's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        // Room for the whole chunk at once (growing the buffer as it was printed
        // copied it up to twice).
        let paths: usize = self.to_path.iter().map(|u| u.len() + 1).sum();
        out.reserve(
            200 + self.data.len()
                + 2 * self.tid.len()
                + self.from.len()
                + paths
                + self.message_id.len()
                + self.content_type.len(),
        );
        out.extend_from_slice(b"MSRP ");
        out.extend_from_slice(self.tid.as_bytes());
        out.extend_from_slice(b" SEND\r\n");
        push_path(out, "To-Path", self.to_path);
        push_header(out, "From-Path", self.from);
        push_header(out, "Message-ID", self.message_id);
        out.extend_from_slice(b"Byte-Range: ");
        push_number(out, self.range.start);
        out.push(b'-');
        push_star_or(out, self.range.end);
        out.push(b'/');
        push_star_or(out, self.range.total);
        out.extend_from_slice(b"\r\n");
        if !self.data.is_empty() {
            push_header(out, "Content-Type", self.content_type);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(self.data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(DASHES);
        out.extend_from_slice(self.tid.as_bytes());
        out.push(self.flag.flag());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head's helpers agree with the byte-by-byte forms they replace:
    /// `has_cr_or_lf` with `any`, `lines` with `split_inclusive`, `trim_sp_ht`
    /// with `trim_matches`.
    #[test]
    fn head_helpers_match_the_plain_forms() {
        let samples: [&[u8]; 7] = [
            b"",
            b"\n",
            b"abcdefgh\r",
            b"abcdefghijklmnop\nq",
            b"x\r\ny\r\n\r\n",
            b"\t  To-Path:\t msrp://a:1/b;tcp \t",
            b"0123456789abcdef0123456789abcdef\x0d",
        ];
        for s in samples {
            let plain = s.iter().any(|b| matches!(b, b'\r' | b'\n'));
            assert_eq!(has_cr_or_lf(s), plain, "{s:?}");
            let split: Vec<&[u8]> = s.split_inclusive(|b| *b == b'\n').collect();
            assert_eq!(lines(s).collect::<Vec<_>>(), split, "{s:?}");
            let text = std::str::from_utf8(s).unwrap();
            assert_eq!(trim_sp_ht(text), text.trim_matches([' ', '\t']), "{s:?}");
        }
    }

    /// The word-at-a-time search finds what a byte-by-byte one finds: every length
    /// up to three words, the needle at every place or nowhere, among bytes that
    /// differ from it by one bit, by the high bit, or are 0x00 / 0xFF (where a
    /// carry could fake a match).
    #[test]
    fn find_byte_finds_the_first_occurrence() {
        for needle in [b'\n', b'\r', 0x00, 0x80, 0xFF] {
            let fillers = [
                needle ^ 1,
                needle ^ 0x80,
                0x00,
                0xFF,
                needle.wrapping_sub(1),
            ];
            for filler in fillers.into_iter().filter(|f| *f != needle) {
                for len in 0..24 {
                    let hay = vec![filler; len];
                    assert_eq!(find_byte(&hay, needle), None);
                    for at in 0..len {
                        let mut hay = hay.clone();
                        hay[at] = needle;
                        if at + 3 < len {
                            hay[at + 3] = needle;
                        }
                        assert_eq!(
                            find_byte(&hay, needle),
                            Some(at),
                            "{needle} {filler} {len} {at}"
                        );
                    }
                }
            }
        }
    }

    /// `check_path` (with its one-URI fast path) accepts exactly what
    /// `parse_path` accepts, and refuses with the same error.
    #[test]
    fn check_path_agrees_with_parse_path() {
        let values = [
            "",
            " ",
            "\t",
            "msrp://a:1/s;tcp",
            "MSRPS://a:1/s;tcp",
            "msrp://",
            "msrps://",
            "msrp:/a",
            "sip:a@b",
            "msrp://a:1/s;tcp msrp://b:2/t;tcp",
            " msrp://a:1/s;tcp",
            "msrp://a:1/s;tcp\t",
            "msrp://a:1/s;tcp  sip:b",
            "msrp://a:1/s;tcp\tmsrps://b",
            "msrp://a-very-long-host-name.example.com:12763/kjhd37s2s20w2a;tcp",
            "http://a-very-long-host-name.example.com:12763/kjhd37s2s20w2a;tcp",
            "caf\u{e9}",
        ];
        for value in values {
            assert_eq!(
                check_path("To-Path", value),
                parse_path("To-Path", value).map(|_| ()),
                "{value:?}"
            );
        }
    }

    /// A head with more header lines than `HeaderList` holds inline decodes to
    /// the same request, its other headers in order.
    #[test]
    fn many_headers_spill_in_order() {
        for extra in [0, 1, 9, 10, 11, 12, 13, 40] {
            let mut text = String::from(
                "MSRP abcd SEND\r\nTo-Path: msrp://a/1;tcp\r\nFrom-Path: msrp://b/2;tcp\r\n",
            );
            for i in 0..extra {
                text.push_str(&format!("X-H{i}: v{i}\r\n"));
            }
            text.push_str("Content-Type: text/plain\r\n\r\nhi\r\n-------abcd$\r\n");
            let req = request(text.as_bytes());
            let expected: Vec<(String, String)> = (0..extra)
                .map(|i| (format!("X-H{i}"), format!("v{i}")))
                .collect();
            assert_eq!(req.other, expected, "{extra} extra headers");
            assert_eq!(req.to_path, ["msrp://a/1;tcp"]);
            assert_eq!(req.content_type.as_deref(), Some("text/plain"));
            assert_eq!(req.body, b"hi");
        }
    }

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\n\
        To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        Message-ID: 87652491\r\n\
        Byte-Range: 1-25/25\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Hey Bob, are you there?\r\n\
        -------a786hjs2$\r\n";

    const OK: &[u8] = b"MSRP a786hjs2 200 OK\r\n\
        To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        -------a786hjs2$\r\n";

    fn all(dec: &mut MsrpDecoder, limits: &Limits) -> Vec<Result<MsrpMessage, MsrpError>> {
        std::iter::from_fn(|| dec.next_message(limits)).collect()
    }

    fn request(bytes: &[u8]) -> MsrpRequest {
        match decode(bytes, &Limits::default()) {
            Some(Ok(MsrpMessage::Request(r))) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn rfc_example_send_and_response() {
        let r = request(SEND);
        assert_eq!(r.transaction_id.as_str(), "a786hjs2");
        assert_eq!(r.method, MsrpMethod::Send);
        assert_eq!(r.message_id.as_deref(), Some("87652491"));
        assert_eq!(
            r.byte_range,
            Some(ByteRange {
                start: 1,
                end: Some(25),
                total: Some(25)
            })
        );
        assert_eq!(r.body, b"Hey Bob, are you there?");
        assert_eq!(r.continuation, Continuation::Complete);
        assert_eq!(encode(&MsrpMessage::Request(r)), SEND);

        let Some(Ok(MsrpMessage::Response(resp))) = decode(OK, &Limits::default()) else {
            panic!("not a response");
        };
        assert_eq!((resp.status, resp.comment.as_deref()), (200, Some("OK")));
        assert_eq!(encode(&MsrpMessage::Response(resp)), OK);
    }

    #[test]
    fn byte_by_byte_and_back_to_back() {
        let stream = [SEND, OK, SEND].concat();
        let limits = Limits::default();
        let mut whole = MsrpDecoder::default();
        whole.push(&stream);
        let expected = all(&mut whole, &limits);
        assert_eq!(expected.len(), 3);
        let mut dec = MsrpDecoder::default();
        let mut out = Vec::new();
        for b in &stream {
            dec.push(&[*b]);
            out.extend(all(&mut dec, &limits));
        }
        assert_eq!(out, expected);
    }

    /// Reads handed over with `push_owned`, cut at every pair of points (so some
    /// end at a message boundary and become the buffer, others mid-message and are
    /// appended), decode to what one push of the whole stream gives.
    #[test]
    fn owned_reads_decode_as_pushed_bytes() {
        let stream = [SEND, OK, SEND].concat();
        let limits = Limits::default();
        let mut whole = MsrpDecoder::default();
        whole.push(&stream);
        let expected = all(&mut whole, &limits);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let mut dec = MsrpDecoder::default();
                let mut out = Vec::new();
                for part in [&stream[..i], &stream[i..j], &stream[j..]] {
                    dec.push_owned(part.to_vec());
                    out.extend(all(&mut dec, &limits));
                }
                assert_eq!(out, expected, "cut at {i} and {j}");
            }
        }
    }

    /// A push that needs room drops the decoded bytes in front (the buffer holds
    /// what is not decoded yet and nothing else), in the head and in the body of
    /// the message being read.
    #[test]
    fn a_growing_buffer_keeps_only_what_is_not_decoded() {
        let limits = Limits::default();
        for cut in [5, SEND.len() - 5] {
            let mut dec = MsrpDecoder::default();
            dec.push_owned([OK, &SEND[..cut]].concat());
            assert_eq!(all(&mut dec, &limits).len(), 1, "the response");
            dec.push_owned(SEND[cut..].to_vec());
            assert_eq!(dec.buf.len(), SEND.len(), "cut at {cut}");
            assert_eq!(
                all(&mut dec, &limits),
                [Ok(MsrpMessage::Request(request(SEND)))]
            );
            assert!(dec.buf.is_empty(), "decoded to its end: emptied");
        }
    }

    #[test]
    fn body_may_contain_near_end_lines() {
        let msg = b"MSRP abcd SEND\r\nTo-Path: msrp://a/1;tcp\r\nFrom-Path: msrp://b/2;tcp\r\n\
            Content-Type: text/plain\r\n\r\nx\r\n-------abcd!\r\n-------abcdX$\r\n\
            -------abcd$ no\r\n-------abcd+\r\n";
        let r = request(msg);
        assert_eq!(
            r.body,
            b"x\r\n-------abcd!\r\n-------abcdX$\r\n-------abcd$ no"
        );
        assert_eq!(r.continuation, Continuation::More);
    }

    /// Heads that are not UTF-8 fail at their first bad line as before the head
    /// was checked whole; a UTF-8 head with non-ASCII text decodes, its values cut
    /// at the right places.
    #[test]
    fn heads_checked_as_text_once() {
        let paths = b"To-Path: msrp://a/1;tcp\r\nFrom-Path: msrp://b/2;tcp\r\n";
        let head = |start: &[u8], extra: &[u8]| {
            [start, b"\r\n", paths, extra, b"-------abcd$\r\n"].concat()
        };
        let bad_start = head(b"MSRP abcd SEN\xff", b"");
        assert_eq!(
            decode(&bad_start, &Limits::default()),
            Some(Err(MsrpError::BadStartLine))
        );
        let bad_header = head(b"MSRP abcd SEND", b"X-Note: \xff\r\n");
        assert_eq!(
            decode(&bad_header, &Limits::default()),
            Some(Err(MsrpError::BadHeader))
        );
        let text = head(
            b"MSRP abcd SEND",
            "X-Note: caf\u{e9} \u{2713}\r\nY: z\r\n".as_bytes(),
        );
        let Some(Ok(MsrpMessage::Request(req))) = decode(&text, &Limits::default()) else {
            panic!("a UTF-8 head decodes");
        };
        assert_eq!(req.to_path, ["msrp://a/1;tcp"]);
        assert_eq!(
            req.other,
            [
                ("X-Note".to_owned(), "caf\u{e9} \u{2713}".to_owned()),
                ("Y".to_owned(), "z".to_owned())
            ]
        );
    }

    #[test]
    fn header_errors() {
        let base = "MSRP abcd SEND\r\nTo-Path: msrp://a/1;tcp\r\nFrom-Path: msrp://b/2;tcp\r\n";
        let cases: &[(&str, MsrpError)] = &[
            (
                "MSRP abcd SEND\r\nFrom-Path: msrp://b/2;tcp\r\n-------abcd$\r\n",
                MsrpError::MissingToPath,
            ),
            (
                "MSRP abcd 200\r\nTo-Path: msrp://b/2;tcp\r\n-------abcd$\r\n",
                MsrpError::MissingFromPath,
            ),
            ("MSRP abc SEND\r\n-------abc$\r\n", MsrpError::BadStartLine),
            (
                "MSRP abcd send\r\n-------abcd$\r\n",
                MsrpError::BadStartLine,
            ),
            (
                &format!("{base}Byte-Range: 0-1/1\r\n-------abcd$\r\n"),
                MsrpError::BadHeaderValue("Byte-Range".into()),
            ),
            (
                &format!("{base}Byte-Range: 1-3/2\r\n-------abcd$\r\n"),
                MsrpError::BadHeaderValue("Byte-Range".into()),
            ),
            (
                &format!("{base}to-path: msrp://c/3;tcp\r\n-------abcd$\r\n"),
                MsrpError::DuplicateHeader("to-path".into()),
            ),
            (
                &format!("{base}\r\nbody\r\n-------abcd$\r\n"),
                MsrpError::MissingContentType,
            ),
            (&format!("{base}-------abce$\r\n"), MsrpError::BadEndLine),
            (
                &format!("{base}: x\r\n-------abcd$\r\n"),
                MsrpError::BadHeader,
            ),
            (
                &format!("{base}X: a\rb\r\n-------abcd$\r\n"),
                MsrpError::BadLineEnding,
            ),
            (
                "MSRP abcd 200 OK\r\nTo-Path: msrp://a/1\r\nFrom-Path: msrp://b/2\r\n\r\n",
                MsrpError::ResponseWithBody,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                decode(text.as_bytes(), &Limits::default()),
                Some(Err(expected.clone())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn limits_and_fatal_errors() {
        let limits = Limits {
            max_msrp_header_bytes: 64,
            max_msrp_chunk_bytes: 10,
            ..Limits::default()
        };
        let mut dec = MsrpDecoder::default();
        dec.push(&[b'a'; 65]);
        assert_eq!(
            all(&mut dec, &limits),
            [Err(MsrpError::HeadersTooLarge { limit: 64 })]
        );
        assert!(dec.is_failed());
        assert_eq!(MsrpError::HeadersTooLarge { limit: 64 }.status(), 400);
        assert_eq!(MsrpError::ChunkTooLarge { limit: 64 }.status(), 413);
        dec.push(OK);
        assert!(all(&mut dec, &limits).is_empty());

        let head = b"MSRP abcd SEND\r\nTo-Path: msrp://a/1\r\nFrom-Path: msrp://b/2\r\n\
            Content-Type: a/b\r\n\r\n";
        let limits = Limits {
            max_msrp_chunk_bytes: 10,
            ..Limits::default()
        };
        let mut dec = MsrpDecoder::default();
        dec.push(head);
        dec.push(b"0123456789\r\n-------abcd$\r\n");
        assert!(matches!(
            all(&mut dec, &limits).as_slice(),
            [Ok(MsrpMessage::Request(_))]
        ));
        let mut dec = MsrpDecoder::default();
        dec.push(head);
        dec.push(b"0123456789A\r\n-------abcd$\r\n");
        assert_eq!(
            all(&mut dec, &limits),
            [Err(MsrpError::ChunkTooLarge { limit: 10 })]
        );
        let mut dec = MsrpDecoder::default();
        dec.push(head);
        dec.push(&[b'x'; 100]);
        assert_eq!(
            all(&mut dec, &limits),
            [Err(MsrpError::ChunkTooLarge { limit: 10 })]
        );
    }

    /// A response handed out as its line (`next_frame`) is checked as one
    /// decoded in full: the same id and status, or the same error, for the usual
    /// 200, a path of several URIs, and each way a response's paths can be wrong.
    #[test]
    fn response_lines_are_checked_as_full_responses() {
        let tid32 = "0123456789abcdef0123456789abcdef";
        let to = "To-Path: msrp://a.example:1/x;tcp\r\n";
        let from = "From-Path: msrp://b.example:2/y;tcp\r\n";
        let cases: Vec<String> = vec![
            String::from_utf8(OK.to_vec()).unwrap(),
            format!("MSRP {tid32} 200 OK\r\n{to}{from}-------{tid32}$\r\n"),
            format!("MSRP abcd 481\r\n{to}{from}X-Y: z\r\n-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\nTo-Path:\tmsrp://r/1;tcp  MSRPS://c/2;tcp \r\n{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}{to}{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}{from}{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\nTo-Path: \r\n{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\nTo-Path: msrp://\r\n{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\nTo-Path: msrp://a/1 sip:b\r\n{from}-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}From-Path: http://b/2\r\n-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}{from}\r\nbody\r\n-------abcd$\r\n"),
            format!("MSRP abcd 200 OK\r\n{to}{from}-------abce$\r\n"),
        ];
        let limits = Limits::default();
        let mut lines = 0;
        for case in &cases {
            let mut full = MsrpDecoder::default();
            full.push(case.as_bytes());
            let mut lazy = MsrpDecoder::default();
            lazy.push(case.as_bytes());
            let expected = full.next_message(&limits).map(|r| r.map(MsrpFrame::from));
            let got = lazy.next_frame(&limits);
            assert_eq!(got, expected, "{case}");
            if let Some(Ok(MsrpFrame::Response(line))) = got {
                assert!(case.starts_with(&format!(
                    "MSRP {} {}",
                    line.transaction_id(),
                    line.status()
                )));
                lines += 1;
            }
        }
        // The first four are valid; the rest each fail in their own way.
        assert_eq!(lines, 4);
    }

    #[test]
    fn content_type_without_body_round_trips() {
        let msg = b"MSRP abcd SEND\r\nTo-Path: msrp://a/1\r\nFrom-Path: msrp://b/2\r\n\
            Content-Type: text/plain\r\n-------abcd$\r\n";
        let r = request(msg);
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        let m = MsrpMessage::Request(r);
        assert_eq!(decode(&encode(&m), &Limits::default()), Some(Ok(m)));
    }

    /// The direct printers print what `encode` prints for the same message.
    #[test]
    fn direct_printers_match_encode() {
        let tid = TransactionId::new("t1x");
        let to = vec![
            "msrp://a.example.com:1/s1;tcp".to_owned(),
            "msrp://b:2/s2;tcp".to_owned(),
        ];
        for (data, flag, range) in [
            (
                &b"hello"[..],
                Continuation::Complete,
                ByteRange {
                    start: 1,
                    end: Some(5),
                    total: Some(5),
                },
            ),
            (
                &b"he"[..],
                Continuation::More,
                ByteRange {
                    start: 1,
                    end: Some(2),
                    total: Some(12),
                },
            ),
            (
                &b""[..],
                Continuation::Complete,
                ByteRange {
                    start: 1,
                    end: Some(0),
                    total: Some(0),
                },
            ),
        ] {
            let mut req = MsrpRequest::new(
                tid.clone(),
                MsrpMethod::Send,
                to.clone(),
                vec!["msrp://me:3/s3;tcp".to_owned()],
            );
            req.message_id = Some("m1".into());
            req.byte_range = Some(range);
            if !data.is_empty() {
                req.content_type = Some("message/cpim".into());
            }
            req.body = data.to_vec();
            req.continuation = flag;
            let mut direct = Vec::new();
            SendChunk {
                tid: tid.as_str(),
                to_path: &to,
                from: "msrp://me:3/s3;tcp",
                message_id: "m1",
                range,
                content_type: "message/cpim",
                data,
                flag,
            }
            .encode_into(&mut direct);
            assert_eq!(direct, encode(&MsrpMessage::Request(req)));
        }
        for (status, comment) in [
            (200, "OK"),
            (481, "Session does not exist"),
            (7, "x"),
            (1234, "y"),
        ] {
            let resp = MsrpResponse {
                transaction_id: tid.clone(),
                status,
                comment: Some(comment.into()),
                to_path: vec!["msrp://a:1/s;tcp".into()],
                from_path: vec!["msrp://b:2/t;tcp".into()],
                other: Vec::new(),
            };
            assert_eq!(
                encode_response(
                    &tid,
                    status,
                    comment,
                    "msrp://a:1/s;tcp",
                    "msrp://b:2/t;tcp"
                ),
                encode(&MsrpMessage::Response(resp))
            );
        }
    }
}
