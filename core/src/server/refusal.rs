//! Why the server refused a request: [`Refusal`] for SIP, [`MsrpRefusal`] for MSRP.
//! One variant per rule, each citing the invariant (specs/*.md) or RFC section it
//! applies, so every error answer is traceable to its rule and testable by name.
//!
//! `status()` is the status the request is answered with (unchanged from the bare
//! numbers these replace); `reason()` says which rule refused it, for the
//! `tracing::debug!` event the server emits at each refusal (the runtime decides
//! what is shown). A SIP response still carries the RFC reason phrase of its
//! status; an MSRP response carries `comment()`.
//!
//! What it is *not*: refusals of messages that did not decode (those are
//! `wire::DecodeError`, answered before any rule runs), nor answers relayed from
//! the other party.

use crate::sip::StatusCode;

/// Why a SIP request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// RFC 3261 §16.3 item 2 (CONF-5): `Max-Forwards: 0` on a request cpmd would
    /// relay to another user (a request for cpmd itself is processed).
    TooManyHops,
    /// RFC 3261 §8.2.2.1 (CONF-4): a Request-URI scheme other than sip, sips, tel.
    UnsupportedUriScheme,
    /// RFC 5630, RFC 3261 §26.2.2 (TLS-13): a `sips:` Request-URI over TCP or UDP
    /// (answered with `Warning: 381`).
    SipsOverInsecureHop,
    /// RFC 3261 §8.2.2.3 (CONF-6): an option tag in `Require` cpmd does not support
    /// (answered with `Unsupported`).
    BadExtension,
    /// RFC 3261 §8.2.3: an INVITE body type cpmd does not take (answered with
    /// `Accept`).
    UnsupportedBody,
    /// RFC 3261 §21.4.7: the INVITE's `Accept` excludes `application/sdp`.
    NotAcceptable,
    /// RFC 4475 §3.3.4 (RFC 3261 §10.3): a REGISTER's To is not a SIP or SIPS URI.
    RegisterToNotSip,
    /// SEC-5: a REGISTER that would give its user more than `max_devices_per_user`
    /// bindings.
    TooManyDevices,
    /// SEC-5: a REGISTER that would take the registrar beyond `max_bindings`.
    RegistrarFull,
    /// SEC-4f: too many password failures of this user from this source, or from
    /// this source: refused whatever the password until the window passes (with
    /// `Retry-After`).
    TooManyFailures,
    /// SEC-3: a CPIM `From` that names someone other than the authenticated sender.
    NotTheSender,
    /// SEC-3: an IMDN whose `<recipient-uri>` is not its sender.
    ImdnNotFromRecipient,
    /// RFC 3261 §12.2.2 (ONE-6): an in-dialog request (or BYE, UPDATE, INFO, PRACK
    /// outside a dialog) for a dialog the server does not know.
    NoDialog,
    /// RFC 3261 §9.2: a CANCEL that matches no pending INVITE.
    NoTransactionToCancel,
    /// RFC 3261 §8.2.1: a known method the server does not serve (there, or at all).
    MethodNotAllowed,
    /// RFC 3261 §8.2.1: a method the server does not know.
    UnknownMethod,
    /// RFC 3261 §10.3 step 3: a REGISTER whose To is not a user's address.
    RegisterNotAUser,
    /// RFC 3261 §10.3 step 3: a REGISTER for a user of another domain, or not in the
    /// configured user list.
    RegisterForeignUser,
    /// RFC 3261 §10.3 steps 6-7: a Contact or Expires the registrar cannot use.
    RegisterInvalid,
    /// REG-2 (RFC 3261 §22): credentials that do not authenticate the claimed user,
    /// or no registration on the request's flow when authentication is off.
    NotAuthenticated,
    /// REG-5: an in-dialog request from another flow than the leg's own.
    NotTheLegsFlow,
    /// RFC 3261 §12.2.2: a CSeq not above the last one of the dialog.
    CSeqOutOfOrder,
    /// RFC 3261 §14.2 (ONE-5): a re-INVITE, UPDATE or INFO while the 1-to-1 is not
    /// established.
    SessionNotEstablished,
    /// RFC 3261 §21.4.5 (specs/one-to-one.md, "Bad input"): the target is not a user
    /// of this server.
    UnknownUser,
    /// RFC 3261 §21.4.18 (specs/one-to-one.md, "Bad input"): the target has no
    /// registered binding.
    NotRegistered,
    /// DEF-6: the target has no device and its deferred queue is full (480 with
    /// `Retry-After`).
    DeferredQueueFull,
    /// ONE-8 (RFC 5621, RFC 4826): a multipart container, resource list or
    /// Content-Type that does not parse.
    MalformedBody,
    /// ONE-8 (RFC 3264 §6, RFC 4975 §8): no SDP, an SDP that does not parse, or one
    /// without MSRP `m=message` media.
    NoUsableOffer,
    /// specs/msrp.md: `TCP/TLS/MSRP` media when no MSRP-over-TLS listener is
    /// configured (specs/tls.md).
    MsrpTlsUnsupported,
    /// specs/one-to-one.md: a Contribution-ID names one session; this one already
    /// names a live session.
    ContributionIdTaken,
    /// RFC 3891 §3: more than one `Replaces` header.
    TwoReplaces,
    /// EXT-1: a conference-factory INVITE without a resource list.
    NoResourceList,
    /// EXT-1: the forms naming the session to replace name different sessions.
    AmbiguousReplaces,
    /// EXT-1 (RFC 4826): the resource list names nobody but the requester.
    NoInvitees,
    /// EXT-3: the Conversation-ID differs from the replaced session's.
    ConversationMismatch,
    /// EXT-3: the Contribution-ID is the replaced session's (a group needs a new one).
    ContributionIdReused,
    /// EXT-2: the requester is not a party of the session it wants to replace.
    NotAParty,
    /// EXT-7 (RFC 3891 §3): the replaced dialog or session does not exist (or is
    /// still early).
    ReplacedUnknown,
    /// EXT-7 (RFC 3891 §3): the replaced session is ending, or already replaced
    /// (EXT-9).
    ReplacedEnding,
    /// EXT-7 (RFC 3891 §3): `early-only` names an established session.
    ReplacedNotEarly,
    /// PAGER-3: a MESSAGE body the server cannot read (neither stored nor relayed).
    UnreadableMessage,
    /// MSG-3, EXT-4, PAGER-1, HIST-1: the store failed to make a record durable (a
    /// group's info, a pager message, a seal): the sender gets a failure.
    StoreFailed,
    /// LIM-11, LIM-12 (RFC 3261 §21.5.4): the transaction or session table is full;
    /// answered with `Retry-After`.
    Overloaded,
    /// LIM-14: the sender of a MESSAGE has used up its stored-bytes quota.
    OverQuota,
    /// GRP-10 (RFC 4579 §5): a request for a focus URI that names no live group.
    NoSuchFocus,
    /// GRP-10 (RFC 6665 §4.2.1.2): a SUBSCRIBE for an event package other than
    /// `conference` (answered with `Allow-Events`).
    BadEvent,
    /// GRP-10: a SUBSCRIBE to a group from someone who is not one of its joined
    /// participants.
    NotAGroupParticipant,
    /// GRP-14 (RFC 3515 §2.4.1): a REFER to the focus without a usable `Refer-To`
    /// (absent, or not a user's address).
    BadReferTo,
    /// GRP-15 (RCC.07): a REFER removing a participant from someone other than the
    /// chairman (the group's creator).
    NotTheChairman,
    /// GRP-21 (RCC.07): an INVITE to a live group's focus from someone who may not
    /// rejoin it (not a former participant, removed, still in it, or naming another
    /// Contribution-ID).
    NotRejoinable,
    /// A restart INVITE to the conference factory names a group that is still live
    /// (specs/group.md, GRP-25): it is rejoined at its focus URI instead.
    GroupStillLive,
    /// A factory INVITE whose ids name no ended group to restart (GRP-40, GRP-41):
    /// it names no one and no ended group has these ids, or they are the ids of a
    /// session that ended and is no group (a sealed 1-to-1's).
    NoEndedGroup,
}

