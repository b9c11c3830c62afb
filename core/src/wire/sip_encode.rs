//! SIP encoding (STUB).
use super::ReplyContext;
use crate::sip::{SipMessage, StatusCode};

/// Prints a message.
pub fn encode_message(_msg: &SipMessage) -> Vec<u8> {
    Vec::new()
}

/// Prints a response to a request that failed to decode.
pub fn encode_error_reply(_ctx: &ReplyContext, _status: StatusCode, _detail: &str) -> Vec<u8> {
    Vec::new()
}
