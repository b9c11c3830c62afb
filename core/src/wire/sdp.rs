//! SDP (STUB).
use crate::sdp::Sdp;

/// SDP errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Did not parse.
    #[error("{0}")]
    Parse(String),
}

/// Parses SDP.
pub fn decode(_body: &[u8]) -> Result<Sdp, SdpError> {
    Err(SdpError::Parse("stub".into()))
}
