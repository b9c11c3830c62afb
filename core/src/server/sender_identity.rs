//! SEC-3: the sender named inside a message must be the sender the server knows.
//!
//! Clients show the CPIM `From` (RFC 3862) of a chat message or pager MESSAGE as its
//! sender, so a participant who writes someone else's identity there would pose as
//! them. The server knows the sender: the authenticated identity of the MSRP leg or
//! of the MESSAGE (REG-2). It **refuses** (MSRP 403, SIP 403) a message whose CPIM
//! `From` names another user, rather than rewriting it: the body is relayed and
//! stored byte for byte, and a refusal tells the sending client something is wrong.
//!
//! The comparison ([`UserUri`] normalisation, `specs/security.md`):
//! - display names and angle brackets are ignored: only the URI counts;
//! - `tel:+15551234567` and `sip:+15551234567@host;user=phone` are the same user;
//!   `sip:` and `sips:` are the same user; host names compare case-insensitively;
//! - an anonymous `From` (`anonymous@anonymous.invalid` in the `im:`, `sip:` or
//!   `sips:` scheme, RFC 3862 §6.1 / RFC 3323) claims nobody and is relayed as it is;
//!   the store still records the authenticated sender;
//! - a CPIM body without `From` claims nobody either (relayed; RFC 3862 requires the
//!   header, but refusing would protect no one);
//! - any other `From` that is not the sender, or does not parse, is refused.
//!
//! IMDNs (RFC 5438) are messages too: the same rule for their CPIM `From`, and their
//! `<recipient-uri>`, when present, must be the sender (anonymous not allowed): the
//! disposition is the sender's own. In a session, an IMDN about a message the sender
//! sent itself there is refused (only a recipient reports on a message). What the
//! core cannot see (a message of another session or a standalone message) is checked
//! by the store, which records a disposition only for a recipient of the message.

use super::refusal::{MsrpRefusal, Refusal};
use super::Server;
use crate::cpim::{addr_uri, CpimMessage};
use crate::ids::{MessageId, SessionId};
use crate::sip::Request;
use crate::uri::UserUri;
use crate::wire;
use crate::wire::imdn::Imdn;

/// Why a message's claimed sender was refused (SEC-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SenderFault {
    /// The CPIM `From` names someone other than the sender.
    NotTheSender,
    /// An IMDN not from a recipient of the message it names.
    NotARecipient,
}

impl SenderFault {
    /// The refusal of a pager MESSAGE.
    pub(crate) fn sip(self) -> Refusal {
        match self {
            SenderFault::NotTheSender => Refusal::NotTheSender,
            SenderFault::NotARecipient => Refusal::ImdnNotFromRecipient,
        }
    }

    /// The refusal of an MSRP SEND.
    pub(crate) fn msrp(self) -> MsrpRefusal {
        match self {
            SenderFault::NotTheSender => MsrpRefusal::NotTheSender,
            SenderFault::NotARecipient => MsrpRefusal::ImdnNotFromRecipient,
        }
    }
}

/// Whether a CPIM address names nobody in particular.
fn is_anonymous(uri: &str) -> bool {
    let uri = uri.to_ascii_lowercase();
    ["im:", "sip:", "sips:"]
        .iter()
        .any(|scheme| uri.strip_prefix(scheme) == Some("anonymous@anonymous.invalid"))
}

/// The identity a CPIM address value names: `None` when it does not parse or names
/// no user.
fn identity(value: &str) -> Option<UserUri> {
    let uri = wire::parse_uri(addr_uri(value)).ok()?;
    UserUri::from_uri(&uri)
}

/// SEC-3 for a CPIM `From` value (`None`: the body has none): `Err` when it names
/// someone other than `sender`.
pub(crate) fn check_from(from: Option<&str>, sender: &UserUri) -> Result<(), SenderFault> {
    match from {
        None => Ok(()),
        Some(v) if is_anonymous(addr_uri(v)) => Ok(()),
        Some(v) if identity(v).as_ref() == Some(sender) => Ok(()),
        Some(_) => Err(SenderFault::NotTheSender),
    }
}

