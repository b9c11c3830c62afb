//! URI parsing and printing (STUB).
use crate::uri::Uri;

/// URI errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Did not parse.
    #[error("bad uri: {0}")]
    Bad(String),
}

/// Parses a URI.
pub fn parse_uri(text: &str) -> Result<Uri, UriError> {
    Ok(Uri::Other(text.to_owned()))
}

/// Prints a URI.
pub fn print_uri(uri: &Uri) -> String {
    match uri {
        Uri::Other(s) => s.clone(),
        Uri::Sip(_) | Uri::Tel(_) => String::new(),
    }
}

/// Parses an RFC 3891 `Replaces` value: `call-id;to-tag=..;from-tag=..[;early-only]`.
pub fn parse_replaces(text: &str) -> Result<crate::sip::Replaces, UriError> {
    Err(UriError::Bad(text.to_owned()))
}
