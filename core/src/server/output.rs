//! The core's outputs: [`Command`]s the runtime must carry out and [`Event`]s it may
//! log, and the [`Flow`] a message comes from or goes to. Public and exhaustive: the
//! runtime matches every variant.
//!
//! What it is *not*: the records a `Persist` carries (those are values the store
//! receives, [`crate::record`]).

use std::net::SocketAddr;

use crate::ids::{ConnId, ContributionId, MessageId, SessionId, StoreTicket};
use crate::record::{HistoryObject, Record, StoredMessage};
use crate::sip::SipMessage;
use crate::uri::UserUri;

/// A transport the server speaks SIP over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Unreliable datagrams: the transaction layer retransmits.
    Udp,
    /// A reliable stream: no retransmissions, framing by Content-Length.
    Tcp,
    /// A TCP stream under TLS (RFC 3261 §26): to the core exactly like `Tcp` (the
    /// runtime decrypts), but advertised as `TLS` in Via and `transport=tls` in
    /// Contact, and reopened with TLS when the connection is gone.
    Tls,
}

impl Transport {
    /// Whether the transport itself delivers reliably (RFC 3261 §17: no
    /// retransmission timers then).
    pub fn is_reliable(self) -> bool {
        match self {
            Transport::Udp => false,
            Transport::Tcp | Transport::Tls => true,
        }
    }

