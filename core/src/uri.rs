//! URIs (`sip:`, `sips:`, `tel:`) and the normalised user identity [`UserUri`].
//!
//! These are the core's own types; the wire layer parses text into them
//! (`wire::uri`) and prints them back. Parameters keep their order so that a URI the
//! server relays is printed as it arrived.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use compact_str::CompactString;

/// One `;name[=value]` parameter of a URI or header.
///
/// Names and values are [`CompactString`]s: held inline up to 24 bytes (a tag, a
/// branch, `transport=tcp`, `lr`), so decoding a message or copying one allocates
/// nothing for them; a longer value goes to the heap as a `String` would. They read
/// as `&str` (`Deref`), so code that only looks at them is as with `String`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Param {
    /// Parameter name, as received (compared case-insensitively).
    pub name: CompactString,
    /// Value, if any, as received (quotes kept for quoted-string values).
    pub value: Option<CompactString>,
}

impl Param {
    /// A `name=value` parameter.
    pub fn new(name: impl Into<CompactString>, value: Option<impl Into<CompactString>>) -> Self {
        Self {
            name: name.into(),
            value: value.map(Into::into),
        }
    }
}

/// Finds a parameter by case-insensitive name.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The value of a parameter by case-insensitive name (`None` when absent or valueless).
pub fn param_value<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    find_param(params, name).and_then(|p| p.value.as_deref())
}

/// Host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A DNS name, lower-cased (host names compare case-insensitively); inline up to
    /// 24 bytes, as [`Param`]'s parts.
    Name(CompactString),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 reference (printed in brackets).
    V6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, still percent-encoded as received (`alice.smith`, `+15551234567`);
    /// inline up to 24 bytes, as [`Param`]'s parts.
    pub user: Option<CompactString>,
    /// Host.
    pub host: Host,
    /// Port, when given.
    pub port: Option<u16>,
    /// URI parameters in order (`transport`, `user`, `gr`, `method`, ...).
    pub params: Vec<Param>,
    /// The parts a URI seldom has (a password, `?headers`), boxed: `None` when it has
    /// neither (never `Some` of empty parts, so equal URIs have equal fields; build it
    /// with [`SipUriExtra::boxed`]). Inline they were 48 of a URI's 128 bytes, and a
    /// message holds three URIs (Request-URI, From, To) that it moves and copies
    /// whole (issue 15, `bench/core_ir.sh`).
    pub extra: Option<Box<SipUriExtra>>,
}

/// The rare parts of a [`SipUri`], behind one box.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipUriExtra {
    /// Password part (deprecated by RFC 3261, accepted and kept).
    pub password: Option<String>,
    /// URI headers (`?Session-Replaces=...`), names and values still percent-encoded.
    pub headers: Vec<(String, String)>,
}

impl SipUriExtra {
    /// The boxed parts, or `None` when there are none (the one form of "none").
    pub fn boxed(password: Option<String>, headers: Vec<(String, String)>) -> Option<Box<Self>> {
        (password.is_some() || !headers.is_empty()).then(|| Box::new(Self { password, headers }))
    }
}

impl SipUri {
    /// The password part, if any.
    pub fn password(&self) -> Option<&str> {
        self.extra.as_ref()?.password.as_deref()
    }

    /// The URI headers (`?name=value&...`), in order; empty when there are none.
    pub fn headers(&self) -> &[(String, String)] {
        self.extra.as_ref().map_or(&[], |e| &e.headers)
    }
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TelUri {
    /// The number as received, e.g. `+1-555-123-4567` or `5551234;phone-context=...`.
    pub number: String,
    /// Parameters in order.
    pub params: Vec<Param>,
}

/// Any URI the server may meet in a request line or an address header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Uri {
    /// `sip:` / `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Any other absolute URI (`urn:`, `mailto:`, `im:` ...), kept verbatim.
    Other(String),
}

