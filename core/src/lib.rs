//! # cpmd-core
//!
//! The deterministic, sans-IO protocol core of cpmd, an OMA CPM (RCS chat) server.
//! It decides everything a user relies on: relaying 1-to-1 chat sessions between
//! terminals (a SIP B2BUA), extending a 1-to-1 session into a group session hosted by
//! the server's conference focus, the termination handshake of the replaced session,
//! and the construction of session history objects. See `specs/` for the flows and
//! their numbered invariants.
//!
//! What it is **not**: it does no I/O, reads no clock, draws no random numbers and
//! has no `async`. Time ([`Time`], [`WallClock`]) and entropy are inputs; sockets,
//! storage and timers belong to the runtime (crate `cpmd`), which drives the
//! [`Server`] through `handle_*` inputs and drains its `poll_*` outputs. The same
//! `Server` is the server actor of the stateright model (crate `cpmd-model`).
//!
//! # Layers
//!
//! Arrows run one way, and no two modules reference each other, directly or in a
//! circle; `core/tests/layers.rs` checks it over every path reference in the
//! sources (use lines and code; comments and `#[cfg(test)]` modules excluded):
//!
//! ```text
//! crate root (re-exports only; nothing inside the crate names it), and `testing`
//!          (public test-support builders: may use wire and server; nothing names it)
//!   |
//! server    the state machine
//!   mod (Server struct, routing) -> state: session, leg, chat_log, msrp_media,
//!          tickets, nonces, registrar, transaction, outbox, timer, keys, id_gen,
//!          config, output, refusal, validate
//!   handlers (impl Server): auth, chat, connections, extension, fork, group,
//!          is_composing, msrp_leg, msrp_relay, one_to_one, pager, registration_caps,
//!          response_origin, sender_identity, termination -> mod and state
//!          (pager -> one_to_one, connections; one_to_one -> connections)
//!   state, bottom up: keys; refusal; config <- token <- id_gen; validate -> refusal,
//!          config; output <- outbox <- timer (keys); transaction -> outbox, timer,
//!          keys, config, output; registrar -> outbox, timer; leg -> id_gen, keys;
//!          session -> chat_log, keys; tickets -> keys
//!   |
//! wire      bytes <-> values: sip_decode (error <- head <- headers <- mod),
//!          sip_encode, framing, uri, sdp, msrp, msrp_uri, cpim_codec, imdn,
//!          multipart, resource_lists, digest, limits
//!   |
//! values    sip, msrp (reassembly), cpim, sdp, uri, ids, time, body, record, shared,
//!          decimal (numbers and IP addresses printed by hand)
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod body;
pub mod conference;
pub mod cpim;
pub(crate) mod decimal;
pub mod ids;
pub mod msrp;
pub mod record;
pub mod sdp;
pub mod shared;
pub mod sip;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod uri;
pub mod wire;

pub use ids::{
    Branch, CallId, ConnId, ContributionId, ConversationId, DialogId, MessageId, SessionId,
    StoreTicket, Tag, TransactionId,
};
pub use time::{Time, WallClock};
pub use uri::UserUri;
pub mod server;

pub use server::{Command, Config, Event, Flow, Server, Timer, Transport};

#[cfg(test)]
mod tests;