    /// The Via token.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport` parameter of the server's Contact (`None` for UDP, the
    /// default).
    pub fn uri_param(self) -> Option<&'static str> {
        match self {
            Transport::Udp => None,
            Transport::Tcp => Some("tcp"),
            Transport::Tls => Some("tls"),
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
    /// The session has `max_pending_per_session` messages waiting for the store
    /// (LIM-13).
    SessionBusy,
    /// The session took on `max_messages_per_session` messages already (LIM-13).
    SessionFull,
    /// The sender has used up its stored-bytes quota (LIM-14).
    OverQuota,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Send a SIP message over `flow`.
    Transmit {
        /// Where.
        flow: Flow,
        /// What. Shared: a client transaction keeps the request it sends (to
        /// retransmit and CANCEL it), a server transaction its provisional answer
        /// and the dialog its 2xx (to repeat them), and each is the very message
        /// transmitted, not a copy of it (a copy was ~3,000 instructions and a dozen
        /// allocations with their frees per request, `bench/core_ir.sh`, session
        /// 12). The runtime and the model read it through `Deref`.
        message: crate::shared::Shared<SipMessage>,
    },
    /// Send raw bytes over `flow` (answers to requests that did not decode).
    TransmitRaw {
        /// Where.
        flow: Flow,
        /// The encoded response.
        bytes: Vec<u8>,
    },
    /// Open an outbound TCP connection numbered `conn` to `peer` (with TLS on top
    /// when `transport` is `Tls`); transmits to it may follow at once and are queued
    /// by the runtime until it is up.
    Connect {
        /// The connection number the core chose.
        conn: ConnId,
        /// The address to connect to.
        peer: std::net::SocketAddr,
        /// `Tcp` or `Tls`: the transport of the flow being reopened.
        transport: Transport,
        /// For `Tls`: the DNS name the peer's certificate must carry, when the
        /// terminal's Contact names its host so (RFC 5922 §7.2); `None`: its IP
        /// address (an IP literal Contact).
        server_name: Option<String>,
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
        /// With TLS (the leg is `TCP/TLS/MSRP`, RFC 4975 §14): the runtime verifies
        /// the peer's certificate per its configuration.
        tls: bool,
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
    /// Deliver a stored chat message to a recipient: the answer to a typed
    /// [`crate::server::ChatSend`] (a message that came over MSRP goes out as MSRP
    /// SENDs instead, specs/msrp.md).
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

/// What a [`Event::SessionEnded`] tells about the session: its IDs, kind and how it
/// ended, so the runtime logs one line per session an operator can search by
/// Contribution-ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionEnd {
    /// The session's number and its Conversation-ID and Contribution-ID.
    pub key: crate::record::SessionKey,
    /// 1-to-1 or group.
    pub kind: crate::record::SessionType,
    /// How it ended.
    pub outcome: SessionOutcome,
    /// For a 1-to-1 extended to a group: the group that replaced it.
    pub replaced_by: Option<SessionId>,
    /// Chat messages delivered in the session (those its history object holds).
    pub messages: usize,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionOutcome {
    /// It never became a session: every fork of the INVITE failed, or the store
    /// refused a group's session info, or its creator gave up.
    Failed,
    /// The caller cancelled the INVITE.
    Cancelled,
    /// It ended and its history object was sealed durably.
    Sealed,
    /// It ended but the store failed to seal its history object.
    SealFailed,
}

impl SessionOutcome {
    /// The word logs use (`failed`, `cancelled`, `sealed`, `seal failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionOutcome::Failed => "failed",
            SessionOutcome::Cancelled => "cancelled",
            SessionOutcome::Sealed => "sealed",
            SessionOutcome::SealFailed => "seal failed",
        }
    }
}

/// Something that happened, for logs, metrics and tests. Nothing must be done.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// A message was dropped without an answer: it could not be decoded (and no
    /// response was possible), it was a response a UAC must discard (CONF-8), or a
    /// response from a flow other than its request's (SEC-2).
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
    /// A session ended and holds no more state (one per session, whatever its end).
    SessionEnded(SessionEnd),
    /// MSRP input refused without an answer, or an MSRP message the server could not
    /// send (the connection is closed, or a leg's queue is full).
    MsrpRefused {
        /// The MSRP connection, if one is concerned.
        conn: Option<ConnId>,
        /// Why.
        reason: String,
    },
    /// A pager MESSAGE was deferred durably (DEF-2): the runtime's push hook may
    /// wake the recipient's device.
    MessageDeferred {
        /// Who it waits for.
        recipient: UserUri,
        /// Its authenticated sender.
        sender: UserUri,
        /// Its Conversation-ID.
        conversation_id: Option<crate::ids::ConversationId>,
        /// Its Content-Type.
        content_type: String,
        /// Its body (the push hook sends it only when configured to).
        body: Vec<u8>,
        /// Whether it came in a store-and-forward session (DEF-12), not as a pager
        /// MESSAGE.
        in_session: bool,
    },
    /// A restored deferred message whose stored request no longer decodes: dropped.
    DeferredDropped {
        /// Its queue id.
        id: String,
    },
    /// SCALE-4 (specs/scale-out.md, with `share_locations` on): the bindings this
    /// node holds for `aor` changed (a REGISTER or an expiry); all of them now, for
    /// the location rows the other nodes read. Empty: none left.
    BindingsChanged {
        /// The address-of-record.
        aor: UserUri,
        /// Its bindings on this node.
        bindings: Vec<SharedBinding>,
    },
    /// SEC-6: a Contact or remote target names a host other than the terminal's
    /// signalling address and not in `[trust] connect_allow`: the server connected
    /// to the flow's peer instead.
    ConnectRefused {
        /// The address the terminal named.
        target: std::net::SocketAddr,
        /// The terminal's address.
        terminal: std::net::IpAddr,
    },
}

/// One of this node's bindings, as the location rows hold it (SCALE-4,
/// specs/scale-out.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedBinding {
    /// The printed contact URI: the binding's key.
    pub contact_key: String,
    /// The Contact as registered (without `expires`).
    pub contact: String,
    /// The flow the REGISTER came over: where requests to the binding go.
    pub flow: Flow,
    /// Milliseconds the binding has left.
    pub expires_in_ms: u64,
}

/// Another node's binding (or a change of it), read from the location rows: an
/// input (`Server::handle_remote_binding`, SCALE-5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteBinding {
    /// The address-of-record.
    pub aor: UserUri,
    /// The printed contact URI (the request's target).
    pub contact_key: String,
    /// How this node reaches it: UDP from one of its own sockets to the address the
    /// binding was registered from.
    pub flow: Flow,
    /// Milliseconds it has left; 0: gone.
    pub left_ms: u64,
}