impl Uri {
    /// The SIP URI inside, if it is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(s) => Some(s),
            Uri::Tel(_) | Uri::Other(_) => None,
        }
    }

    /// This URI as the Request-URI of a request sent to it: without its escaped
    /// headers (`?h=v`), which RFC 3261 §19.1.1 (Table 1) does not allow in a
    /// Request-URI and our decoder refuses there (RFC 4475 §3.1.2.11). A Contact or
    /// binding may carry them; a request built from it must still read back (LIM-10,
    /// found by the `server` fuzz target: a callee's Contact `<sip:bob@host?5060>`
    /// became the Request-URI of the server's ACK).
    pub fn to_request_uri(&self) -> Uri {
        match self {
            Uri::Sip(s) if !s.headers().is_empty() => Uri::Sip(SipUri {
                extra: SipUriExtra::boxed(s.password().map(str::to_owned), Vec::new()),
                user: s.user.clone(),
                host: s.host.clone(),
                params: s.params.clone(),
                ..*s
            }),
            Uri::Sip(_) | Uri::Tel(_) | Uri::Other(_) => self.clone(),
        }
    }
}

/// A normalised user identity (an address-of-record), compared after normalisation
/// (specs/registration.md): `tel:+15551234567` and `sip:+15551234567@example.com;user=phone`
/// are the same user; `sip:` and `sips:` name the same user; host names compare
/// case-insensitively; user parts compare exactly (after percent-decoding).
///
/// The text is shared (`Arc<str>`): a user's identity is copied into every leg,
/// session and record that names them, and a copy is a count, not a string (issue
/// 15's bytes per idle session). Order, equality and hash are the text's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserUri(std::sync::Arc<str>);

impl UserUri {
    /// Normalises a URI into an identity; `None` for a URI that names no user (no
    /// user part, or an unsupported scheme).
    pub fn from_uri(uri: &Uri) -> Option<Self> {
        match uri {
            Uri::Sip(sip) => {
                let user = percent_decode(sip.user.as_deref()?);
                let phone = param_value(&sip.params, "user")
                    .is_some_and(|v| v.eq_ignore_ascii_case("phone"));
                if phone && user.starts_with('+') {
                    if let Some(number) = global_number(&user) {
                        return Some(Self(format!("tel:{number}").into()));
                    }
                }
                // Built by hand, not with `format!` and the host's `Display`: every
                // request names its parties (~1,500 instructions per session).
                let mut text = String::with_capacity(4 + user.len() + 1 + 24);
                text.push_str("sip:");
                text.push_str(&user);
                text.push('@');
                match &sip.host {
                    Host::Name(n) => text.push_str(n),
                    Host::V4(a) => crate::decimal::push_ipv4(&mut text, *a),
                    Host::V6(a) => {
                        use std::fmt::Write as _;
                        // Writing to a String cannot fail.
                        let _ = write!(text, "[{a}]");
                    }
                }
                Some(Self(text.into()))
            }
            Uri::Tel(tel) => {
                let number = global_number(&tel.number).unwrap_or_else(|| tel.number.clone());
                Some(Self(format!("tel:{number}").into()))
            }
            Uri::Other(_) => None,
        }
    }

    /// The canonical text (`sip:user@host` or `tel:+digits`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds an identity from its canonical text (tests, configuration).
    pub fn new_canonical(text: impl Into<String>) -> Self {
        Self(text.into().into())
    }

    /// The user name: the part before `@` of a SIP identity, or the number of a tel:
    /// identity. This is how a user is named in configuration and IMAP logins.
    pub fn user_name(&self) -> &str {
        let rest = self
            .0
            .strip_prefix("sip:")
            .or_else(|| self.0.strip_prefix("tel:"))
            .unwrap_or(&self.0);
        rest.split('@').next().unwrap_or(rest)
    }
}