impl Refusal {
    /// The status the request is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::TooManyHops => StatusCode::TOO_MANY_HOPS,
            Refusal::UnsupportedUriScheme => StatusCode::UNSUPPORTED_URI_SCHEME,
            Refusal::BadExtension => StatusCode::BAD_EXTENSION,
            Refusal::UnsupportedBody => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Refusal::TooManyDevices
            | Refusal::TooManyFailures
            | Refusal::NotTheSender
            | Refusal::ImdnNotFromRecipient
            | Refusal::OverQuota => StatusCode::FORBIDDEN,
            Refusal::RegistrarFull | Refusal::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::NoDialog | Refusal::NoTransactionToCancel | Refusal::ReplacedUnknown => {
                StatusCode::CALL_DOES_NOT_EXIST
            }
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::UnknownMethod => StatusCode::NOT_IMPLEMENTED,
            Refusal::RegisterNotAUser
            | Refusal::RegisterToNotSip
            | Refusal::RegisterInvalid
            | Refusal::MalformedBody
            | Refusal::ContributionIdTaken
            | Refusal::TwoReplaces
            | Refusal::NoResourceList
            | Refusal::AmbiguousReplaces
            | Refusal::NoInvitees
            | Refusal::ConversationMismatch
            | Refusal::ContributionIdReused
            | Refusal::UnreadableMessage => StatusCode::BAD_REQUEST,
            Refusal::RegisterForeignUser
            | Refusal::NotAuthenticated
            | Refusal::NotTheLegsFlow
            | Refusal::NotAParty
            | Refusal::NotAGroupParticipant
            | Refusal::NotTheChairman
            | Refusal::NotRejoinable
            | Refusal::GroupStillLive => StatusCode::FORBIDDEN,
            Refusal::BadReferTo => StatusCode::BAD_REQUEST,
            Refusal::NoSuchFocus | Refusal::NoEndedGroup => StatusCode::NOT_FOUND,
            Refusal::BadEvent => StatusCode::BAD_EVENT,
            Refusal::CSeqOutOfOrder | Refusal::StoreFailed => StatusCode::SERVER_INTERNAL_ERROR,
            Refusal::SessionNotEstablished => StatusCode::REQUEST_PENDING,
            Refusal::UnknownUser => StatusCode::NOT_FOUND,
            Refusal::NotRegistered | Refusal::SipsOverInsecureHop | Refusal::DeferredQueueFull => {
                StatusCode::TEMPORARILY_UNAVAILABLE
            }
            Refusal::NoUsableOffer | Refusal::MsrpTlsUnsupported => StatusCode::NOT_ACCEPTABLE_HERE,
            Refusal::ReplacedEnding => StatusCode::DECLINE,
            Refusal::ReplacedNotEarly => StatusCode::BUSY_HERE,
        }
    }

    /// The reason phrase of the answer when it names the fault (CONF-2, RFC 4475
    /// practice); `None` keeps the status's standard phrase.
    pub fn phrase(self) -> Option<&'static str> {
        match self {
            Refusal::TooManyHops => Some("Too Many Hops"),
            Refusal::UnsupportedUriScheme => Some("Unsupported URI Scheme in Request-URI"),
            Refusal::SipsOverInsecureHop => Some("SIPS Required"),
            Refusal::BadExtension => Some("Bad Extension in Require"),
            Refusal::UnsupportedBody => Some("Unsupported Media Type in Content-Type"),
            Refusal::NotAcceptable => Some("Not Acceptable: Accept excludes application/sdp"),
            Refusal::RegisterToNotSip => Some("To of a REGISTER is not a SIP or SIPS URI"),
            Refusal::TooManyDevices => Some("Too many devices for this user"),
            Refusal::RegistrarFull => Some("Registrar full"),
            Refusal::TooManyFailures => Some("Too many failed attempts"),
            Refusal::Overloaded => Some("Server overloaded"),
            Refusal::OverQuota => Some("Quota exceeded"),
            Refusal::DeferredQueueFull => Some("Deferred queue full"),
            Refusal::NotTheSender => Some("CPIM From is not the sender"),
            Refusal::ImdnNotFromRecipient => Some("IMDN not from a recipient"),
            Refusal::NoDialog
            | Refusal::NoTransactionToCancel
            | Refusal::MethodNotAllowed
            | Refusal::UnknownMethod
            | Refusal::RegisterNotAUser
            | Refusal::RegisterForeignUser
            | Refusal::RegisterInvalid
            | Refusal::NotAuthenticated
            | Refusal::NotTheLegsFlow
            | Refusal::CSeqOutOfOrder
            | Refusal::SessionNotEstablished
            | Refusal::UnknownUser
            | Refusal::NotRegistered
            | Refusal::MalformedBody
            | Refusal::NoUsableOffer
            | Refusal::MsrpTlsUnsupported
            | Refusal::ContributionIdTaken
            | Refusal::TwoReplaces
            | Refusal::NoResourceList
            | Refusal::AmbiguousReplaces
            | Refusal::NoInvitees
            | Refusal::ConversationMismatch
            | Refusal::ContributionIdReused
            | Refusal::NotAParty
            | Refusal::ReplacedUnknown
            | Refusal::ReplacedEnding
            | Refusal::ReplacedNotEarly
            | Refusal::UnreadableMessage
            | Refusal::StoreFailed
            | Refusal::NoSuchFocus
            | Refusal::BadEvent
            | Refusal::NotAGroupParticipant
            | Refusal::BadReferTo
            | Refusal::NotTheChairman
            | Refusal::NotRejoinable
            | Refusal::GroupStillLive
            | Refusal::NoEndedGroup => None,
        }
    }

    /// Which rule refused the request, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyHops => "Max-Forwards is 0",
            Refusal::UnsupportedUriScheme => "Request-URI scheme not supported",
            Refusal::SipsOverInsecureHop => "sips: Request-URI not over TLS",
            Refusal::BadExtension => "Require names an unsupported option",
            Refusal::UnsupportedBody => "INVITE body type not supported",
            Refusal::NotAcceptable => "Accept excludes application/sdp",
            Refusal::RegisterToNotSip => "REGISTER To is not a SIP or SIPS URI",
            Refusal::TooManyDevices => "too many devices for this user",
            Refusal::RegistrarFull => "registrar full",
            Refusal::TooManyFailures => "too many password failures from this source",
            Refusal::NotTheSender => "CPIM From is not the sender",
            Refusal::ImdnNotFromRecipient => "IMDN not from a recipient",
            Refusal::NoDialog => "no such dialog",
            Refusal::NoTransactionToCancel => "no pending INVITE to cancel",
            Refusal::MethodNotAllowed => "method not allowed here",
            Refusal::UnknownMethod => "unknown method",
            Refusal::RegisterNotAUser => "REGISTER To is not a user address",
            Refusal::RegisterForeignUser => "REGISTER for a user of another domain",
            Refusal::RegisterInvalid => "REGISTER Contact or Expires unusable",
            Refusal::NotAuthenticated => "sender not authenticated",
            Refusal::NotTheLegsFlow => "in-dialog request from another flow",
            Refusal::CSeqOutOfOrder => "CSeq out of order",
            Refusal::SessionNotEstablished => "session not established",
            Refusal::UnknownUser => "no such user",
            Refusal::NotRegistered => "user not registered",
            Refusal::DeferredQueueFull => "recipient's deferred queue full",
            Refusal::MalformedBody => "malformed body",
            Refusal::NoUsableOffer => "no usable MSRP offer",
            Refusal::MsrpTlsUnsupported => "MSRP over TLS not configured",
            Refusal::ContributionIdTaken => "Contribution-ID names a live session",
            Refusal::TwoReplaces => "more than one Replaces header",
            Refusal::NoResourceList => "no resource list",
            Refusal::AmbiguousReplaces => "replaced session named ambiguously",
            Refusal::NoInvitees => "resource list invites nobody",
            Refusal::ConversationMismatch => "Conversation-ID differs from the replaced session",
            Refusal::ContributionIdReused => "Contribution-ID of the replaced session",
            Refusal::NotAParty => "requester not a party of the replaced session",
            Refusal::ReplacedUnknown => "replaced session unknown",
            Refusal::ReplacedEnding => "replaced session ending or already replaced",
            Refusal::ReplacedNotEarly => "early-only but the session is established",
            Refusal::UnreadableMessage => "MESSAGE body unreadable",
            Refusal::StoreFailed => "store failed",
            Refusal::Overloaded => "transaction or session table full",
            Refusal::OverQuota => "sender over its stored-bytes quota",
            Refusal::NoSuchFocus => "no live group at this focus URI",
            Refusal::BadEvent => "event package not supported",
            Refusal::NotAGroupParticipant => "not a participant of the group",
            Refusal::BadReferTo => "Refer-To missing or not a user",
            Refusal::NotTheChairman => "only the chairman removes participants",
            Refusal::NotRejoinable => "may not rejoin this group",
            Refusal::GroupStillLive => "the group is live: rejoin it at its focus URI",
            Refusal::NoEndedGroup => "no ended group under these ids",
        }
    }
}

