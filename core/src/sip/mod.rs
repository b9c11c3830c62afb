//! Typed SIP messages: the values the state machine acts on.
//!
//! Only the headers the server acts on are typed; every other header is kept, in
//! order, in [`Headers::other`] so that relayed requests lose nothing. These types
//! are produced by `wire` and printed by `wire`; the state machine never sees bytes.
//! What is *not* here: parsing, printing, framing (see `wire`).

mod headers;
mod message;
mod method;
mod status;

pub use headers::{CSeq, Headers, MediaType, NameAddr, Replaces, Via};
pub use message::{Request, Response, SipMessage};
pub use method::{allow_without, Method, ALLOW};
pub use status::StatusCode;
