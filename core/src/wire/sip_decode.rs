//! SIP decoding (STUB).
use super::Limits;
use crate::sip::{SipMessage, StatusCode};

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Did not parse.
    #[error("malformed: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

/// The raw header values of a request that failed to decode, enough to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyContext {
    /// Raw Via values.
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
    /// Present when the message was a request we can answer.
    pub reply: Option<ReplyContext>,
}

/// Decodes one complete message.
pub fn decode_message(_bytes: &[u8], _limits: &Limits) -> Result<SipMessage, BadMessage> {
    Err(BadMessage {
        error: DecodeError::Malformed("stub".into()),
        reply: None,
    })
}

/// Decodes one datagram (RFC 3261 §18.3 datagram rule).
pub fn decode_datagram(bytes: &[u8], limits: &Limits) -> Result<SipMessage, BadMessage> {
    decode_message(bytes, limits)
}
