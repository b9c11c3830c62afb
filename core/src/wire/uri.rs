//! URI text ⇄ [`Uri`]: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) and any
//! other absolute URI (kept verbatim), plus the RFC 3891 `Replaces` value.
//!
//! The parser is deliberately a little more lenient than the ABNF (it does not check
//! every character class) but it never accepts text that would print differently:
//! whitespace, control characters, non-ASCII and `<`, `>`, `"` are refused anywhere
//! in a URI, so a parsed URI can always be printed inside `<...>` or in a request
//! line and parsed back to the same value (`parse_uri(&print_uri(u)) == Ok(u)`).
//!
//! What it is *not*: no percent-decoding (user parts, parameters and URI headers stay
//! encoded as received; [`crate::uri::percent_decode`] is for comparisons), no DNS
//! or resolution logic, and no URI comparison rules (see [`crate::uri::UserUri`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::sink::{Measure, Sink};
use super::sip_decode::syntax::{ascii_table, cut, pieces};
use crate::ids::{CallId, Tag};
use crate::sip::Replaces;
use crate::uri::{Host, Param, SipUri, SipUriExtra, TelUri, Uri};

/// Why a URI (or a `Replaces` value) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix, or a scheme with characters outside RFC 3986's set.
    #[error("missing or invalid scheme")]
    Scheme,
    /// A character a URI may not contain (whitespace, control, non-ASCII, `<>"`).
    #[error("invalid character in uri")]
    Character,
    /// The host (or IPv6 reference) is empty or malformed.
    #[error("invalid host")]
    Host,
    /// The port is not a number in 0..=65535.
    #[error("invalid port")]
    Port,
    /// An empty user part, empty parameter name or empty number.
    #[error("empty {0}")]
    Empty(&'static str),
    /// A `Replaces` value without `to-tag`/`from-tag`, or with a malformed part.
    #[error("invalid replaces value: {0}")]
    Replaces(&'static str),
}

/// Parses an absolute URI. `sip`/`sips`/`tel` schemes are matched case-insensitively
/// and parsed into their structure; any other scheme yields [`Uri::Other`].
pub fn parse_uri(text: &str) -> Result<Uri, UriError> {
    if text.is_empty() || !text.bytes().all(|b| URI_BYTES[usize::from(b)]) {
        return Err(UriError::Character);
    }
    let (scheme, rest) = cut(text, b':').ok_or(UriError::Scheme)?;
    if !is_scheme(scheme) {
        return Err(UriError::Scheme);
    }
    if scheme.eq_ignore_ascii_case("sip") {
        parse_sip(rest, false).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("sips") {
        parse_sip(rest, true).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("tel") {
        parse_tel(rest).map(Uri::Tel)
    } else if rest.is_empty() {
        Err(UriError::Empty("uri body"))
    } else {
        Ok(Uri::Other(text.to_owned()))
    }
}

/// Whether `c` may appear in a URI we accept. Excluding `<>"` and whitespace is what
/// makes printing inside a name-addr or a request line unambiguous.
const fn is_uri_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"')
}

/// [`is_uri_char`] for each byte value: every URI received is checked whole, and
/// `chars().all` decoded each character first (`bench/core_ir.sh`, session 13).
static URI_BYTES: [bool; 256] = ascii_table!(is_uri_char);

/// RFC 3986 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `[userinfo@]hostport[;params][?headers]` after `sip:`.
fn parse_sip(rest: &str, secure: bool) -> Result<SipUri, UriError> {
    // The user part may itself contain `;` and `?` (RFC 3261 `user-unreserved`), so
    // the first `@` is what ends it; a host never contains `@`.
    let (userinfo, after) = match cut(rest, b'@') {
        Some((u, a)) => (Some(u), a),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        Some(u) => {
            let (user, password) = match cut(u, b':') {
                Some((user, pw)) => (user, Some(pw.to_owned())),
                None => (u, None),
            };
            if user.is_empty() {
                return Err(UriError::Empty("user"));
            }
            (Some(user.into()), password)
        }
        None => (None, None),
    };
    // Cut at the first `?` (headers), then the part before it at its first `;`
    // (parameters): one scan to the first of the two, where two cuts scanned the
    // host twice (`core/examples/decode_cost.rs`, session 15). The parts are parsed in
    // the same order as ever (headers, parameters, host), so the error is the same.
    let (hostport, params_text, headers_text) =
        match after.bytes().position(|b| b == b';' || b == b'?') {
            None => (after, None, None),
            Some(i) => {
                let hostport = after.get(..i).unwrap_or_default();
                let rest = after.get(i + 1..).unwrap_or_default();
                if after.as_bytes().get(i) == Some(&b'?') {
                    (hostport, None, Some(rest))
                } else {
                    match cut(rest, b'?') {
                        Some((p, h)) => (hostport, Some(p), Some(h)),
                        None => (hostport, Some(rest), None),
                    }
                }
            }
        };
    let headers = match headers_text {
        Some(h) => parse_uri_headers(h)?,
        None => Vec::new(),
    };
    let params = match params_text {
        Some(p) => parse_uri_params(p)?,
        None => Vec::new(),
    };
    let (host, port) = parse_host_port(hostport)?;
    Ok(SipUri {
        secure,
        user,
        host,
        port,
        params,
        extra: SipUriExtra::boxed(password, headers),
    })
}

/// `number[;params]` after `tel:`.
fn parse_tel(rest: &str) -> Result<TelUri, UriError> {
    let (number, params) = match cut(rest, b';') {
        Some((n, p)) => (n, parse_uri_params(p)?),
        None => (rest, Vec::new()),
    };
    if number.is_empty() {
        return Err(UriError::Empty("number"));
    }
    Ok(TelUri {
        number: number.to_owned(),
        params,
    })
}

/// `name[=value](;name[=value])*` of a URI (no quoting exists in URI parameters).
fn parse_uri_params(text: &str) -> Result<Vec<Param>, UriError> {
    pieces(text, b';')
        .map(|p| {
            let (name, value) = match cut(p, b'=') {
                Some((n, v)) => (n, Some(v.into())),
                None => (p, None),
            };
            if name.is_empty() {
                return Err(UriError::Empty("parameter name"));
            }
            Ok(Param {
                name: name.into(),
                value,
            })
        })
        .collect()
}

/// `hname=hvalue(&hname=hvalue)*`, kept percent-encoded; a missing `=` means an
/// empty value (printed back as `name=`).
fn parse_uri_headers(text: &str) -> Result<Vec<(String, String)>, UriError> {
    pieces(text, b'&')
        .map(|h| {
            let (name, value) = cut(h, b'=').unwrap_or((h, ""));
            if name.is_empty() {
                return Err(UriError::Empty("header name"));
            }
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// `host[:port]` where host is a name, an IPv4 literal or a bracketed IPv6 reference.
/// Shared with the Via `sent-by` parser. Names are lower-cased.
pub(crate) fn parse_host_port(text: &str) -> Result<(Host, Option<u16>), UriError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = cut(rest, b']').ok_or(UriError::Host)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| UriError::Host)?;
        (Host::V6(addr), after)
    } else {
        let end = text.bytes().position(|b| b == b':').unwrap_or(text.len());
        let (name, after) = text.split_at(end);
        (parse_host_name(name)?, after)
    };
    let port = match port.strip_prefix(':') {
        Some(p) => Some(parse_port(p)?),
        None if port.is_empty() => None,
        None => return Err(UriError::Host),
    };
    Ok((host, port))
}

/// A DNS name or an IPv4 literal.
fn parse_host_name(name: &str) -> Result<Host, UriError> {
    // Bytes, not characters: the allowed characters are ASCII and no byte of a
    // multi-byte character is.
    if name.is_empty() || !name.bytes().all(|b| HOST_BYTES[usize::from(b)]) {
        return Err(UriError::Host);
    }
    if let Some(v4) = parse_ipv4(name) {
        return Ok(Host::V4(v4));
    }
    Ok(Host::Name(lower_case(name)))
}

/// The characters of a host name (or IPv4 literal) we accept.
const fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// [`is_host_char`] for each byte value (one load per byte instead of four tests).
static HOST_BYTES: [bool; 256] = ascii_table!(is_host_char);

/// An IPv4 literal as `Ipv4Addr`'s `FromStr` reads one (four decimal octets of one
/// to three digits, no leading zero, each at most 255), read by hand: the standard
/// parser's set-up was ~170 instructions per address, and every Via, Contact and
/// Request-URI of the bench carries one (`bench/core_ir.sh`, session 12).
pub(crate) fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let bytes = text.as_bytes();
    if bytes.first().is_none_or(|b| !b.is_ascii_digit()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            if bytes.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let start = at;
        let mut value: u16 = 0;
        while let Some(d) = bytes.get(at).filter(|b| b.is_ascii_digit()) {
            if at - start == 3 {
                return None;
            }
            value = value * 10 + u16::from(d - b'0');
            at += 1;
        }
        let len = at - start;
        if len == 0 || (len > 1 && bytes.get(start) == Some(&b'0')) {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (at == bytes.len()).then(|| Ipv4Addr::from(octets))
}

/// `text` lower-cased, inline when short (no `String` made on the way).
pub(crate) fn lower_case(text: &str) -> compact_str::CompactString {
    let mut out = compact_str::CompactString::from(text);
    // Host names usually arrive in lower case: then the copy is the answer, without
    // the mutable access and the second pass (~50 instructions per name,
    // `core/examples/decode_cost.rs`, session 15).
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        out.make_ascii_lowercase();
    }
    out
}

/// A decimal port; digits only (no sign), at most 5 of them.
fn parse_port(text: &str) -> Result<u16, UriError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::Port);
    }
    text.parse().map_err(|_| UriError::Port)
}