/// SEC-3 for an IMDN's `<recipient-uri>`: when present it must be `sender`.
pub(crate) fn check_imdn_recipient(imdn: &Imdn, sender: &UserUri) -> Result<(), SenderFault> {
    match imdn.recipient_uri.as_deref() {
        None => Ok(()),
        Some(v) if identity(v).as_ref() == Some(sender) => Ok(()),
        Some(_) => Err(SenderFault::NotARecipient),
    }
}

/// SEC-3 for a decoded CPIM message (and its IMDN, if it carries one).
pub(crate) fn check_cpim(
    cpim: &CpimMessage,
    imdn: Option<&Imdn>,
    sender: &UserUri,
) -> Result<(), SenderFault> {
    check_from(cpim.from(), sender)?;
    imdn.map_or(Ok(()), |i| check_imdn_recipient(i, sender))
}

impl Server {
    /// SEC-3 for a pager MESSAGE from `sender`: a `message/cpim` body's `From`, and
    /// an IMDN's `<recipient-uri>`. A body that does not decode passes here (PAGER-3
    /// refuses it with 400).
    pub(crate) fn check_pager_sender(
        &self,
        req: &Request,
        sender: &UserUri,
    ) -> Result<(), SenderFault> {
        let is_cpim = req
            .headers
            .content_type
            .as_ref()
            .is_some_and(|ct| ct.is("message", "cpim"));
        if !is_cpim {
            return Ok(());
        }
        let Ok(cpim) = wire::cpim_codec::decode_with(&req.body, &self.config.limits) else {
            return Ok(());
        };
        let imdn = cpim
            .is_imdn()
            .then(|| wire::imdn::decode(&cpim.body).ok())
            .flatten();
        check_cpim(&cpim, imdn.as_ref(), sender)
    }

    /// SEC-3 for a message `sender` sent in session `sid`: its CPIM `From` (`from`),
    /// and for an IMDN its `<recipient-uri>` and that it does not report on one of
    /// the sender's own messages of the session.
    pub(crate) fn check_sender(
        &mut self,
        sid: SessionId,
        sender: &UserUri,
        from: Option<&str>,
        imdn: Option<&Imdn>,
    ) -> Result<(), SenderFault> {
        check_from(from, sender)?;
        let Some(imdn) = imdn else {
            return Ok(());
        };
        check_imdn_recipient(imdn, sender)?;
        let own = self.sessions.get_mut(&sid).is_some_and(|s| {
            s.chat_mut()
                .sent(sender, &MessageId::new(imdn.message_id.clone()))
        });
        if own {
            return Err(SenderFault::NotARecipient);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserUri {
        UserUri::new_canonical("sip:alice@example.com")
    }

    #[test]
    fn from_comparison_ignores_display_names_and_forms_of_one_user() {
        let a = alice();
        assert_eq!(check_from(Some("<sip:alice@example.com>"), &a), Ok(()));
        assert_eq!(check_from(Some("Bob <sip:alice@EXAMPLE.com>"), &a), Ok(()));
        assert_eq!(
            check_from(Some("\"Al\" <sips:alice@example.com>"), &a),
            Ok(())
        );
        assert_eq!(check_from(None, &a), Ok(()));
        assert_eq!(
            check_from(Some("<im:anonymous@anonymous.invalid>"), &a),
            Ok(())
        );
        assert_eq!(
            check_from(Some("Anonymous <sip:anonymous@anonymous.invalid>"), &a),
            Ok(())
        );
        assert_eq!(
            check_from(Some("Alice <sip:bob@example.com>"), &a),
            Err(SenderFault::NotTheSender)
        );
        assert_eq!(
            check_from(Some("<not a uri>"), &a),
            Err(SenderFault::NotTheSender)
        );
        let tel = UserUri::new_canonical("tel:+15551234567");
        assert_eq!(check_from(Some("<tel:+1-555-123-4567>"), &tel), Ok(()));
        assert_eq!(
            check_from(Some("<sip:+15551234567@example.com;user=phone>"), &tel),
            Ok(())
        );
        assert_eq!(
            check_from(Some("<tel:+15557654321>"), &tel),
            Err(SenderFault::NotTheSender)
        );
    }
}
