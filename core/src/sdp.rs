//! Session descriptions as the server keeps them: the text as received plus the
//! media lines and attributes it acts on (MSRP path, setup, accept-types).
//!
//! Parsed by `wire::sdp` (on top of the `sdp-types` crate); the parser's own types
//! never leave `wire`.

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sdp {
    /// The body exactly as received; this is what the history stores.
    pub raw: String,
    /// `o=` unicast address (an IP literal or a host name).
    pub origin_address: String,
    /// Session-level `c=` address, if any.
    pub connection_address: Option<String>,
    /// Session-level attributes in order.
    pub attributes: Vec<SdpAttribute>,
    /// Media descriptions in order.
    pub media: Vec<SdpMedia>,
}

/// One `a=name[:value]` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SdpAttribute {
    /// Name (`path`, `setup`, `accept-types`, ...).
    pub name: String,
    /// Value after the colon, if any.
    pub value: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SdpMedia {
    /// Media type (`message`, `audio`, ...).
    pub media: String,
    /// Port.
    pub port: u16,
    /// Protocol (`TCP/MSRP`, `TCP/TLS/MSRP`, `RTP/AVP`, ...).
    pub proto: String,
    /// Format list (`*` for MSRP).
    pub formats: Vec<String>,
    /// Media-level `c=` address, if any.
    pub connection_address: Option<String>,
    /// Media-level attributes in order.
    pub attributes: Vec<SdpAttribute>,
}

impl SdpMedia {
    /// The first value of a media attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .and_then(|a| a.value.as_deref())
    }

    /// RFC 4975 `a=path`: the URIs, space-separated, in order.
    pub fn msrp_path(&self) -> Vec<&str> {
        self.attribute("path")
            .map(|p| p.split_ascii_whitespace().collect())
            .unwrap_or_default()
    }

    /// `m=message ... TCP/MSRP`.
    pub fn is_msrp(&self) -> bool {
        self.media.eq_ignore_ascii_case("message") && self.proto.eq_ignore_ascii_case("TCP/MSRP")
    }

    /// `m=message ... TCP/TLS/MSRP` (MSRP over TLS, RFC 4975 §14).
    pub fn is_msrp_tls(&self) -> bool {
        self.media.eq_ignore_ascii_case("message")
            && self.proto.eq_ignore_ascii_case("TCP/TLS/MSRP")
    }
}

impl Sdp {
    /// The first `m=message` section, if any.
    pub fn message_media(&self) -> Option<&SdpMedia> {
        self.media
            .iter()
            .find(|m| m.media.eq_ignore_ascii_case("message"))
    }

    /// The media-level attribute lines of every `m=` section, as `name[:value]`
    /// strings: what the claim calls "SDP attributes associated with media streams".
    pub fn media_attribute_lines(&self) -> Vec<String> {
        self.media
            .iter()
            .flat_map(|m| m.attributes.iter())
            .map(|a| match &a.value {
                Some(v) => format!("{}:{v}", a.name),
                None => a.name.clone(),
            })
            .collect()
    }
}
