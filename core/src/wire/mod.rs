//! `wire`: bytes ⇄ typed values, at the core's edge.
//!
//! Everything that reads or writes protocol text lives here: SIP messages (our own
//! parser and printer, see the README for why not `rsip`/`ezk-sip-types`), URIs,
//! stream framing by `Content-Length` and the datagram rule, `multipart/mixed`,
//! RFC 4826 resource lists (on `roxmltree`), and SDP (on `sdp-types`). Parser types
//! never leave this module. Every decoder treats its input as hostile: it returns a
//! typed error, never panics, and enforces [`Limits`].
//!
//! What is *not* here: deciding what to do with a bad message (the state machine
//! answers 400/413/488/513 with [`encode_error_reply`] or a typed response).

pub mod framing;
pub mod limits;
pub mod multipart;
pub mod resource_lists;
pub mod sdp;
mod sip_decode;
mod sip_encode;
pub mod uri;

pub use framing::{FrameError, StreamDecoder};
pub use limits::Limits;
pub use sip_decode::{decode_datagram, decode_message, BadMessage, DecodeError, ReplyContext};
pub use sip_encode::{encode_error_reply, encode_message};
pub use uri::{parse_replaces, parse_uri, print_uri, UriError};

use crate::body::InviteBody;
use crate::sip::Headers;

/// Why an INVITE body could not be used (answered with 488, or 400 for a broken
/// multipart container, or 415 for an unknown type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The SDP did not parse.
    #[error("bad sdp: {0}")]
    Sdp(#[from] sdp::SdpError),
    /// The multipart container did not parse.
    #[error("bad multipart body: {0}")]
    Multipart(#[from] multipart::MultipartError),
    /// The resource list did not parse.
    #[error("bad resource list: {0}")]
    ResourceList(#[from] resource_lists::ResourceListError),
    /// A body type the server does not understand.
    #[error("unsupported content type {0}")]
    UnsupportedType(String),
    /// A body without Content-Type.
    #[error("body without content-type")]
    MissingContentType,
}

/// Decodes an INVITE body: `application/sdp` at the top level, or a
/// `multipart/mixed` body whose parts are `application/sdp` and an
/// `application/resource-lists+xml` part (the recipient list). An empty body yields
/// an empty [`InviteBody`]. Other part types are ignored (kept by the relay, unused).
pub fn decode_invite_body(
    headers: &Headers,
    body: &[u8],
    limits: &Limits,
) -> Result<InviteBody, BodyError> {
    if body.is_empty() {
        return Ok(InviteBody::default());
    }
    let Some(ct) = &headers.content_type else {
        return Err(BodyError::MissingContentType);
    };
    if ct.is("application", "sdp") {
        return Ok(InviteBody {
            sdp: Some(sdp::decode(body)?),
            recipients: None,
        });
    }
    if ct.is("multipart", "mixed") || ct.is("multipart", "related") {
        let mut out = InviteBody::default();
        for part in multipart::decode(ct, body, limits)? {
            let Some(pct) = &part.content_type else {
                continue;
            };
            if pct.is("application", "sdp") && out.sdp.is_none() {
                out.sdp = Some(sdp::decode(&part.body)?);
            } else if pct.is("application", "resource-lists+xml") && out.recipients.is_none() {
                out.recipients = Some(resource_lists::decode(&part.body, limits)?);
            }
        }
        return Ok(out);
    }
    if ct.is("application", "resource-lists+xml") {
        return Ok(InviteBody {
            sdp: None,
            recipients: Some(resource_lists::decode(body, limits)?),
        });
    }
    Err(BodyError::UnsupportedType(format!(
        "{}/{}",
        ct.kind, ct.subtype
    )))
}