/// Prints a URI canonically: scheme lower-cased, parameters and headers in order.
/// For every URI [`parse_uri`] returns, parsing the printed text gives it back.
/// Sized exactly (measured first): the text is often kept (`server::packed`).
pub fn print_uri(uri: &Uri) -> String {
    let mut size = Measure::default();
    write_uri(&mut size, uri);
    let mut out = String::with_capacity(size.0);
    write_uri(&mut out, uri);
    out
}

/// [`print_uri`] into `out` (the encoder writes a message into one buffer).
pub(crate) fn write_uri<S: Sink>(out: &mut S, uri: &Uri) {
    match uri {
        Uri::Sip(sip) => write_sip(out, sip),
        Uri::Tel(tel) => {
            out.text("tel:");
            out.text(&tel.number);
            push_uri_params(out, &tel.params);
        }
        Uri::Other(s) => out.text(s),
    }
}

/// A host as [`Host`]'s `Display` prints it, into `out`.
pub(crate) fn write_host<S: Sink>(out: &mut S, host: &Host) {
    match host {
        Host::Name(n) => out.text(n),
        Host::V4(a) => out.ipv4(*a),
        Host::V6(a) => out.ipv6_reference(*a),
    }
}

fn write_sip<S: Sink>(out: &mut S, sip: &SipUri) {
    out.text(if sip.secure { "sips:" } else { "sip:" });
    if let Some(user) = &sip.user {
        out.text(user);
        if let Some(pw) = sip.password() {
            out.ascii(b':');
            out.text(pw);
        }
        out.ascii(b'@');
    }
    write_host(out, &sip.host);
    if let Some(port) = sip.port {
        out.ascii(b':');
        out.decimal(u64::from(port));
    }
    push_uri_params(out, &sip.params);
    for (i, (name, value)) in sip.headers().iter().enumerate() {
        out.ascii(if i == 0 { b'?' } else { b'&' });
        out.text(name);
        out.ascii(b'=');
        out.text(value);
    }
}