/// Why an MSRP request was refused (RFC 4975 §7.3, specs/msrp.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsrpRefusal {
    /// RFC 4975 §7.3, §12: a method other than SEND and REPORT.
    UnknownMethod,
    /// MSRP-3 (RFC 4975 §7.3): the To-Path names no session of the server (or its
    /// leg is gone).
    NoSession,
    /// MSRP-3 (RFC 4975 §7.3): the From-Path is not the leg's `a=path`.
    FromPathMismatch,
    /// specs/msrp.md, "Bad input" (RFC 4975 §7.3): a message larger than
    /// `max_msrp_message_bytes`, or too many partial messages.
    TooLarge,
    /// RFC 4975 §7.1.1: a chunk that does not fit its message (range, total, no
    /// Message-ID).
    BadChunk,
    /// RFC 4975 §7.3: a Content-Type not in the leg's `accept-types`.
    UnsupportedType,
    /// specs/msrp.md (RFC 3862): a `message/cpim` body that does not parse.
    BadCpim,
    /// specs/msrp.md (RFC 5438): an IMDN in CPIM that does not parse.
    BadImdn,
    /// MSG-4 / GRP-2: the sender is not a party, or its own leg is closed.
    NotAParty,
    /// MSG-4: the recipient's leg is closed.
    RecipientGone,
    /// MSG-3: the store failed to make the message durable.
    StoreFailed,
    /// SEC-3: the CPIM `From` names someone other than the leg's user.
    NotTheSender,
    /// SEC-3: an IMDN not from a recipient of the message it names.
    ImdnNotFromRecipient,
    /// LIM-13: the session has too many messages waiting for the store.
    SessionBusy,
    /// LIM-13: the session took on as many messages as it may.
    SessionFull,
    /// LIM-14: the sender has used up its stored-bytes quota.
    OverQuota,
    /// DEF-6: the offline recipient's deferred queue is full (a store-and-forward
    /// session, specs/deferred.md).
    DeferredQueueFull,
}