impl fmt::Display for UserUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `+1-555-123.4567` → `+15551234567`; `None` unless it is a global number (a `+`
/// followed by digits and RFC 3966 visual separators only).
fn global_number(text: &str) -> Option<String> {
    let digits = text.strip_prefix('+')?;
    let mut out = String::from("+");
    for c in digits.chars() {
        match c {
            '0'..='9' => out.push(c),
            '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (out.len() > 1).then_some(out)
}

/// Decodes `%XX` escapes; malformed escapes are kept literally (a user part is an
/// identifier, not a place to reject input).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(user: &str, host: &str, params: &[(&str, Option<&str>)]) -> Uri {
        Uri::Sip(SipUri {
            secure: false,
            user: Some(user.into()),
            host: Host::Name(host.into()),
            port: None,
            params: params
                .iter()
                .map(|(n, v)| Param::new(*n, v.map(str::to_owned)))
                .collect(),
            extra: None,
        })
    }

    #[test]
    fn tel_and_user_phone_are_the_same_user() {
        let tel = Uri::Tel(TelUri {
            number: "+1-555-123-4567".into(),
            params: vec![],
        });
        let phone = sip("+15551234567", "example.com", &[("user", Some("phone"))]);
        assert_eq!(UserUri::from_uri(&tel), UserUri::from_uri(&phone));
        assert_eq!(
            UserUri::from_uri(&tel).unwrap().as_str(),
            "tel:+15551234567"
        );
    }

    #[test]
    fn sip_identity_keeps_dotted_user_and_decodes_escapes() {
        let u = UserUri::from_uri(&sip("alice%2Esmith", "example.com", &[])).unwrap();
        assert_eq!(u.as_str(), "sip:alice.smith@example.com");
        assert_eq!(u.user_name(), "alice.smith");
    }

    /// The identity's host is printed as the host's `Display` prints it, for each
    /// kind of host.
    #[test]
    fn sip_identity_prints_every_kind_of_host_as_display() {
        for host in [
            Host::Name("example.com".into()),
            Host::V4(Ipv4Addr::new(10, 0, 100, 255)),
            Host::V6("2001:db8::1".parse().unwrap()),
        ] {
            let mut uri = sip("alice", "x", &[]);
            if let Uri::Sip(s) = &mut uri {
                s.host = host.clone();
            }
            let u = UserUri::from_uri(&uri).unwrap();
            assert_eq!(u.as_str(), format!("sip:alice@{host}"));
        }
    }

    #[test]
    fn a_request_uri_has_no_headers() {
        let mut with = sip("bob", "10.0.0.2", &[("transport", Some("tcp"))]);
        if let Uri::Sip(s) = &mut with {
            s.extra = SipUriExtra::boxed(None, vec![("5060".into(), String::new())]);
        }
        let target = with.to_request_uri();
        assert_eq!(
            target,
            sip("bob", "10.0.0.2", &[("transport", Some("tcp"))])
        );
        assert_eq!(target.to_request_uri(), target);
    }

    #[test]
    fn percent_decode_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        assert_eq!(percent_decode("%41b"), "Ab");
    }
}

#[cfg(test)]
mod normalisation_props {
    //! REG-4 as properties: normalisation is stable and the equivalent spellings of one
    //! user compare equal.
    use super::*;
    use proptest::prelude::*;

    fn sip_user(user: &str, host: &str, secure: bool, phone: bool) -> Uri {
        Uri::Sip(SipUri {
            secure,
            user: Some(user.into()),
            host: Host::Name(crate::wire::uri::lower_case(host)),
            port: None,
            params: if phone {
                vec![Param::new("user", Some("phone"))]
            } else {
                Vec::new()
            },
            extra: None,
        })
    }

    proptest! {
        #[test]
        fn sip_and_sips_name_the_same_user(user in "[a-z][a-z0-9.]{0,12}", host in "[a-z]{1,8}\\.(com|org)") {
            prop_assert_eq!(
                UserUri::from_uri(&sip_user(&user, &host, false, false)),
                UserUri::from_uri(&sip_user(&user, &host, true, false))
            );
        }

        #[test]
        fn tel_and_user_phone_agree_whatever_the_separators(
            digits in "[0-9]{4,14}",
            seps in proptest::collection::vec(prop::sample::select(vec!["", "-", ".", ""]), 14),
        ) {
            let mut spaced = String::from("+");
            for (i, d) in digits.chars().enumerate() {
                spaced.push(d);
                spaced.push_str(seps[i % seps.len()]);
            }
            let tel = Uri::Tel(TelUri { number: spaced, params: Vec::new() });
            let phone = sip_user(&format!("+{digits}"), "example.com", false, true);
            let a = UserUri::from_uri(&tel);
            prop_assert_eq!(&a, &UserUri::from_uri(&phone));
            // Normalising the canonical form again changes nothing.
            let canonical = a.expect("a global number");
            let again = Uri::Tel(TelUri { number: canonical.as_str()["tel:".len()..].to_owned(), params: Vec::new() });
            prop_assert_eq!(UserUri::from_uri(&again), Some(canonical));
        }
    }
}
