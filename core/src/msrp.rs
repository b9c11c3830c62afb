//! MSRP (RFC 4975) values: the typed requests and responses that carry chat
//! messages over the media path of a session, and the reassembly of chunked
//! messages ([`reassembly`]).
//!
//! A [`MsrpMessage`] is one request (`SEND`, `REPORT`, `AUTH` or an extension
//! method), which may be one chunk of a larger message, or one transaction response.
//! The byte codec (stream decoder and printer) is [`crate::wire::msrp`].
//!
//! What it is *not*: no MSRP session logic (who answers what, report generation,
//! relay paths, connection binding), no URI parsing beyond keeping the `To-Path` and
//! `From-Path` URIs as the text they were sent as, and no CPIM/IMDN decoding of the
//! body, which is kept as raw bytes.

pub mod reassembly;

use crate::ids::TransactionId;

/// One MSRP request or response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MsrpMessage {
    /// A request (`SEND`, `REPORT`, ...).
    Request(MsrpRequest),
    /// A transaction response.
    Response(MsrpResponse),
}

impl MsrpMessage {
    /// The transaction the message belongs to.
    pub fn transaction_id(&self) -> &TransactionId {
        match self {
            MsrpMessage::Request(r) => &r.transaction_id,
            MsrpMessage::Response(r) => &r.transaction_id,
        }
    }
}

/// An MSRP method (RFC 4975 §7, RFC 4976 for `AUTH`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MsrpMethod {
    /// `SEND`: carries (a chunk of) a message.
    Send,
    /// `REPORT`: a success or failure report; never answered.
    Report,
    /// `AUTH` (RFC 4976 relays).
    Auth,
    /// Any other method: upper-case letters, as received.
    Other(String),
}

impl MsrpMethod {
    /// The method name as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            MsrpMethod::Send => "SEND",
            MsrpMethod::Report => "REPORT",
            MsrpMethod::Auth => "AUTH",
            MsrpMethod::Other(name) => name,
        }
    }
}

/// RFC 4975 `Byte-Range: start-end/total`, 1-based and inclusive; `*` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// Position of the chunk's first byte in the whole message (from 1).
    pub start: u64,
    /// Position of its last byte, or `None` for `*` (not known when sending began).
    pub end: Option<u64>,
    /// Size of the whole message, or `None` for `*`.
    pub total: Option<u64>,
}

/// RFC 4975 `Failure-Report`: which transaction responses and failure reports the
/// sender wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureReport {
    /// `yes` (also when the header is absent): every SEND gets a response.
    #[default]
    Yes,
    /// `no`: no response and no failure report at all.
    No,
    /// `partial`: only negative responses and reports.
    Partial,
}

/// The flag of the end-line: whether more chunks of the message follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Continuation {
    /// `$`: this is the last chunk.
    #[default]
    Complete,
    /// `+`: more chunks follow.
    More,
    /// `#`: the sender aborted the message.
    Aborted,
}

impl Continuation {
    /// The flag character.
    pub fn flag(self) -> u8 {
        match self {
            Continuation::Complete => b'$',
            Continuation::More => b'+',
            Continuation::Aborted => b'#',
        }
    }

    /// The continuation of a flag character, if it is one.
    pub fn from_flag(flag: u8) -> Option<Self> {
        match flag {
            b'$' => Some(Continuation::Complete),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Aborted),
            _ => None,
        }
    }
}

/// An MSRP request: one chunk of a message (or a whole one), a report, an `AUTH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsrpRequest {
    /// The transaction id of the start line and end-line.
    pub transaction_id: TransactionId,
    /// The method.
    pub method: MsrpMethod,
    /// `To-Path` URIs, in order (the first is the next hop); never empty.
    pub to_path: Vec<String>,
    /// `From-Path` URIs, in order; never empty.
    pub from_path: Vec<String>,
    /// `Message-ID`: the same for every chunk of one message.
    pub message_id: Option<String>,
    /// `Byte-Range` of this chunk (absent: the whole message is in this request).
    pub byte_range: Option<ByteRange>,
    /// `Success-Report`: `Some(true)` for `yes`, `Some(false)` for `no`.
    pub success_report: Option<bool>,
    /// `Failure-Report` (absent: `yes`).
    pub failure_report: FailureReport,
    /// `Content-Type` of the body, as sent (parameters included).
    pub content_type: Option<String>,
    /// `Status` of a `REPORT`: the status code and its optional comment (the
    /// namespace is always `000`).
    pub status: Option<(u16, Option<String>)>,
    /// Every other header (`Content-Disposition`, `Content-ID`, `WWW-Authenticate`,
    /// extensions...), name as received and trimmed value, in order.
    pub other: Vec<(String, String)>,
    /// The body bytes of this chunk.
    pub body: Vec<u8>,
    /// The end-line flag.
    pub continuation: Continuation,
}

