//! The core's outputs: [`Command`]s the runtime must carry out and [`Event`]s it may
//! log. Public and exhaustive: the runtime matches every variant.

use std::net::SocketAddr;

use crate::ids::{ConnId, ContributionId, ConversationId, MessageId, SessionId, StoreTicket};
use crate::sip::SipMessage;
use crate::uri::UserUri;

/// A transport the server speaks SIP over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Unreliable datagrams: the transaction layer retransmits.
    Udp,
    /// A reliable stream: no retransmissions, framing by Content-Length.
    Tcp,
}

impl Transport {
    /// Whether the transport itself delivers reliably (RFC 3261 §17: no
    /// retransmission timers then).
    pub fn is_reliable(self) -> bool {
        match self {
            Transport::Udp => false,
            Transport::Tcp => true,
        }
    }

    /// The Via token.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Where bytes came from or go to: a transport, the runtime's connection (for UDP:
/// the socket) and the peer's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    /// Transport.
    pub transport: Transport,
    /// The connection (TCP) or socket (UDP) the runtime numbered.
    pub conn: ConnId,
    /// The peer's address and port.
    pub peer: SocketAddr,
}

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
/// delivered/displayed state of protocol.md §5.
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
}

/// Why a chat message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChatFailure {
    /// No session with that Contribution-ID.
    NoSession,
    /// The sender is not a party of the session, or its own leg is closed.
    NotAParty,
    /// The recipient's leg is closed (MSG-4).
    RecipientGone,
    /// The store failed to make the message durable (MSG-3).
    StoreFailed,
}

/// The answer to the sender of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChatOutcome {
    /// Stored and delivered: the message is *acknowledged* (specs/README.md).
    Accepted,
    /// Refused: the sender gets an explicit failure, never silence.
    Failed(ChatFailure),
}

/// A side effect the runtime carries out, in order.
// Commands are moved once from the queue to the runtime; boxing the SIP message
// would add an allocation per message for no benefit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Send a SIP message over `flow`.
    Transmit {
        /// Where.
        flow: Flow,
        /// What.
        message: SipMessage,
    },
    /// Send raw bytes over `flow` (answers to requests that did not decode).
    TransmitRaw {
        /// Where.
        flow: Flow,
        /// The encoded response.
        bytes: Vec<u8>,
    },
    /// Open an outbound TCP connection numbered `conn` to `peer`; transmits to it may
    /// follow at once and are queued by the runtime until it is up.
    Connect {
        /// The connection number the core chose.
        conn: ConnId,
        /// The address to connect to.
        peer: std::net::SocketAddr,
    },
    /// Open an outbound TCP connection numbered `conn` to `peer` for MSRP (the server
    /// is the active party, RFC 4145/6135). Bytes read from it go to
    /// `Server::handle_msrp_bytes`; a failed connect or its end to
    /// `Server::handle_closed`. `MsrpSend`s to it may follow at once and are queued by
    /// the runtime until it is up.
    MsrpConnect {
        /// The connection number the core chose.
        conn: ConnId,
        /// The first hop of the terminal's `a=path` (the terminal or an RFC 4976 relay).
        peer: std::net::SocketAddr,
    },
    /// Write encoded MSRP (requests and responses) on an MSRP connection, accepted on
    /// an MSRP listener or opened by `MsrpConnect`.
    MsrpSend {
        /// The connection.
        conn: ConnId,
        /// The bytes, whole messages only.
        bytes: Vec<u8>,
    },
    /// Close a connection, SIP or MSRP (after a framing error: the stream cannot be
    /// resynchronised; or an MSRP connection no session uses any more).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Make a record durable, then call `handle_store_result(ticket, ..)`.
    Persist {
        /// Ticket to quote in the answer.
        ticket: StoreTicket,
        /// The record.
        record: Record,
    },
    /// Build the session history object (seal the session), then call
    /// `handle_store_result(ticket, ..)`.
    SealSession {
        /// Ticket to quote in the answer.
        ticket: StoreTicket,
        /// The history object.
        history: HistoryObject,
    },
    /// Deliver a stored chat message to a recipient (MSRP SEND later).
    ChatDeliver {
        /// The recipient.
        recipient: UserUri,
        /// The message.
        message: StoredMessage,
    },
    /// Answer the sender of a chat message.
    ChatResult {
        /// The session's Contribution-ID as the sender named it.
        contribution_id: ContributionId,
        /// The sender.
        sender: UserUri,
        /// The sender's message id.
        message_id: MessageId,
        /// Accepted or failed.
        outcome: ChatOutcome,
    },
}

/// Something that happened, for logs, metrics and tests. Nothing must be done.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// A message was dropped without an answer: it could not be decoded (and no
    /// response was possible), or it was a response a UAC must discard (CONF-8).
    Dropped {
        /// Where it came from.
        flow: Flow,
        /// Why.
        reason: String,
    },
    /// A 1-to-1 session was established (both legs confirmed).
    SessionEstablished(SessionId),
    /// A group session was created.
    GroupCreated {
        /// The group.
        group: SessionId,
        /// The 1-to-1 it replaces, if any.
        replaces: Option<SessionId>,
    },
    /// A session's history object was sealed durably.
    SessionSealed(SessionId),
    /// The store failed to seal a session; the BYE sender got a 500.
    SealFailed(SessionId),
    /// A session ended and holds no more state.
    SessionEnded(SessionId),
    /// MSRP input refused without an answer, or an MSRP message the server could not
    /// send (the connection is closed, or a leg's queue is full).
    MsrpRefused {
        /// The MSRP connection, if one is concerned.
        conn: Option<ConnId>,
        /// Why.
        reason: String,
    },
}