impl MsrpRefusal {
    /// The MSRP status code (RFC 4975 §10).
    pub fn status(self) -> u16 {
        match self {
            MsrpRefusal::BadChunk | MsrpRefusal::BadCpim | MsrpRefusal::BadImdn => 400,
            MsrpRefusal::FromPathMismatch
            | MsrpRefusal::NotAParty
            | MsrpRefusal::NotTheSender
            | MsrpRefusal::ImdnNotFromRecipient => 403,
            MsrpRefusal::TooLarge
            | MsrpRefusal::SessionBusy
            | MsrpRefusal::SessionFull
            | MsrpRefusal::OverQuota
            | MsrpRefusal::DeferredQueueFull => 413,
            MsrpRefusal::UnsupportedType => 415,
            MsrpRefusal::NoSession | MsrpRefusal::RecipientGone => 481,
            MsrpRefusal::StoreFailed => 500,
            MsrpRefusal::UnknownMethod => 501,
        }
    }

    /// The response's comment (also what the debug event says).
    pub fn comment(self) -> &'static str {
        match self {
            MsrpRefusal::UnknownMethod => "Unknown method",
            MsrpRefusal::NoSession => "Session does not exist",
            MsrpRefusal::FromPathMismatch => "From-Path mismatch",
            MsrpRefusal::TooLarge => "Message too large",
            MsrpRefusal::BadChunk => "Bad chunk",
            MsrpRefusal::UnsupportedType => "Unsupported media type",
            MsrpRefusal::BadCpim => "Bad CPIM",
            MsrpRefusal::BadImdn => "Bad IMDN",
            MsrpRefusal::NotAParty => "Not a party of the session",
            MsrpRefusal::RecipientGone => "Recipient's session is closed",
            MsrpRefusal::StoreFailed => "Store failed",
            MsrpRefusal::SessionBusy => "Too many messages waiting",
            MsrpRefusal::SessionFull => "Session message limit reached",
            MsrpRefusal::OverQuota => "Quota exceeded",
            MsrpRefusal::DeferredQueueFull => "Recipient's deferred queue full",
            MsrpRefusal::NotTheSender => "CPIM From is not the sender",
            MsrpRefusal::ImdnNotFromRecipient => "IMDN not from a recipient",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_refusals_keep_their_status_codes() {
        // EXT-1, EXT-3, RFC 3891 §3: the seven 400s of a factory INVITE.
        for why in [
            Refusal::TwoReplaces,
            Refusal::NoResourceList,
            Refusal::AmbiguousReplaces,
            Refusal::NoInvitees,
            Refusal::ContributionIdTaken,
            Refusal::ConversationMismatch,
            Refusal::ContributionIdReused,
        ] {
            assert_eq!(why.status(), StatusCode::BAD_REQUEST, "{why:?}");
        }
        // EXT-7: RFC 3891 codes for the replaced session.
        assert_eq!(Refusal::ReplacedUnknown.status().to_string(), "481");
        assert_eq!(Refusal::ReplacedEnding.status(), StatusCode::DECLINE);
        assert_eq!(Refusal::ReplacedNotEarly.status(), StatusCode::BUSY_HERE);
        assert_eq!(Refusal::NotAParty.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn msrp_refusals_answer_as_rfc4975_says() {
        assert_eq!(MsrpRefusal::NoSession.status(), 481);
        assert_eq!(MsrpRefusal::FromPathMismatch.status(), 403);
        assert_eq!(MsrpRefusal::TooLarge.status(), 413);
        assert_eq!(MsrpRefusal::UnsupportedType.status(), 415);
        assert_eq!(MsrpRefusal::UnknownMethod.status(), 501);
        assert_eq!(MsrpRefusal::BadCpim.comment(), "Bad CPIM");
    }
}
