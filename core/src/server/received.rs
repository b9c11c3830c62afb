//! [`Received`]: a request the server received, shared by its server transaction
//! and the handler that acts on it.
//!
//! A server transaction keeps the request it answers (the handler or a later step
//! builds the answer from it, `Server::reply_to_tx`), and the INVITE's handler keeps
//! it too (a 1-to-1 session's `Calling` state answers A from it). Both hold this one
//! shared message: before, the transaction kept a copy of every request it was
//! handed (`Request::clone`, a ~1 KiB allocation and a dozen more for its parts,
//! ~10,000 instructions per 1-to-1 session in `bench/core_ir.sh`).
//!
//! What it is *not*: a way to change a received request. It reads as `&Request`
//! (`Deref`); a handler that needs its own changed copy takes one with
//! [`Received::into_request`] (a copy while the transaction still holds it).

use std::ops::Deref;

use crate::shared::Shared;
use crate::sip::{Request, SipMessage};

/// A received request, shared. Always a [`SipMessage::Request`] inside (the only
/// constructor is [`Received::new`]); held as a `SipMessage` because that is what a
/// transaction keeps and transmits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Received(Shared<SipMessage>);

impl Received {
    /// Shares a received request.
    pub(crate) fn new(request: Request) -> Self {
        Self(Shared::new(SipMessage::Request(request)))
    }

    /// The shared message, for the transaction to keep.
    pub(crate) fn message(&self) -> &Shared<SipMessage> {
        &self.0
    }

    /// The request as a value of its own: moved out when nothing else holds it,
    /// copied otherwise.
    pub(crate) fn into_request(self) -> Request {
        match Shared::unwrap_or_clone(self.0) {
            SipMessage::Request(request) => request,
            SipMessage::Response(_) => unreachable!("a Received holds a request"),
        }
    }
}

impl Deref for Received {
    type Target = Request;

    fn deref(&self) -> &Request {
        match &*self.0 {
            SipMessage::Request(request) => request,
            SipMessage::Response(_) => unreachable!("a Received holds a request"),
        }
    }
}
