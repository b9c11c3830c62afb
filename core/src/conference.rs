//! The conference state a group's focus reports to its subscribers (RFC 4575): one
//! document value per NOTIFY, full or partial, with the users of the group, their
//! endpoint status and the subject.
//!
//! What it is: plain values, built by the server (specs/group.md, GRP-10..GRP-13) and
//! printed by `wire::conference_info`. What it is not: the subscriptions themselves
//! (server::conference_events) nor a parser (cpmd only writes these documents).

/// One `application/conference-info+xml` document (RFC 4575 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConferenceInfo {
    /// The conference URI: the group's focus URI.
    pub entity: String,
    /// RFC 4575 §4.1: counts the notifications of one subscription, from 1.
    pub version: u32,
    /// `full` state or a `partial` update naming only the users that changed.
    pub state: DocState,
    /// The group's subject (`conference-description/subject`), full state only.
    pub subject: Option<String>,
    /// Users currently connected (`conference-state/user-count`), full state only.
    pub user_count: Option<u32>,
    /// The users listed.
    pub users: Vec<ConferenceUser>,
}

/// Whether a document (or a user element) is the whole state or an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocState {
    /// The whole state.
    Full,
    /// Only what changed since the previous notification.
    Partial,
}

impl DocState {
    /// The `state` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Full => "full",
            DocState::Partial => "partial",
        }
    }
}

/// One user of the group with its one endpoint (RFC 4575 §5.6, §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConferenceUser {
    /// The user's address (also its endpoint's entity).
    pub entity: String,
    /// Roles (`chairman` for the group's creator, RCC.07).
    pub roles: Vec<String>,
    /// The endpoint's status.
    pub status: EndpointStatus,
    /// How it joined (or is being brought in).
    pub joining: Option<JoiningMethod>,
    /// How it left, once disconnected.
    pub disconnection: Option<DisconnectionMethod>,
}

/// RFC 4575 §5.7.2 endpoint status (the values cpmd uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointStatus {
    /// Invited, not yet answered.
    Pending,
    /// In the group.
    Connected,
    /// Not (or no longer) in the group.
    Disconnected,
}

impl EndpointStatus {
    /// The element's text.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Pending => "pending",
            EndpointStatus::Connected => "connected",
            EndpointStatus::Disconnected => "disconnected",
        }
    }
}

/// RFC 4575 §5.7.3 joining method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoiningMethod {
    /// The user sent the INVITE (the creator).
    DialedIn,
    /// The focus invited the user.
    DialedOut,
}

impl JoiningMethod {
    /// The element's text.
    pub fn as_str(self) -> &'static str {
        match self {
            JoiningMethod::DialedIn => "dialed-in",
            JoiningMethod::DialedOut => "dialed-out",
        }
    }
}

/// RFC 4575 §5.7.5 disconnection method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectionMethod {
    /// The user left (its BYE).
    Departed,
    /// The user was removed by the chairman.
    Booted,
    /// The invitation failed or was not answered.
    Failed,
    /// The user declined the invitation.
    Busy,
}

impl DisconnectionMethod {
    /// The element's text.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectionMethod::Departed => "departed",
            DisconnectionMethod::Booted => "booted",
            DisconnectionMethod::Failed => "failed",
            DisconnectionMethod::Busy => "busy",
        }
    }
}
