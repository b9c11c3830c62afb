//! Typed header values and the [`Headers`] block of a message.

use compact_str::CompactString;

use crate::ids::{CallId, ContributionId, ConversationId, Tag};
use crate::sip::Method;
use crate::uri::{find_param, param_value, Host, Param, Uri};

/// One `Via` header field value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Via {
    /// Transport token after `SIP/2.0/` (`UDP`, `TCP`, `TLS`, `WS`, ...), upper-cased
    /// (inline, as [`Param`]'s parts).
    pub transport: CompactString,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters in order (`branch`, `rport`, `received`, ...).
    pub params: Vec<Param>,
}

impl Via {
    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        param_value(&self.params, "branch")
    }

    /// Whether the client asked for RFC 3581 symmetric response routing.
    pub fn has_rport(&self) -> bool {
        find_param(&self.params, "rport").is_some()
    }

    /// Sets (or replaces) a parameter, keeping the others in order.
    pub fn set_param(&mut self, name: &str, value: Option<CompactString>) {
        match self
            .params
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.params.push(Param {
                name: name.into(),
                value,
            }),
        }
    }
}

/// A `name-addr` / `addr-spec` with header parameters: the value of From, To,
/// Contact, Route, Record-Route, Referred-By.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameAddr {
    /// Display name without quotes, if any.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters after the URI (`tag`, `expires`, `+sip.instance`, `isfocus`).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// An address with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<Tag> {
        param_value(&self.params, "tag").map(Tag::new)
    }

    /// Sets the `tag` parameter.
    pub fn set_tag(&mut self, tag: &Tag) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
        self.params.push(Param {
            name: "tag".into(),
            value: Some(tag.as_str().into()),
        });
    }

    /// The value of a header parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }

    /// Whether a header parameter is present (with or without value).
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }
}

/// `CSeq` (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CSeq {
    /// Sequence number (a 32-bit unsigned integer per RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method, which must equal the request method.
    pub method: Method,
}

/// RFC 3891 `Replaces`: names a dialog as `call-id;to-tag=..;from-tag=..[;early-only]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Replaces {
    /// Call-ID of the dialog to replace.
    pub call_id: CallId,
    /// Compared with the *recipient's* local tag.
    pub to_tag: Tag,
    /// Compared with the recipient's remote tag.
    pub from_tag: Tag,
    /// Replace only an early dialog.
    pub early_only: bool,
}

/// A MIME media type such as `multipart/mixed;boundary=xyz`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaType {
    /// Top-level type, lower-cased; inline up to 24 bytes (`application`,
    /// `message`), as [`Param`]'s parts: a message's type is decoded and copied
    /// without an allocation.
    pub kind: CompactString,
    /// Subtype, lower-cased; inline up to 24 bytes (`sdp`, `cpim`,
    /// `resource-lists+xml`).
    pub subtype: CompactString,
    /// Parameters in order, quotes removed from values.
    pub params: Vec<Param>,
}

impl MediaType {
    /// A type without parameters (`application/sdp`).
    pub fn new(kind: &str, subtype: &str) -> Self {
        Self {
            kind: lower_case(kind),
            subtype: lower_case(subtype),
            params: Vec::new(),
        }
    }

    /// Whether this is `kind/subtype` (case-insensitive, ignoring parameters).
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// A parameter value (quotes removed).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }
}

/// `text` in ASCII lower case, inline when it fits.
fn lower_case(text: &str) -> CompactString {
    let mut out = CompactString::from(text);
    // Media types usually arrive in lower case: then the copy is the answer, without
    // the mutable access and the second pass (every typed body decoded).
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        out.make_ascii_lowercase();
    }
    out
}

/// The header block of a SIP message. Headers the server acts on are typed; the rest
/// stay in `other` in arrival order. `Content-Length` is not stored: the encoder
/// computes it from the body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Headers {
    /// Via values, topmost first (several per line are split).
    pub via: Vec<Via>,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: CallId,
    /// CSeq.
    pub cseq: CSeq,
    /// Max-Forwards, if present.
    pub max_forwards: Option<u32>,
    /// Contact values (empty when absent).
    pub contact: Vec<NameAddr>,
    /// `Contact: *` (REGISTER only).
    pub contact_wildcard: bool,
    /// Route values in order.
    pub route: Vec<NameAddr>,
    /// Record-Route values in order.
    pub record_route: Vec<NameAddr>,
    /// Require option tags.
    pub require: Vec<String>,
    /// Supported option tags.
    pub supported: Vec<String>,
    /// Content-Type.
    pub content_type: Option<MediaType>,
    /// Date, verbatim (RFC 3261 §20.17 SIP-date).
    pub date: Option<String>,
    /// Expires, in seconds.
    pub expires: Option<u32>,
    /// OMA CPM Conversation-ID.
    pub conversation_id: Option<ConversationId>,
    /// OMA CPM Contribution-ID.
    pub contribution_id: Option<ContributionId>,
    /// OMA CPM InReplyTo-Contribution-ID (also read from `In-Reply-To-Contribution-ID`).
    pub in_reply_to_contribution_id: Option<ContributionId>,
    /// OMA CPM Session-Replaces: the Contribution-ID of the session being replaced.
    pub session_replaces: Option<ContributionId>,
    /// RFC 3891 Replaces values; more than one is an error the server answers with 400.
    pub replaces: Vec<Replaces>,
    /// RFC 3892 Referred-By; boxed, as it is rare (only a group's REFER and its
    /// INVITEs carry it) and a name-addr inline is 176 of the block's bytes, which
    /// every message moves and copies whole (issue 15, `bench/core_ir.sh`).
    pub referred_by: Option<Box<NameAddr>>,
    /// Accept-Contact values, verbatim.
    pub accept_contact: Vec<String>,
    /// Every other header, `(name as received, value)`, in arrival order.
    pub other: Vec<(String, String)>,
}

impl Headers {
    /// A header block with the five mandatory fields and nothing else.
    pub fn new(from: NameAddr, to: NameAddr, call_id: CallId, cseq: CSeq) -> Self {
        Self {
            via: Vec::new(),
            from,
            to,
            call_id,
            cseq,
            max_forwards: None,
            contact: Vec::new(),
            contact_wildcard: false,
            route: Vec::new(),
            record_route: Vec::new(),
            require: Vec::new(),
            supported: Vec::new(),
            content_type: None,
            date: None,
            expires: None,
            conversation_id: None,
            contribution_id: None,
            in_reply_to_contribution_id: None,
            session_replaces: None,
            replaces: Vec::new(),
            referred_by: None,
            accept_contact: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The first value of an untyped header, by case-insensitive name.
    pub fn other(&self, name: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `Require` lists an option tag.
    pub fn requires(&self, tag: &str) -> bool {
        self.require.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}