fn push_uri_params<S: Sink>(out: &mut S, params: &[Param]) {
    for p in params {
        out.ascii(b';');
        out.text(&p.name);
        if let Some(v) = &p.value {
            out.ascii(b'=');
            out.text(v);
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_uri(self))
    }
}

/// Parses an RFC 3891 `Replaces` value: `call-id;to-tag=..;from-tag=..[;early-only]`.
/// Parameters may come in any order and their names are case-insensitive; unknown
/// parameters are ignored (RFC 3891 §6.1 allows extensions), repeated ones refused.
pub fn parse_replaces(text: &str) -> Result<Replaces, UriError> {
    let mut parts = text.split(';');
    let call_id = parts.next().unwrap_or("").trim();
    if call_id.is_empty() || !call_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(UriError::Replaces("call-id"));
    }
    let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part.trim(), None),
        };
        let slot = if name.eq_ignore_ascii_case("to-tag") {
            &mut to_tag
        } else if name.eq_ignore_ascii_case("from-tag") {
            &mut from_tag
        } else if name.eq_ignore_ascii_case("early-only") {
            early_only = true;
            continue;
        } else if name.is_empty() {
            return Err(UriError::Replaces("empty parameter"));
        } else {
            continue;
        };
        let value = value
            .filter(|v| is_tag(v))
            .ok_or(UriError::Replaces("tag value"))?;
        if slot.replace(Tag::new(value)).is_some() {
            return Err(UriError::Replaces("repeated tag"));
        }
    }
    Ok(Replaces {
        call_id: CallId::new(call_id),
        to_tag: to_tag.ok_or(UriError::Replaces("missing to-tag"))?,
        from_tag: from_tag.ok_or(UriError::Replaces("missing from-tag"))?,
        early_only,
    })
}

