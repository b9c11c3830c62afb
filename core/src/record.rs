//! The records the store receives: what a `Persist` or `SealSession` command makes
//! durable (chat messages, session info, standalone messages, dispositions, session
//! history objects). Plain values, filed as specs/history.md describes.
//!
//! What it is *not*: the commands that carry them (`server::Command`) or the store
//! itself (the runtime's).

use crate::ids::{ContributionId, ConversationId, MessageId, SessionId};
use crate::uri::UserUri;

/// The session a stored record belongs to, as the store files it
/// (`<user>/Default/<Conversation-ID>/<Contribution-ID>/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// The core's session number.
    pub session: SessionId,
    /// Conversation-ID (folder).
    pub conversation_id: ConversationId,
    /// Contribution-ID (sub-folder).
    pub contribution_id: ContributionId,
}

/// Kind of a stored session (the `session-type` of the session info object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionType {
    /// A 1-to-1 chat session.
    OneToOne,
    /// An ad-hoc group session (created by extending a 1-to-1 or by a list INVITE).
    AdHoc,
}

/// The session info object: what the claim calls the headers and IDs "extracted and
/// locally stored" for a session (see specs/history.md, HIST-4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionInfo {
    /// Conversation and contribution.
    pub key: SessionKey,
    /// Session type.
    pub session_type: SessionType,
    /// `From`: the authenticated initiator.
    pub from: UserUri,
    /// `To`: the invited user, or the conference-factory URI for a group.
    pub to: String,
    /// `Date` (RFC 5322): the INVITE's Date header, or the server's receive time.
    pub date: String,
    /// `Subject`, if the INVITE had one.
    pub subject: Option<String>,
    /// `InReplyTo-Contribution-ID`, if any.
    pub in_reply_to: Option<ContributionId>,
    /// The SDP body as received (empty when the INVITE had none).
    pub sdp: String,
    /// The SDP media attributes (`name:value` lines of every `m=` section).
    pub media_attributes: Vec<String>,
    /// Invited participants (the callee, or the resource-list entries).
    pub invited: Vec<UserUri>,
}

/// One chat message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredMessage {
    /// The session it was sent in.
    pub key: SessionKey,
    /// Server sequence number within the session: the only order that counts (MSG-5).
    pub seq: u64,
    /// The authenticated sender (never a terminal-supplied identity).
    pub sender: UserUri,
    /// Every recipient at the time it was accepted.
    pub recipients: Vec<UserUri>,
    /// The sender's message id (IMDN Message-ID / MSRP Message-ID).
    pub message_id: MessageId,
    /// Content type of the body (usually `message/cpim`).
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// A participant of a group session as its group state records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantRecord {
    /// The participant.
    pub user: UserUri,
    /// Its last state (`invited`, `joined`, `declined`, `no-answer`, `left`).
    pub state: String,
}

/// The session history object: the session info plus the final message set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryObject {
    /// The session info object.
    pub info: SessionInfo,
    /// Sequence numbers of the messages delivered in the session, in delivery order
    /// (HIST-3); the last one is the seal watermark.
    pub messages: Vec<u64>,
    /// Group sessions: the last participant set (the group state object).
    pub participants: Vec<ParticipantRecord>,
    /// Group sessions: the focus URI, the group state object's `lastfocussessionid`
    /// (GRP-8); `None` for 1-to-1 sessions and for groups sealed after a crash.
    pub focus: Option<String>,
}

/// One version of a live group's state object (CPM Message Storage; specs/group.md,
/// GRP-20): written on every change of a participant's status (and of the subject),
/// each version a new object in the group's session folder. The store answers it,
/// but nothing waits for the answer: the seal's object stays the final one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupStateRecord {
    /// The group's session info (its key, the creator as `from`: the chairman).
    pub info: SessionInfo,
    /// The subject now (the creating INVITE's until it is changed).
    pub subject: Option<String>,
    /// The focus URI (`lastfocussessionid`, GRP-8).
    pub focus: String,
    /// Every participant with its status now, in URI order.
    pub participants: Vec<ParticipantRecord>,
}

/// A pager-mode message (RFC 3428 MESSAGE): a standalone message object of its
/// conversation, stored before the sender gets its 200.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StandaloneMessage {
    /// The conversation it belongs to (folder `Default/<Conversation-ID>/`).
    pub conversation_id: ConversationId,
    /// Contribution-ID, when the MESSAGE carried one.
    pub contribution_id: Option<ContributionId>,
    /// The authenticated sender.
    pub sender: UserUri,
    /// The recipients.
    pub recipients: Vec<UserUri>,
    /// The IMDN Message-ID (or, without CPIM, the SIP Call-ID).
    pub message_id: MessageId,
    /// Content type of the body (usually `message/cpim`).
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What an IMDN (RFC 5438) reported about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Disposition {
    /// `<delivered/>`.
    Delivered,
    /// `<displayed/>`.
    Displayed,
    /// A negative notification (`<failed/>`, `<forbidden/>`, `<error/>`).
    Failed,
}

