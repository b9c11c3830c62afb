//! Message bodies the server understands: MIME parts, resource lists, and the
//! decoded body of an INVITE.

use crate::ids::ContributionId;
use crate::sdp::Sdp;
use crate::sip::{MediaType, Replaces};
use crate::uri::Uri;

/// One part of a `multipart/mixed` body (RFC 2046 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BodyPart {
    /// The part's Content-Type (RFC 2046 default `text/plain` when absent → `None`).
    pub content_type: Option<MediaType>,
    /// The part's Content-Disposition value, verbatim (`recipient-list`, ...).
    pub disposition: Option<String>,
    /// Every part header, `(name, value)`, in order (including the two above).
    pub headers: Vec<(String, String)>,
    /// The part's body bytes (without the CRLF that precedes the next delimiter).
    pub body: Vec<u8>,
}

/// One `<entry>` of an RFC 4826 resource list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListEntry {
    /// The entry's URI with its URI headers removed.
    pub uri: Uri,
    /// `<display-name>`, if any.
    pub display_name: Option<String>,
    /// `method=` URI parameter, if any (`INVITE`).
    pub method: Option<String>,
    /// OMA `Session-Replaces` URI header, after XML-unescape and percent-decoding.
    pub session_replaces: Option<ContributionId>,
    /// RFC 3891 `Replaces` URI header, decoded the same way.
    pub replaces: Option<Replaces>,
}

/// An RFC 4826 `resource-lists` document flattened to its entries, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResourceList {
    /// Entries of every `<list>`, in document order.
    pub entries: Vec<ListEntry>,
}

/// What the server needs from an INVITE body: an SDP offer (top level or a
/// multipart part) and a recipient list (a multipart part with
/// `Content-Disposition: recipient-list`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InviteBody {
    /// The SDP offer, if any.
    pub sdp: Option<Sdp>,
    /// The recipient list, if any.
    pub recipients: Option<ResourceList>,
}