/// A tag is an RFC 3261 `token`.
fn is_tag(v: &str) -> bool {
    !v.is_empty() && v.chars().all(super::sip_decode::syntax::is_token_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The URI and host byte tables answer as the tests they replace, over any
        /// text and over text made of the characters near the tests' edges.
        #[test]
        fn uri_table_is_the_character_test(any in ".{0,12}", near in "[a-zA-Z0-9 \t\"<>@:;?=_.\\-\x7f\x00é]{0,12}") {
            for s in [&any, &near] {
                let by_bytes = s.bytes().all(|b| URI_BYTES[usize::from(b)]);
                proptest::prop_assert_eq!(by_bytes, s.chars().all(is_uri_char));
                let host_by_bytes = s.bytes().all(|b| HOST_BYTES[usize::from(b)]);
                let host_by_bytes_before = s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
                proptest::prop_assert_eq!(host_by_bytes, host_by_bytes_before);
            }
        }

        /// The hand-written IPv4 reader agrees with `Ipv4Addr`'s `FromStr`, over
        /// dotted digit runs (leading zeros, 4-digit octets, values past 255, missing
        /// or extra parts) and over any short text.
        #[test]
        fn ipv4_is_read_as_from_str_does(
            dotted in "[0-9]{0,4}(\\.[0-9]{0,4}){0,5}",
            addr in proptest::prelude::any::<u32>(),
            any in "[0-9.a-f:]{0,16}",
        ) {
            let printed = Ipv4Addr::from(addr).to_string();
            for text in [dotted.as_str(), printed.as_str(), any.as_str()] {
                proptest::prop_assert_eq!(parse_ipv4(text), text.parse::<Ipv4Addr>().ok(), "{}", text);
            }
        }

        /// The boxed rare parts (`SipUri::extra`): a URI with neither a password nor
        /// `?headers` decodes with no box (the one form of "none", so equal URIs have
        /// equal fields), one with either keeps exactly what the text held, and the
        /// printed URI reads back to the same value.
        #[test]
        fn rare_parts_decode_boxed_only_when_present_and_print_back(
            password in proptest::option::of("[a-z0-9]{0,6}"),
            headers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,8}", "[a-z0-9%]{0,6}"), 0..3),
            params in proptest::collection::vec("[a-z]{1,5}", 0..3),
        ) {
            let mut text = String::from("sip:alice");
            if let Some(pw) = &password {
                text.push(':');
                text.push_str(pw);
            }
            text.push_str("@example.com");
            for p in &params {
                text.push(';');
                text.push_str(p);
            }
            for (i, (name, value)) in headers.iter().enumerate() {
                text.push(if i == 0 { '?' } else { '&' });
                text.push_str(name);
                text.push('=');
                text.push_str(value);
            }
            let uri = parse_uri(&text).expect("a valid URI");
            let Uri::Sip(sip) = &uri else { panic!("{text}: not sip") };
            proptest::prop_assert_eq!(sip.extra.is_some(), password.is_some() || !headers.is_empty());
            proptest::prop_assert_eq!(sip.password(), password.as_deref());
            proptest::prop_assert_eq!(sip.headers(), headers.as_slice());
            proptest::prop_assert_eq!(sip.params.len(), params.len());
            proptest::prop_assert_eq!(print_uri(&uri), text.clone());
            proptest::prop_assert_eq!(parse_uri(&print_uri(&uri)), Ok(uri.clone()));
            // The Request-URI form drops the headers and keeps the password.
            let Uri::Sip(target) = uri.to_request_uri() else { panic!("not sip") };
            proptest::prop_assert!(target.headers().is_empty());
            proptest::prop_assert_eq!(target.password(), password.as_deref());
            proptest::prop_assert_eq!(target.extra.is_some(), password.is_some());
        }
    }

    fn sip(text: &str) -> SipUri {
        match parse_uri(text) {
            Ok(Uri::Sip(s)) => s,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn round_trip(text: &str) {
        let uri = parse_uri(text).unwrap();
        let printed = print_uri(&uri);
        assert_eq!(parse_uri(&printed).unwrap(), uri, "{text} -> {printed}");
    }

    #[test]
    fn dotted_user_and_lower_cased_host() {
        let u = sip("sip:alice.smith@Example.COM");
        assert_eq!(u.user.as_deref(), Some("alice.smith"));
        assert_eq!(u.host, Host::Name("example.com".into()));
        assert!(!u.secure && u.port.is_none() && u.password().is_none());
    }

    #[test]
    fn ipv6_reference_with_port_and_password() {
        let u = sip("sips:bob:secret@[2001:db8::1]:5061");
        assert!(u.secure);
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
    }

    #[test]
    fn params_and_headers_keep_order_and_encoding() {
        let u = sip("sip:+15551234567@h;user=phone;transport=tcp;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6;lr?Replaces=a%40b%3Bto-tag%3D1&x=");
        let names: Vec<_> = u.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["user", "transport", "gr", "lr"]);
        assert_eq!(
            u.params[2].value.as_deref(),
            Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
        );
        assert_eq!(u.params[3].value, None);
        assert_eq!(
            u.headers(),
            [
                ("Replaces".to_owned(), "a%40b%3Bto-tag%3D1".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn ipv4_host_and_tel_and_other() {
        assert_eq!(
            sip("sip:10.0.0.1:5060").host,
            Host::V4("10.0.0.1".parse().unwrap())
        );
        let tel = parse_uri("tel:+1-555-123-4567;phone-context=example.com").unwrap();
        let Uri::Tel(tel) = tel else { panic!() };
        assert_eq!(tel.number, "+1-555-123-4567");
        assert_eq!(tel.params[0].value.as_deref(), Some("example.com"));
        assert_eq!(
            parse_uri("urn:uuid:abc").unwrap(),
            Uri::Other("urn:uuid:abc".into())
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "alice",
            "sip:",
            "sip:@host",
            "sip:a b@host",
            "sip:host:99999",
            "sip:host:+5",
            "sip:[::1",
            "sip:[zz]",
            "sip:host;;lr",
            "sip:host>",
            "1sip:x",
            "tel:",
            "mailto:",
            "sip:héllo@x",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn printing_round_trips() {
        for text in [
            "sip:alice.smith@example.com",
            "SIPS:Bob:pw@[2001:DB8::1]:5061;transport=tls",
            "sip:alice;day=tuesday@atlanta.com",
            "sip:proxy.example.com;lr",
            "sip:a@b?subject=x&priority=urgent",
            "tel:+15551234567",
            "im:alice@example.com",
        ] {
            round_trip(text);
        }
        assert_eq!(
            print_uri(&parse_uri("SIP:Alice@EXAMPLE.com:5060;Transport=TCP").unwrap()),
            "sip:Alice@example.com:5060;Transport=TCP"
        );
        assert_eq!(
            parse_uri("tel:+1555").unwrap().to_string(),
            "tel:+1555",
            "Display delegates to print_uri"
        );
    }

    #[test]
    fn replaces_in_any_order() {
        let r = parse_replaces("425928@bobster.example.org;From-Tag=7743; to-tag=6472;early-only")
            .unwrap();
        assert_eq!(r.call_id.as_str(), "425928@bobster.example.org");
        assert_eq!(r.to_tag.as_str(), "6472");
        assert_eq!(r.from_tag.as_str(), "7743");
        assert!(r.early_only);
        let r = parse_replaces("abc;to-tag=1;from-tag=2;x=y").unwrap();
        assert!(!r.early_only);
        for bad in [
            "",
            ";to-tag=1;from-tag=2",
            "abc;to-tag=1",
            "abc;from-tag=2",
            "abc;to-tag=;from-tag=2",
            "abc;to-tag=1;to-tag=3;from-tag=2",
            "a b;to-tag=1;from-tag=2",
        ] {
            assert!(parse_replaces(bad).is_err(), "{bad}");
        }
    }
}
