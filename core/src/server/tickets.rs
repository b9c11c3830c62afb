//! What each store ticket waits for: a `Persist` or `SealSession` is answered by
//! `Server::handle_store_result` with its ticket, and [`TicketUse`] says what the
//! answer unblocks (a chat message, a group's info, a seal, a pager MESSAGE).
//!
//! What it is *not*: what happens then (the handlers: `chat`, `extension`,
//! `termination`, `pager`).

use super::keys::TxKey;
use super::output::Flow;
use crate::ids::{ConversationId, SessionId};
use crate::sip::Request;
use crate::uri::Uri;

/// What a store ticket was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TicketUse {
    /// A chat message (session, sequence number).
    Message(SessionId, u64),
    /// A group's session info (EXT-4).
    GroupInfo(SessionId),
    /// A session history object.
    Seal(SessionId),
    /// A pager MESSAGE's standalone message or disposition, relayed once durable
    /// (PAGER-1).
    Pager(Box<PendingPager>),
    /// An IMDN's disposition record: nothing waits for it.
    Disposition,
    /// A deferred pager MESSAGE and its history, answered 202 once durable (DEF-2).
    Deferred(Box<PendingDeferred>),
    /// A deferred queue's bookkeeping (an entry removed, a user known): nothing
    /// waits for it.
    Bookkeeping,
}

/// A deferred message whose record the store has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PendingDeferred {
    /// Who is told once it is durable (or not).
    pub(crate) answer: DeferredAnswer,
    /// The recipient and the queue entry's id.
    pub(crate) recipient: crate::uri::UserUri,
    pub(crate) id: String,
}

/// Whom the store's answer to a deferral goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum DeferredAnswer {
    /// A pager MESSAGE: its server transaction (202, or the failure).
    Sip(TxKey),
    /// A message of a store-and-forward session: its MSRP response
    /// (specs/deferred.md, "Sessions to an offline user").
    Msrp(Box<super::chat_log::MsrpReply>),
    /// A notification of the server's own to an offline sender (DEF-13): nobody
    /// waits for it.
    Nobody,
}

/// A pager MESSAGE whose record the store has not confirmed yet: what to relay, and
/// where, once it has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PendingPager {
    /// The sender's server transaction.
    pub(crate) server_tx: TxKey,
    /// The recipient's bindings, chosen when the MESSAGE arrived (newest first): the
    /// flow and Contact of each device (PAGER-6).
    pub(crate) devices: Vec<(Flow, Uri)>,
    /// The Conversation-ID as stored (the server's own when the MESSAGE had none).
    pub(crate) conversation_id: ConversationId,
    /// The sender's MESSAGE.
    pub(crate) request: Request,
}

/// A pager MESSAGE relayed to several devices (PAGER-6): how many have not given a
/// final answer, and the best failure so far. Gone once the sender is answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PagerFork {
    pub(crate) outstanding: usize,
    pub(crate) best_failure: Option<crate::sip::StatusCode>,
}
