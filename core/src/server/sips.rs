//! `sips:` URIs (RFC 3261 §19.1, §12.1; RFC 5630): which requests may use them and
//! when cpmd's own Contact is a `sips:` URI.
//!
//! A `sips:` URI asks for TLS on every hop. cpmd accepts a request with a `sips:`
//! Request-URI only over TLS (TLS-13); over TCP or UDP it answers 480 with
//! `Warning: 381 "SIPS Required"` (the RFC 5630 warning for a request whose path is
//! not secured as SIPS demands). The user identity is the same either way:
//! `sips:alice@example.com` is alice ([`crate::uri::UserUri`]).
//!
//! A dialog is *secure* (RFC 3261 §12.1.1 for cpmd as UAS, §12.1.2 as UAC) when its
//! request's Request-URI is `sips:` and it runs over TLS; cpmd's Contact in it is
//! then a `sips:` URI without `transport=tls` (RFC 5630 deprecates that parameter;
//! `sips:` implies TLS). cpmd is a B2BUA and adds no Record-Route.
//!
//! Not here: the URI syntax (`wire::uri`), the transport (`output::Transport`).

use super::output::{Flow, Transport};
use crate::sip::NameAddr;
use crate::uri::Uri;

/// The warning cpmd adds to its refusal of a `sips:` request over TCP or UDP.
pub(crate) const SIPS_REQUIRED_WARNING: &str = "381 cpmd \"SIPS Required\"";

/// Whether `uri` is a `sips:` URI.
pub(crate) fn is_sips(uri: &Uri) -> bool {
    uri.as_sip().is_some_and(|s| s.secure)
}

/// TLS-13: a request whose Request-URI is `sips:` that did not arrive over TLS.
pub(crate) fn insecure_hop(uri: &Uri, flow: &Flow) -> bool {
    is_sips(uri) && flow.transport != Transport::Tls
}

/// Whether a dialog whose request had Request-URI `uri` and runs over `flow` is
/// secure (RFC 3261 §12.1): `sips:` over TLS.
pub(crate) fn secure(uri: &Uri, flow: Flow) -> bool {
    is_sips(uri) && flow.transport == Transport::Tls
}

/// cpmd's Contact `contact`, as a `sips:` URI when the dialog is `secure` (TLS-13).
pub(crate) fn contact(mut contact: NameAddr, secure: bool) -> NameAddr {
    if secure {
        if let Uri::Sip(sip) = &mut contact.uri {
            sip.secure = true;
            sip.params
                .retain(|p| !p.name.eq_ignore_ascii_case("transport"));
        }
    }
    contact
}
