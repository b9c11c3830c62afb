//! Requests, responses and the [`SipMessage`] sum.

use crate::sip::{Headers, Method, StatusCode};
use crate::uri::Uri;

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    /// Method of the request line (always equal to `headers.cseq.method` once the
    /// wire layer accepted it, except for ACK/CANCEL built by the server).
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Headers.
    pub headers: Headers,
    /// Body bytes; its type is `headers.content_type`.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Reason phrase.
    pub reason: String,
    /// Headers.
    pub headers: Headers,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response to `request` with no body (RFC 3261 §8.2.6.2: copies Via, From, To,
    /// Call-ID and CSeq). The caller adds a To tag where the response needs one.
    pub fn to_request(request: &Request, status: StatusCode) -> Self {
        let h = &request.headers;
        let mut headers = Headers::new(
            h.from.clone(),
            h.to.clone(),
            h.call_id.clone(),
            h.cseq.clone(),
        );
        headers.via = h.via.clone();
        Self {
            status,
            reason: status.reason().to_owned(),
            headers,
            body: Vec::new(),
        }
    }
}

/// Either kind of SIP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl SipMessage {
    /// The header block.
    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }
}
