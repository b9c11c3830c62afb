//! Why a SIP message was refused ([`DecodeError`], with the status that answers it),
//! and what is kept of a refused request to answer it ([`ReplyContext`]).
//!
//! What it is *not*: the decoder (`sip_decode`) or the encoder of the answer
//! (`wire::encode_error_reply`).

use crate::sip::StatusCode;

/// Why a message was refused. [`DecodeError::status`] says how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// Only CR/LF bytes (an RFC 5626 keep-alive or a stray line end): not a message,
    /// nothing to answer, not worth counting as an error.
    #[error("keep-alive, not a message")]
    KeepAlive,
    /// The header block is not terminated by an empty line.
    #[error("header block not terminated by an empty line")]
    MissingEmptyLine,
    /// The start line or header block is not UTF-8.
    #[error("header block is not utf-8")]
    NotUtf8,
    /// The start line is neither a request line nor a status line we accept.
    #[error("bad start line: {0}")]
    BadStartLine(String),
    /// A request line with a SIP version other than 2.0 (answered 505).
    #[error("unsupported version {0}")]
    UnsupportedVersion(String),
    /// An unknown method whose CSeq names another method: not implemented (501, as
    /// RFC 4475 §3.1.2.18 prefers over 400).
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// A header line that is not `name: value` (or an illegal continuation line).
    #[error("bad header line: {0}")]
    BadHeaderLine(String),
    /// The start line plus header block is larger than [`crate::wire::Limits::max_header_bytes`].
    #[error("header block of at least {size} bytes exceeds {limit}")]
    HeadersTooLarge {
        /// Bytes seen (at least this many).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More header lines than [`crate::wire::Limits::max_header_count`].
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The body (or the declared Content-Length) is larger than
    /// [`crate::wire::Limits::max_body_bytes`].
    #[error("body of {size} bytes exceeds {limit}")]
    BodyTooLarge {
        /// Declared or actual body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A mandatory header (Via, From, To, Call-ID, CSeq) is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A single-valued header appears more than once.
    #[error("repeated {0} header")]
    DuplicateHeader(&'static str),
    /// A header whose value does not parse.
    #[error("bad {name} header: {reason}")]
    BadHeader {
        /// The header's long name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The CSeq method differs from the request-line method.
    #[error("cseq method {cseq} differs from request method {method}")]
    CSeqMismatch {
        /// Request-line method.
        method: String,
        /// CSeq method.
        cseq: String,
    },
    /// Content-Length is not a decimal number.
    #[error("bad content-length")]
    BadContentLength,
    /// Fewer body bytes than Content-Length announces.
    #[error("content-length {declared} but only {available} body bytes")]
    TruncatedBody {
        /// Content-Length.
        declared: usize,
        /// Bytes after the empty line.
        available: usize,
    },
    /// More bytes than Content-Length announces in a single framed message.
    #[error("content-length {declared} but {available} body bytes")]
    TrailingBytes {
        /// Content-Length.
        declared: usize,
        /// Bytes after the empty line.
        available: usize,
    },
}

impl DecodeError {
    /// The status to answer a request with: 513 for oversized or over-long header
    /// blocks, 413 for oversized bodies, 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            DecodeError::HeadersTooLarge { .. } | DecodeError::TooManyHeaders { .. } => {
                StatusCode::MESSAGE_TOO_LARGE
            }
            DecodeError::BodyTooLarge { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            DecodeError::UnsupportedVersion(_) => StatusCode::VERSION_NOT_SUPPORTED,
            DecodeError::UnknownMethod(_) => StatusCode::NOT_IMPLEMENTED,
            DecodeError::KeepAlive
            | DecodeError::MissingEmptyLine
            | DecodeError::NotUtf8
            | DecodeError::BadStartLine(_)
            | DecodeError::BadHeaderLine(_)
            | DecodeError::MissingHeader(_)
            | DecodeError::DuplicateHeader(_)
            | DecodeError::BadHeader { .. }
            | DecodeError::CSeqMismatch { .. }
            | DecodeError::BadContentLength
            | DecodeError::TruncatedBody { .. }
            | DecodeError::TrailingBytes { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

/// The raw header values of a request that failed to decode, enough to answer it
/// (RFC 3261 §8.2.6.2). Values are trimmed and contain no control characters other
/// than HT, so they can be echoed safely.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyContext {
    /// Raw Via values, topmost first (comma-separated values split).
    pub via: Vec<String>,
    /// Raw From.
    pub from: Option<String>,
    /// Raw To.
    pub to: Option<String>,
    /// Raw Call-ID.
    pub call_id: Option<String>,
    /// Raw CSeq.
    pub cseq: Option<String>,
}

/// A refused message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage {
    /// Why.
    pub error: DecodeError,
    /// `Some` when the start line had the shape of a request line and at least one
    /// Via was readable (RFC 3261 §8.2.6.2: the answer copies From, To, Call-ID and
    /// CSeq when they are there, CONF-2): the server answers with `error.status()`.
    /// `None` for responses (dropped and counted), keep-alives and requests without
    /// a Via (no answer can be routed).
    pub reply: Option<ReplyContext>,
}
