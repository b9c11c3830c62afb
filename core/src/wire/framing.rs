//! Stream framing (STUB: replaced by the wire helper).
use super::Limits;

/// Why a stream can no longer be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Header block too large.
    #[error("header block exceeds limit")]
    HeadersTooLarge,
}

/// One decode buffer per connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StreamDecoder {
    buf: Vec<u8>,
}

impl StreamDecoder {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message's bytes, if one is buffered.
    pub fn next_frame(&mut self, _limits: &Limits) -> Option<Result<Vec<u8>, FrameError>> {
        None
    }
}
