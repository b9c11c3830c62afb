//! The values of the chat layer: a [`ChatSend`] (a chat message a terminal sent), the
//! [`ChatLog`] of one session (messages waiting for the store, delivered ones,
//! repeats seen: MSG-5, MSG-6), and where each message came from ([`Origin`],
//! [`MsrpReply`]), which says how it is answered.
//!
//! What it is *not*: what the server does with them (`chat`: numbering, `Persist`,
//! delivery; `msrp_relay`: MSRP in and out).

use std::collections::BTreeMap;

use super::keys::LegKey;
use super::output::ChatOutcome;
use crate::ids::{ConnId, ContributionId, MessageId, SessionId, TransactionId};
use crate::msrp::FailureReport;
use crate::record::StoredMessage;
use crate::uri::UserUri;

/// A chat message a terminal sent on a session (typed input).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatSend {
    /// The session, by its Contribution-ID.
    pub contribution_id: ContributionId,
    /// The authenticated sender (the user of the leg it arrived on).
    pub sender: UserUri,
    /// The sender's message id.
    pub message_id: MessageId,
    /// Content type (usually `message/cpim`).
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

/// The messages of one session: those waiting for the store, and the delivered ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct ChatLog {
    pub(crate) next_seq: u64,
    pub(crate) pending: BTreeMap<u64, Pending>,
    /// Sequence numbers delivered, in delivery order (the sealed message set, HIST-3).
    pub(crate) delivered: Vec<u64>,
    /// Every (sender, message id) taken on, with its sequence number (MSG-6), by
    /// sender and then by id: a lookup compares the sender once per level of a map
    /// with one entry per sender (a few), then ids. Keyed by the pair, every step
    /// of a lookup in a map growing with the session compared the same sender URI
    /// before the ids, and each lookup cloned both into a key.
    pub(crate) seen: BTreeMap<UserUri, BTreeMap<MessageId, u64>>,
}

/// Where a chat message came from, which says how it is delivered and answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Origin {
    /// A typed input (`handle_chat`): `ChatDeliver` / `ChatResult` commands.
    Typed,
    /// An MSRP SEND: MSRP SENDs to the recipients, an MSRP response/REPORT back.
    Msrp(MsrpReply),
}

/// (`msrp_held`) A stored 1-to-1 message queued on its recipient's unbound MSRP leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HeldMessage {
    pub(crate) sid: SessionId,
    pub(crate) seq: u64,
    pub(crate) contribution_id: ContributionId,
    pub(crate) sender: UserUri,
    pub(crate) message_id: MessageId,
    /// The original and each repeat received while it waited (MSG-6).
    pub(crate) origins: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pending {
    pub(crate) message: StoredMessage,
    pub(crate) contribution_id: ContributionId,
    /// The store's answer once in: stored, or why not (MSG-3, LIM-14).
    pub(crate) stored: Option<Result<(), super::output::ChatFailure>>,
    /// The original and each repeat received while it waited: each gets the same
    /// answer.
    pub(crate) origins: Vec<Origin>,
}

impl ChatLog {
    /// Whether `sender` sent a message with id `id` in this session (SEC-3: it may
    /// not report a disposition on it).
    pub(crate) fn sent(&self, sender: &UserUri, id: &MessageId) -> bool {
        self.seen_seq(sender, id).is_some()
    }

    /// The sequence number `sender`'s message `id` was taken on with (MSG-6).
    pub(crate) fn seen_seq(&self, sender: &UserUri, id: &MessageId) -> Option<u64> {
        self.seen.get(sender)?.get(id).copied()
    }

    /// Notes that `sender`'s message `id` was taken on as `seq`.
    pub(crate) fn note_seen(&mut self, sender: &UserUri, id: &MessageId, seq: u64) {
        match self.seen.get_mut(sender) {
            Some(ids) => {
                ids.insert(id.clone(), seq);
            }
            None => {
                self.seen
                    .insert(sender.clone(), BTreeMap::from([(id.clone(), seq)]));
            }
        }
    }

    /// How many messages were taken on (LIM-14's count per session).
    pub(crate) fn seen_count(&self) -> usize {
        self.seen.values().map(BTreeMap::len).sum()
    }

    /// The answer to a repeat of a message already delivered (MSG-6); `None` when the
    /// message is new, still waiting, or failed before (a failed one may be retried).
    pub(crate) fn repeat(&self, chat: &ChatSend) -> Option<ChatOutcome> {
        let seq = self.seen_seq(&chat.sender, &chat.message_id)?;
        self.delivered
            .contains(&seq)
            .then_some(ChatOutcome::Accepted)
    }

    /// Counts a repeat of a message still waiting for the store; it gets its answer
    /// when the original does.
    pub(crate) fn pending_repeat(&mut self, chat: &ChatSend, origin: &Origin) -> bool {
        let Some(seq) = self.seen_seq(&chat.sender, &chat.message_id) else {
            return false;
        };
        match self.pending.get_mut(&seq) {
            Some(p) => {
                p.origins.push(origin.clone());
                true
            }
            None => false,
        }
    }

    /// Whether a `Persist` of this session is still unanswered (TERM-5, seal gating).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// How to answer the sender of a message that came over MSRP, kept until the
/// chat layer has an outcome for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MsrpReply {
    /// The connection the (last chunk of the) message arrived on.
    pub(crate) conn: ConnId,
    /// The sender's leg.
    pub(crate) leg: LegKey,
    /// The last chunk's transaction.
    pub(crate) tid: TransactionId,
    /// The request's `From-Path` (a REPORT goes to all of it, a response to its
    /// first URI).
    pub(crate) from_path: Vec<String>,
    /// The server's URI as the sender addressed it.
    pub(crate) own: String,
    pub(crate) message_id: Option<String>,
    pub(crate) failure_report: FailureReport,
    pub(crate) success_report: bool,
    /// Size of the whole message (the REPORT's `Byte-Range`).
    pub(crate) total: u64,
    /// An IMDN in a group goes only to the original sender (CPIM `To`).
    pub(crate) only_to: Option<UserUri>,
}
