//! `wire`: bytes ⇄ typed values, at the core's edge.
//!
//! Everything that reads or writes protocol text lives here: SIP messages (our own
//! parser and printer, see the README for why not `rsip`/`ezk-sip-types`), URIs,
//! stream framing by `Content-Length` and the datagram rule, `multipart/mixed`,
//! RFC 4826 resource lists (on `roxmltree`), SDP (on `sdp-types`), CPIM (RFC 3862)
//! and IMDN (RFC 5438, on `roxmltree`). Parser types
//! never leave this module. Every decoder treats its input as hostile: it returns a
//! typed error, never panics, and enforces [`Limits`].
//!
//! What is *not* here: deciding what to do with a bad message (the state machine
//! answers 400/413/488/513 with [`encode_error_reply`] or a typed response).

mod ascii;
pub mod conference_info;
pub mod cpim_codec;
pub mod digest;
pub mod framing;
pub mod imdn;
pub mod limits;
pub mod msrp;
pub mod msrp_uri;
pub mod multipart;
mod prints_back;
pub mod resource_lists;
pub mod sdp;
mod sdp_plain;
mod sink;
mod sip_decode;
mod sip_encode;
pub mod uri;

pub use framing::{FrameError, StreamDecoder};
pub use limits::Limits;
pub use sip_decode::{decode_datagram, decode_message, BadMessage, DecodeError, ReplyContext};
pub(crate) use sip_encode::print_name_addr;
pub use sip_encode::{encode_error_reply, encode_message, encode_message_into};
// A leg keeps its dialog addresses as text (`server::packed`).
pub(crate) use prints_back::{prints_back_name_addr, prints_back_uri};
pub(crate) use sip_decode::parse_name_addr;

/// What is needed to answer a request that could not be decoded or framed (its
/// Via, From, To, Call-ID and CSeq as received), if its start line looks like a
/// request line and it has a Via (CONF-2).
pub fn reply_context_of(bytes: &[u8]) -> Option<ReplyContext> {
    sip_decode::head::reply_context(sip_decode::head::skip_leading_crlf(bytes))
}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CallId;
    use crate::sip::{CSeq, MediaType, Method, NameAddr};
    use crate::uri::{Param, Uri};

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 a.example.com\r\ns=-\r\nc=IN IP4 a.example.com\r\n\
        t=0 0\r\nm=message 7394 TCP/MSRP *\r\na=path:msrp://a.example.com:7394/x;tcp\r\n";

    const LIST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
        <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>\
        <entry uri=\"sip:b@example.com\"/><entry uri=\"sip:c@example.com\"/>\
        </list></resource-lists>\r\n";

    fn headers(ct: Option<MediaType>) -> Headers {
        let addr = || NameAddr::new(Uri::Other("sip:a@b".into()));
        let cseq = CSeq {
            seq: 1,
            method: Method::Invite,
        };
        let mut h = Headers::new(addr(), addr(), CallId::new("c1"), cseq);
        h.content_type = ct;
        h
    }

    fn mixed(boundary: &str) -> Option<MediaType> {
        let mut ct = MediaType::new("multipart", "mixed");
        ct.params.push(Param::new("boundary", Some(boundary)));
        Some(ct)
    }

    fn multipart(boundary: &str, preamble: &str, sdp: &str) -> Vec<u8> {
        format!(
            "{preamble}--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n\
             --{boundary}\r\nContent-Type: application/resource-lists+xml\r\n\
             Content-Disposition: recipient-list\r\n\r\n{LIST}\r\n--{boundary}--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn top_level_sdp() {
        let h = headers(Some(MediaType::new("application", "sdp")));
        let body = decode_invite_body(&h, SDP.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(body.sdp.unwrap().raw, SDP);
        assert_eq!(body.recipients, None);
    }

    #[test]
    fn multipart_with_sdp_and_recipient_list() {
        let h = headers(mixed("boundary1"));
        let body = multipart("boundary1", "", SDP);
        let decoded = decode_invite_body(&h, &body, &Limits::default()).unwrap();
        let sdp = decoded.sdp.unwrap();
        assert_eq!(sdp.raw, SDP);
        assert_eq!(
            sdp.message_media().unwrap().msrp_path(),
            vec!["msrp://a.example.com:7394/x;tcp"]
        );
        let uris: Vec<_> = decoded
            .recipients
            .unwrap()
            .entries
            .iter()
            .map(|e| uri::print_uri(&e.uri))
            .collect();
        assert_eq!(uris, ["sip:b@example.com", "sip:c@example.com"]);
    }

    #[test]
    fn multipart_with_quoted_boundary_and_preamble() {
        let h = headers(mixed("\"b=1 x\""));
        let body = multipart("b=1 x", "This is a MIME preamble.\r\n", SDP);
        let decoded = decode_invite_body(&h, &body, &Limits::default()).unwrap();
        assert_eq!(decoded.sdp.unwrap().origin_address, "a.example.com");
        assert_eq!(decoded.recipients.unwrap().entries.len(), 2);
    }

    #[test]
    fn bad_sdp_inside_multipart_is_an_sdp_error() {
        let h = headers(mixed("b"));
        let body = multipart("b", "", "not an sdp");
        assert!(matches!(
            decode_invite_body(&h, &body, &Limits::default()),
            Err(BodyError::Sdp(_))
        ));
    }

    #[test]
    fn empty_missing_and_unknown_types() {
        let l = Limits::default();
        assert_eq!(
            decode_invite_body(&headers(None), b"", &l),
            Ok(InviteBody::default())
        );
        assert_eq!(
            decode_invite_body(&headers(None), b"x", &l),
            Err(BodyError::MissingContentType)
        );
        let text = headers(Some(MediaType::new("text", "plain")));
        assert_eq!(
            decode_invite_body(&text, b"x", &l),
            Err(BodyError::UnsupportedType("text/plain".into()))
        );
    }
}