/// A delivery/display notification applied to a stored message: the per-recipient
/// delivered/displayed state of specs/store.md.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DispositionRecord {
    /// The conversation of the original message.
    pub conversation_id: ConversationId,
    /// The session of the original message (`None`: a standalone message).
    pub contribution_id: Option<ContributionId>,
    /// The IMDN Message-ID of the original message.
    pub message_id: MessageId,
    /// The recipient that delivered/displayed it (the IMDN's authenticated sender).
    pub recipient: UserUri,
    /// What happened.
    pub disposition: Disposition,
}

/// A record the store must make durable before the core goes on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Record {
    /// A chat message (MSG-1: acknowledged only once this is durable).
    Message(StoredMessage),
    /// The info of a newly created session (EXT-4: the group's, before A's 200).
    SessionInfo(SessionInfo),
    /// A pager-mode message (durable before its 200).
    Standalone(StandaloneMessage),
    /// An IMDN applied to a stored message.
    Disposition(DispositionRecord),
    /// A pager MESSAGE kept for a recipient with no registered device, with its
    /// history record, in one write (DEF-2: durable before the `202 Accepted`).
    Deferred(DeferredRecord),
    /// A deferred message left the queue (delivered or expired): its queue entry
    /// is removed (its history record stays).
    DeferredDone(DeferredDone),
    /// A user registered for the first time: deferral to them is possible from now
    /// on, also after a restart (DEF-1).
    KnownUser(UserUri),
    /// A new version of a live group's state object (GRP-20).
    GroupState(GroupStateRecord),
}

impl Record {
    /// The chat message, if this record is one.
    pub fn message(&self) -> Option<&StoredMessage> {
        match self {
            Record::Message(m) => Some(m),
            Record::SessionInfo(_)
            | Record::Standalone(_)
            | Record::Disposition(_)
            | Record::Deferred(_)
            | Record::DeferredDone(_)
            | Record::KnownUser(_)
            | Record::GroupState(_) => None,
        }
    }

    /// The session info, if this record is one.
    pub fn session_info(&self) -> Option<&SessionInfo> {
        match self {
            Record::SessionInfo(i) => Some(i),
            Record::Message(_)
            | Record::Standalone(_)
            | Record::Disposition(_)
            | Record::Deferred(_)
            | Record::DeferredDone(_)
            | Record::KnownUser(_)
            | Record::GroupState(_) => None,
        }
    }

    /// The disposition, if this record is one.
    pub fn disposition(&self) -> Option<&DispositionRecord> {
        match self {
            Record::Disposition(d) => Some(d),
            Record::Message(_)
            | Record::SessionInfo(_)
            | Record::Standalone(_)
            | Record::Deferred(_)
            | Record::DeferredDone(_)
            | Record::KnownUser(_)
            | Record::GroupState(_) => None,
        }
    }
}

/// A pager MESSAGE waiting in a recipient's deferred queue (specs/deferred.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeferredMessage {
    /// The server's id of the queue entry (unique across restarts).
    pub id: String,
    /// The user it waits for.
    pub recipient: UserUri,
    /// The authenticated sender.
    pub sender: UserUri,
    /// Position in the recipient's queue: deliveries follow it (DEF-4).
    pub seq: u64,
    /// When it expires, in seconds since the Unix epoch (wall clock: it outlives
    /// the process).
    pub expires_at_unix_s: u64,
    /// The sender's MESSAGE as received, encoded (the delivery is rebuilt from it).
    pub request: Vec<u8>,
}

/// A deferred message and the history record it is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeferredRecord {
    /// The queue entry.
    pub message: DeferredMessage,
    /// The standalone message (or disposition) stored for it, as for any pager
    /// MESSAGE (DEF-8: filed once, when accepted); `None` for a notification of the
    /// server's own (DEF-13), which files nothing.
    pub history: Option<Box<Record>>,
}

/// Why a deferred message left its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeferredEnd {
    /// A device of the recipient answered 2xx.
    Delivered,
    /// Its expiry passed first.
    Expired,
}

/// The removal of a deferred message from its queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeferredDone {
    /// [`DeferredMessage::id`].
    pub id: String,
    /// Why.
    pub end: DeferredEnd,
}
