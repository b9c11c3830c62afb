//! The values of the chat layer: a [`ChatSend`] (a chat message a terminal sent), the
//! [`ChatLog`] of one session (messages waiting for the store, delivered ones,
//! repeats seen: MSG-5, MSG-6), and where each message came from ([`Origin`],
//! [`MsrpReply`]), which says how it is answered.
//!
//! What it is *not*: what the server does with them (`chat`: numbering, `Persist`,
//! delivery; `msrp_relay`: MSRP in and out).

use std::collections::{BTreeMap, VecDeque};

use super::keys::LegKey;
use super::output::{ChatFailure, ChatOutcome};
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
    pub(crate) pending: PendingQueue,
    /// Sequence numbers delivered, in delivery order (the sealed message set, HIST-3).
    pub(crate) delivered: Vec<u64>,
    /// Every (sender, message id) taken on, with its sequence number (MSG-6), by
    /// sender and then by id: a lookup compares the sender once per level of a map
    /// with one entry per sender (a few), then ids. Keyed by the pair, every step
    /// of a lookup in a map growing with the session compared the same sender URI
    /// before the ids, and each lookup cloned both into a key.
    pub(crate) seen: BTreeMap<UserUri, BTreeMap<SeenId, u64>>,
}

/// A message id as [`ChatLog::seen`] keys it: a digest of its bytes ahead of the
/// id itself, so that a step of a lookup is one integer comparison (the ids only
/// compared when two digests are equal). Keyed by the id alone, each step called
/// a string comparison (~1,000 instructions per MSRP message: two lookups of ~14
/// steps in a session of 125 messages, more as it grows). The digest is a function
/// of the id, so two keys are equal exactly when their ids are.
pub(crate) type SeenId = (u64, MessageId);

/// FNV-1a (64 bits) of a message id: the leading part of its [`SeenId`]. Not a
/// defence against chosen collisions, and it needs none: colliding ids only fall
/// back to comparing the ids.
fn id_digest(id: &MessageId) -> u64 {
    id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    pub(crate) stored: Option<Result<(), ChatFailure>>,
    /// The original and each repeat received while it waited: each gets the same
    /// answer.
    pub(crate) origins: Vec<Origin>,
}

/// The messages waiting for the store, by sequence number, oldest first: what
/// a `BTreeMap<u64, Pending>` held, in a queue, as they are numbered in order and
/// answered from the oldest (MSG-2). A `Pending` is some 230 bytes, and a B-tree
/// moved its node's later values along at every removal from the front (~700
/// instructions per MSRP message). Any order of inserts is still kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct PendingQueue(VecDeque<(u64, Pending)>);

impl PendingQueue {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, seq: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&seq, |(s, _)| *s)
    }

    /// Files `pending` as `seq` (replacing one filed as `seq` before, as a map
    /// would); the usual new number is the highest and goes to the back.
    pub(crate) fn insert(&mut self, seq: u64, pending: Pending) {
        if self.0.back().is_none_or(|(last, _)| *last < seq) {
            return self.0.push_back((seq, pending));
        }
        match self.position(seq) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = pending;
                }
            }
            Err(i) => self.0.insert(i, (seq, pending)),
        }
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut Pending> {
        let i = self.position(seq).ok()?;
        self.0.get_mut(i).map(|(_, p)| p)
    }

    pub(crate) fn remove(&mut self, seq: u64) -> Option<Pending> {
        let i = self.position(seq).ok()?;
        self.0.remove(i).map(|(_, p)| p)
    }

    /// The oldest message and the store's answer for it, taken off the queue
    /// once that answer is in; `None` while it waits (or nothing waits).
    pub(crate) fn pop_answered(&mut self) -> Option<(Pending, Result<(), ChatFailure>)> {
        let answer = self.0.front()?.1.stored?;
        self.0.pop_front().map(|(_, p)| (p, answer))
    }
}

impl ChatLog {
    /// Whether `sender` sent a message with id `id` in this session (SEC-3: it may
    /// not report a disposition on it).
    pub(crate) fn sent(&self, sender: &UserUri, id: &MessageId) -> bool {
        self.seen_seq(sender, id).is_some()
    }

    /// The sequence number `sender`'s message `id` was taken on with (MSG-6).
    pub(crate) fn seen_seq(&self, sender: &UserUri, id: &MessageId) -> Option<u64> {
        let ids = self.seen.get(sender)?;
        let digest = id_digest(id);
        // From the smallest key with this digest (the empty id is held inline: no
        // allocation for the bound) through the keys that share it.
        ids.range((digest, MessageId::new(""))..)
            .take_while(|((d, _), _)| *d == digest)
            .find(|((_, seen), _)| seen == id)
            .map(|(_, seq)| *seq)
    }