impl MsrpRequest {
    /// A `SEND` with the given paths and no body or optional headers (the empty SEND
    /// that binds a connection); fill in the other fields as needed.
    pub fn new(
        transaction_id: TransactionId,
        method: MsrpMethod,
        to_path: Vec<String>,
        from_path: Vec<String>,
    ) -> Self {
        Self {
            transaction_id,
            method,
            to_path,
            from_path,
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: FailureReport::Yes,
            content_type: None,
            status: None,
            other: Vec::new(),
            body: Vec::new(),
            continuation: Continuation::Complete,
        }
    }
}

/// An MSRP transaction response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsrpResponse {
    /// The transaction id of the request answered.
    pub transaction_id: TransactionId,
    /// The status code (three digits).
    pub status: u16,
    /// The comment after the code (`OK`, `Session does not exist`...).
    pub comment: Option<String>,
    /// `To-Path` URIs (the request's first `From-Path` URI); never empty.
    pub to_path: Vec<String>,
    /// `From-Path` URIs (the responder's own URI); never empty.
    pub from_path: Vec<String>,
    /// Every other header, name as received and trimmed value, in order.
    pub other: Vec<(String, String)>,
}

/// One MSRP request, or a response as the [`MsrpResponseLine`] of its start line:
/// what [`crate::wire::msrp::MsrpDecoder::next_frame`] hands out to a reader that
/// only matches responses to its own requests (the server, MSRP-6).
// Handed out and taken apart at once: boxing the request would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MsrpFrame {
    /// A request, in full.
    Request(MsrpRequest),
    /// A transaction response: its transaction id and status.
    Response(MsrpResponseLine),
}

impl From<MsrpMessage> for MsrpFrame {
    fn from(msg: MsrpMessage) -> Self {
        match msg {
            MsrpMessage::Request(r) => MsrpFrame::Request(r),
            MsrpMessage::Response(r) => MsrpFrame::Response(MsrpResponseLine::of(&r)),
        }
    }
}

/// The transaction id and status of a response, the id held inline (an RFC 4975
/// `ident` is at most 32 bytes): the server decodes a 200 from the receiver for
/// every message it relays and reads only its id, so the decoder copies out
/// nothing else (the paths as `String`s, the comment and the id on the heap cost
/// the loop thread ~600 instructions per relayed message). The response was
/// checked as fully as an [`MsrpResponse`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsrpResponseLine {
    tid: [u8; 32],
    tid_len: u8,
    status: u16,
}

impl MsrpResponseLine {
    /// The line of a response to `tid` with `status`; `None` when `tid` is longer
    /// than an `ident` can be (32 bytes).
    pub fn new(tid: &str, status: u16) -> Option<Self> {
        let len = tid.len();
        let mut buf = [0u8; 32];
        buf.get_mut(..len)?.copy_from_slice(tid.as_bytes());
        Some(Self {
            tid: buf,
            tid_len: u8::try_from(len).ok()?,
            status,
        })
    }

    /// The line of a decoded response (its id is an `ident`, so it fits; a longer
    /// one, only possible in a response built by hand, is cut to 32 bytes).
    pub fn of(r: &MsrpResponse) -> Self {
        let tid = r.transaction_id.as_str();
        let mut end = tid.len().min(32);
        while !tid.is_char_boundary(end) {
            end -= 1;
        }
        Self::new(tid.get(..end).unwrap_or_default(), r.status).unwrap_or(Self {
            tid: [0; 32],
            tid_len: 0,
            status: r.status,
        })
    }

    /// The transaction id of the request answered.
    pub fn transaction_id(&self) -> &str {
        let id = self
            .tid
            .get(..usize::from(self.tid_len))
            .unwrap_or_default();
        std::str::from_utf8(id).unwrap_or_default()
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}
