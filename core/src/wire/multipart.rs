//! multipart/mixed (STUB).
use super::Limits;
use crate::body::BodyPart;
use crate::sip::MediaType;

/// Multipart errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// No boundary parameter.
    #[error("missing boundary")]
    MissingBoundary,
}

/// Splits a multipart body.
pub fn decode(
    _ct: &MediaType,
    _body: &[u8],
    _limits: &Limits,
) -> Result<Vec<BodyPart>, MultipartError> {
    Err(MultipartError::MissingBoundary)
}

/// Prints a multipart body with `boundary`.
pub fn encode(boundary: &str, parts: &[BodyPart]) -> Vec<u8> {
    let _ = (boundary, parts);
    Vec::new()
}