    /// Notes that `sender`'s message `id` was taken on as `seq`.
    pub(crate) fn note_seen(&mut self, sender: &UserUri, id: &MessageId, seq: u64) {
        let key = (id_digest(id), id.clone());
        match self.seen.get_mut(sender) {
            Some(ids) => {
                ids.insert(key, seq);
            }
            None => {
                self.seen
                    .insert(sender.clone(), BTreeMap::from([(key, seq)]));
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
        match self.pending.get_mut(seq) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seq: u64, stored: Option<Result<(), ChatFailure>>) -> Pending {
        use crate::ids::{ContributionId, ConversationId, SessionId};
        use crate::record::SessionKey;
        Pending {
            message: StoredMessage {
                key: SessionKey {
                    session: SessionId::new(1),
                    conversation_id: ConversationId::new("c"),
                    contribution_id: ContributionId::new("k"),
                },
                seq,
                sender: UserUri::new_canonical("sip:alice@example.com"),
                recipients: Vec::new(),
                message_id: MessageId::new(format!("m{seq}")),
                content_type: "text/plain".into(),
                body: seq.to_string().into_bytes(),
            },
            contribution_id: ContributionId::new("k"),
            stored,
            origins: Vec::new(),
        }
    }

    /// The pending queue answers what the map it replaced answered, for inserts in
    /// and out of order, a number filed again, removals anywhere, and the oldest
    /// taken off only once its answer is in.
    #[test]
    fn pending_queue_behaves_as_the_map() {
        let mut queue = PendingQueue::default();
        let mut map: BTreeMap<u64, Pending> = BTreeMap::new();
        let ops: [(u64, Option<Result<(), ChatFailure>>); 8] = [
            (3, None),
            (5, Some(Ok(()))),
            (1, Some(Ok(()))),
            (4, Some(Err(ChatFailure::StoreFailed))),
            (9, None),
            (5, None),
            (2, Some(Ok(()))),
            (7, Some(Ok(()))),
        ];
        for (seq, stored) in ops {
            queue.insert(seq, pending(seq, stored));
            map.insert(seq, pending(seq, stored));
            assert_eq!(queue.len(), map.len());
            let in_order: Vec<&Pending> = queue.0.iter().map(|(_, p)| p).collect();
            assert_eq!(in_order, map.values().collect::<Vec<_>>());
        }
        assert_eq!(queue.remove(4), map.remove(&4));
        assert_eq!(queue.remove(4), None);
        if let (Some(q), Some(m)) = (queue.get_mut(3), map.get_mut(&3)) {
            q.stored = Some(Ok(()));
            m.stored = Some(Ok(()));
        }
        assert!(queue.get_mut(8).is_none());
        // 1, 2, 3 are answered; 5 (filed again) is not: the head waits there.
        let mut taken = Vec::new();
        while let Some((p, answer)) = queue.pop_answered() {
            let entry = map.first_entry().unwrap();
            assert_eq!(Some(answer), entry.get().stored);
            assert_eq!(p, entry.remove());
            taken.push(p.message.seq);
        }
        assert_eq!(taken, [1, 2, 3]);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [5, 7, 9]);
        assert!(!queue.is_empty());
    }

    /// The repeat map answers what a map keyed by (sender, id) answers: every
    /// noted id its latest sequence number, every other id nothing, for ids that
    /// share prefixes, differ in case or length, and are empty.
    #[test]
    fn seen_ids_are_found_as_in_a_plain_map() {
        let senders = [
            UserUri::new_canonical("sip:alice@example.com"),
            UserUri::new_canonical("sip:bob@example.com"),
        ];
        let ids: Vec<MessageId> = [
            "",
            "a",
            "A",
            "ab",
            "msg001x00000001",
            "msg001x00000002",
            "msg001x0000000",
            "0123456789abcdef0123456789abcdef-long-id",
        ]
        .into_iter()
        .map(MessageId::new)
        .collect();
        let mut log = ChatLog::default();
        let mut plain = BTreeMap::new();
        let mut seq = 0;
        for (i, id) in ids.iter().enumerate() {
            for (j, sender) in senders.iter().enumerate() {
                if (i + j) % 3 == 0 {
                    continue;
                }
                seq += 1;
                log.note_seen(sender, id, seq);
                plain.insert((sender.clone(), id.clone()), seq);
            }
        }
        // A repeat noted again keeps the latest number.
        seq += 1;
        log.note_seen(&senders[0], &ids[1], seq);
        plain.insert((senders[0].clone(), ids[1].clone()), seq);
        for sender in &senders {
            for id in ids.iter().chain([&MessageId::new("unknown")]) {
                let expected = plain.get(&(sender.clone(), id.clone())).copied();
                assert_eq!(log.seen_seq(sender, id), expected, "{sender} {id}");
                assert_eq!(log.sent(sender, id), expected.is_some());
            }
        }
        assert_eq!(log.seen_count(), plain.len());
    }
}
