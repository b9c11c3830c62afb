//! SIP request methods.

use std::fmt;

/// The methods the server implements, for the `Allow` header of its 200 to OPTIONS,
/// its 405 and 501 answers (RFC 3261 §8.2.1, §11.2) and the focus's INVITE and 200:
/// SUBSCRIBE, NOTIFY and REFER are the focus's conference event package and
/// participant management (RFC 4575, RFC 3515; specs/group.md, GRP-30).
pub const ALLOW: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, SUBSCRIBE, NOTIFY, REFER";

/// [`ALLOW`] without `refused`: the `Allow` of a 405 lists what the addressed
/// resource does accept, so never the method it refused (RFC 3261 §21.4.6).
pub fn allow_without(refused: &Method) -> String {
    ALLOW
        .split(", ")
        .filter(|m| *m != refused.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A SIP method (RFC 3261 §7.1 and extensions). Unknown methods are kept, so that
/// the server can answer them with 501 / 405 instead of failing to parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// RFC 3261.
    Invite,
    /// RFC 3261.
    Ack,
    /// RFC 3261.
    Bye,
    /// RFC 3261.
    Cancel,
    /// RFC 3261.
    Register,
    /// RFC 3261.
    Options,
    /// RFC 3428 pager-mode messaging.
    Message,
    /// RFC 3311.
    Update,
    /// RFC 6086.
    Info,
    /// RFC 3262.
    Prack,
    /// RFC 6665.
    Subscribe,
    /// RFC 6665.
    Notify,
    /// RFC 3515.
    Refer,
    /// RFC 3903.
    Publish,
    /// Any other token, as received (methods are case-sensitive).
    Other(String),
}

impl Method {
    /// Parses a method token (case-sensitive, as RFC 3261 §7.1 requires).
    pub fn from_token(token: &str) -> Self {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The token as printed on the wire.
    pub fn as_str(&self) -> &str {
        if let Method::Other(s) = self {
            return s;
        }
        self.known_token().unwrap_or_default()
    }

    /// The token of a method the server knows (`None` for [`Method::Other`]): a
    /// `'static` name, e.g. for metric labels that a peer must not multiply.
    pub fn known_token(&self) -> Option<&'static str> {
        Some(match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Publish => "PUBLISH",
            Method::Other(_) => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
