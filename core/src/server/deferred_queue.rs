//! The deferred queues as state ([`DeferredQueues`]): per recipient the waiting
//! messages in order, the users deferral is open to, the message in flight, and
//! the store-and-forward sessions up now ([`StandIn`]).
//! Plain data with small lookups; what happens to it is `deferred.rs`
//! (specs/deferred.md).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::keys::LegKey;
use crate::ids::{ConnId, ContributionId, ConversationId};
use crate::msrp::MsrpRequest;
use crate::record::DeferredMessage;
use crate::sip::Request;
use crate::time::Time;
use crate::uri::UserUri;

/// Every recipient's waiting messages, who may get any, and what is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct DeferredQueues {
    /// Waiting messages per recipient, oldest first (DEF-4).
    pub(crate) queues: BTreeMap<UserUri, VecDeque<Waiting>>,
    /// Users who ever registered (fed by the runtime at start, then learnt here).
    pub(crate) known: BTreeSet<UserUri>,
    /// Per recipient, the message being delivered and how many of its forks have
    /// not answered yet.
    pub(crate) flights: BTreeMap<UserUri, Flight>,
    /// The next queue position (global, so it also orders restored entries).
    pub(crate) next_seq: u64,
    /// Bookkeeping tickets issued (`deferred.rs`).
    pub(crate) bookkeeping_tickets: u64,
    /// Store-and-forward sessions, by the caller's leg (`deferred_session.rs`).
    pub(crate) stand_ins: BTreeMap<LegKey, StandIn>,
}

/// One waiting message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Waiting {
    pub(crate) message: DeferredMessage,
    /// The sender's MESSAGE (decoded once), with the Conversation-ID as stored.
    pub(crate) request: Request,
    pub(crate) deadline: Time,
    /// Whether the store confirmed it: only durable entries are delivered, and the
    /// store answers in order, so they are always a prefix of the queue.
    pub(crate) durable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Flight {
    pub(crate) id: String,
    /// The devices (printed Contact URIs) it went to.
    pub(crate) sent_to: BTreeSet<String>,
    /// Forks not answered yet.
    pub(crate) outstanding: usize,
}

/// The server standing in for an offline recipient on one caller's session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StandIn {
    /// The caller (authenticated) and the offline recipient.
    pub(crate) caller: UserUri,
    pub(crate) callee: UserUri,
    /// The session's IDs, as the INVITE carried them (or minted).
    pub(crate) conversation_id: ConversationId,
    pub(crate) contribution_id: ContributionId,
    pub(crate) in_reply_to: Option<ContributionId>,
}

/// A complete MSRP message on a stand-in leg, as `msrp_relay.rs` hands it to `deferred_session.rs`
/// after its path, chunk and type checks.
pub(crate) struct StandInSend {
    pub(crate) conn: ConnId,
    pub(crate) leg: LegKey,
    /// The server's URI as the sender addressed it.
    pub(crate) own: String,
    /// The (last chunk's) SEND.
    pub(crate) req: MsrpRequest,
    pub(crate) content_type: String,
    /// The reassembled body.
    pub(crate) body: Vec<u8>,
}

impl DeferredQueues {
    pub(crate) fn waiting(&self, user: &UserUri) -> impl Iterator<Item = &Waiting> {
        self.queues.get(user).into_iter().flatten()
    }

    pub(crate) fn find(&self, user: &UserUri, id: &str) -> Option<&Waiting> {
        self.waiting(user).find(|w| w.message.id == id)
    }

    pub(crate) fn remove(&mut self, user: &UserUri, id: &str) -> Option<Waiting> {
        let queue = self.queues.get_mut(user)?;
        let at = queue.iter().position(|w| w.message.id == id)?;
        let gone = queue.remove(at);
        if queue.is_empty() {
            self.queues.remove(user);
        }
        gone
    }

    /// Ids of the messages waiting for `user`, oldest first.
    pub(crate) fn ids_for(&self, user: &UserUri) -> Vec<String> {
        self.waiting(user).map(|w| w.message.id.clone()).collect()
    }
}
