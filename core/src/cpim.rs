//! CPIM (RFC 3862, `message/cpim`) values: the envelope RCS terminals wrap every chat
//! message and every IMDN (RFC 5438) in, over MSRP and in pager-mode MESSAGEs.
//!
//! A [`CpimMessage`] is the two header blocks of the wrapper (the CPIM *message
//! headers* — `From`, `To`, `DateTime`, `NS`, `imdn.Message-ID`, ... — then the MIME
//! *content headers*) and the inner content's bytes. Header values are kept exactly
//! as written (trimmed), escapes included: [`unescape`] turns an RFC 3862 §3.1 escaped
//! value into text when someone needs to show it. The byte codec is
//! [`crate::wire::cpim_codec`].
//!
//! What it is *not*: no validation of URIs or dates (the accessors return the text
//! as written; [`addr_uri`] only strips a formal name and the angle brackets), no
//! IMDN body parsing (see [`crate::wire::imdn`]), and no identity: the CPIM `From`
//! is whatever the terminal wrote (RCS often writes `<sip:anonymous@anonymous.invalid>`);
//! the server's notion of the sender is the authenticated SIP identity.

use std::borrow::Cow;

/// The namespace URN of the IMDN CPIM headers (RFC 5438 §6.2), declared with
/// `NS: imdn <urn:ietf:params:imdn>`.
pub const IMDN_NAMESPACE: &str = "urn:ietf:params:imdn";

/// One decoded `message/cpim` body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpimMessage {
    /// The message headers, in order (From, To, DateTime, NS, prefixed headers...).
    pub headers: Vec<CpimHeader>,
    /// The inner content's `Content-Type` value as written (`text/plain;charset=UTF-8`).
    pub content_type: String,
    /// The other content headers (`Content-Length`, `Content-Disposition`, ...), in
    /// order, without `Content-Type`.
    pub content_headers: Vec<(String, String)>,
    /// The inner content, byte for byte.
    pub body: Vec<u8>,
}

/// One CPIM message header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpimHeader {
    /// The name with its namespace prefix as written, e.g. `imdn.Message-ID`.
    pub name: String,
    /// The value as written, leading and trailing blanks removed, escapes kept
    /// (header parameters such as `;lang=fr` stay at its front).
    pub value: String,
}

impl CpimHeader {
    /// A header.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl CpimMessage {
    /// The values of every message header with an unprefixed `name` (names compare
    /// ASCII case-insensitively: some terminals write `Datetime`).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        values(&self.headers, name)
    }

    /// The `From` value as written (`Alice <sip:alice@example.com>`); see [`addr_uri`].
    pub fn from(&self) -> Option<&str> {
        self.header_values("From").next()
    }

    /// Every `To` value as written, in order (a group IMDN names the original sender).
    pub fn to(&self) -> Vec<&str> {
        self.header_values("To").collect()
    }

    /// The `DateTime` value as written (RFC 3339).
    pub fn datetime(&self) -> Option<&str> {
        self.header_values("DateTime").next()
    }

    /// The prefixes `NS` headers declare for the namespace `urn` (e.g. `imdn` for
    /// [`IMDN_NAMESPACE`]), in order.
    pub fn prefixes_of<'a>(&'a self, urn: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        prefixes_of(&self.headers, urn)
    }

    /// The values of the headers named `name` in the namespace `urn`, whatever prefix
    /// the message declared for it. Headers in no declared namespace are not matched,
    /// except for the IMDN namespace, whose conventional prefix `imdn` is accepted
    /// when the message declares no prefix for it and does not bind `imdn` to some
    /// other namespace (terminals that forget the `NS` header exist).
    pub fn ns_header_values<'a>(&'a self, urn: &'a str, name: &'a str) -> Vec<&'a str> {
        ns_values(&self.headers, urn, name).collect()
    }

    /// The IMDN `Message-ID` (RFC 5438 §6.3), under whatever prefix `NS` declared for
    /// `urn:ietf:params:imdn`.
    pub fn imdn_message_id(&self) -> Option<&str> {
        ns_values(&self.headers, IMDN_NAMESPACE, "Message-ID").next()
    }

    /// The notifications the sender asked for (`positive-delivery`, `display`, ...),
    /// from every IMDN `Disposition-Notification` header, split at commas.
    pub fn disposition_notification(&self) -> Vec<&str> {
        ns_values(&self.headers, IMDN_NAMESPACE, "Disposition-Notification")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether the content is an IMDN (`message/imdn+xml`).
    pub fn is_imdn(&self) -> bool {
        is_imdn_type(&self.content_type)
    }
}

/// A `message/cpim` body's header blocks borrowed from the body, and its content as
/// a slice of it: what the MSRP relay reads of every chat message without copying
/// a header ([`crate::wire::cpim_codec::decode_head`]). The accessors are
/// [`CpimMessage`]'s, over the same rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpimHead<'a> {
    /// The message headers `(name, value)`, in order, values trimmed.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The inner content's `Content-Type` value (owned only when it was folded).
    pub content_type: Cow<'a, str>,
    /// The other content headers, in order (a folded value is owned).
    pub content_headers: Vec<(&'a str, Cow<'a, str>)>,
    /// The inner content, byte for byte.
    pub content: &'a [u8],
}

impl<'a> CpimHead<'a> {
    /// The `From` value as written; see [`CpimMessage::from`].
    pub fn from(&self) -> Option<&'a str> {
        values(&self.headers, "From").next()
    }

    /// The `To` values as written, in order.
    pub fn to(&self) -> impl Iterator<Item = &'a str> + '_ {
        values(&self.headers, "To")
    }

    /// The IMDN `Message-ID`; see [`CpimMessage::imdn_message_id`].
    pub fn imdn_message_id(&self) -> Option<&'a str> {
        ns_values(&self.headers, IMDN_NAMESPACE, "Message-ID").next()
    }

    /// Whether the content is an IMDN (`message/imdn+xml`).
    pub fn is_imdn(&self) -> bool {
        is_imdn_type(&self.content_type)
    }
}

/// A message header as the accessors read it: owned ([`CpimHeader`]) or borrowed
/// from the body (`(&str, &str)`, [`CpimHead`]).
trait Header<'a> {
    fn name(&self) -> &'a str;
    fn value(&self) -> &'a str;
}

impl<'a> Header<'a> for &'a CpimHeader {
    fn name(&self) -> &'a str {
        &self.name
    }
    fn value(&self) -> &'a str {
        &self.value
    }
}

impl<'a> Header<'a> for &(&'a str, &'a str) {
    fn name(&self) -> &'a str {
        self.0
    }
    fn value(&self) -> &'a str {
        self.1
    }
}

/// The values of the headers named `name` (ASCII case-insensitively).
fn values<'a, 'h, H>(headers: &'h [H], name: &'h str) -> impl Iterator<Item = &'a str> + 'h
where
    &'h H: Header<'a>,
{
    headers
        .iter()
        .filter(move |h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value())
}

/// The prefixes `NS` headers declare for `urn`, in order.
fn prefixes_of<'a, 'h, H>(headers: &'h [H], urn: &'h str) -> impl Iterator<Item = &'a str> + 'h
where
    &'h H: Header<'a>,
{
    values(headers, "NS").filter_map(move |v| match parse_ns(v) {
        Some((Some(prefix), u)) if u == urn => Some(prefix),
        _ => None,
    })
}

/// Whether some `NS` header binds `prefix` (to any namespace).
fn binds_prefix<'a, 'h, H>(headers: &'h [H], prefix: &str) -> bool
where
    &'h H: Header<'a>,
{
    values(headers, "NS").any(|v| {
        parse_ns(v).is_some_and(|(p, _)| p.is_some_and(|p| p.eq_ignore_ascii_case(prefix)))
    })
}

/// The values of the headers named `name` in the namespace `urn`; the rules of
/// [`CpimMessage::ns_header_values`]. The declared prefixes are looked up again for
/// each prefixed header rather than collected (no allocation per message: a CPIM
/// body has a handful of headers).
fn ns_values<'a, 'h, H>(
    headers: &'h [H],
    urn: &'h str,
    name: &'h str,
) -> impl Iterator<Item = &'a str> + 'h
where
    &'h H: Header<'a>,
{
    let declared = prefixes_of(headers, urn).next().is_some();
    let implicit_imdn = !declared && urn == IMDN_NAMESPACE && !binds_prefix(headers, "imdn");
    headers
        .iter()
        .filter(move |h| {
            split_at_byte(h.name(), b'.').is_some_and(|(p, n)| {
                n.eq_ignore_ascii_case(name)
                    && if declared {
                        prefixes_of(headers, urn).any(|q| q.eq_ignore_ascii_case(p))
                    } else {
                        implicit_imdn && p.eq_ignore_ascii_case("imdn")
                    }
            })
        })
        .map(|h| h.value())
}

/// Whether a content type's essence is `message/imdn+xml`.
fn is_imdn_type(content_type: &str) -> bool {
    essence(content_type).eq_ignore_ascii_case("message/imdn+xml")
}

/// A content type without its parameters, trimmed (`text/plain` of `text/plain;
/// charset=utf-8`). The `;` found over the bytes: a `char` pattern's searcher cost
/// the MSRP relay ~150 instructions per call, four calls per message.
pub(crate) fn essence(content_type: &str) -> &str {
    trim(split_at_byte(content_type, b';').map_or(content_type, |(ty, _)| ty))
}

/// `s.trim()` (Unicode whitespace off both ends), its usual case over the bytes:
/// the ASCII whitespace `str::trim` strips (HT, LF, VT, FF, CR, SP) cut off, and
/// `str::trim` itself only when what is left starts or ends with a non-ASCII
/// character (which may be Unicode whitespace). `str::trim` decodes a character
/// at each end and tests its property (~70 instructions a call; the relay trims
/// every CPIM header value of every message).
pub(crate) fn trim(s: &str) -> &str {
    let ws = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let b = s.as_bytes();
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    let cut = s.get(start..end).unwrap_or_default();
    match (cut.as_bytes().first(), cut.as_bytes().last()) {
        (Some(f), Some(l)) if !f.is_ascii() || !l.is_ascii() => cut.trim(),
        _ => cut,
    }
}

/// `s.split_once(byte as char)` for an ASCII `byte`, found over the bytes (the
/// pieces are whole text: an ASCII byte is never inside a multi-byte character).
fn split_at_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == byte)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// Splits an `NS` value `[prefix SP] "<" URN ">"` into its prefix and URN.
fn parse_ns(value: &str) -> Option<(Option<&str>, &str)> {
    let (before, rest) = split_at_byte(value, b'<')?;
    let urn = trim(rest.strip_suffix('>')?);
    let prefix = trim(before);
    Some(((!prefix.is_empty()).then_some(prefix), urn))
}

/// The URI of a CPIM address value `[Formal-name] "<" URI ">"` (`From`, `To`, `cc`):
/// the text between the angle brackets, or the whole value trimmed when it has none.
pub fn addr_uri(value: &str) -> &str {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim(),
        _ => value.trim(),
    }
}

/// Resolves the RFC 3862 §3.1 escapes of a header value (`\\`, `\"`, `\'`, `\b`,
/// `\t`, `\n`, `\r`, `\uXXXX`). A backslash that starts no valid escape stays as
/// written (the grammar lets a plain `\` through as a header character).
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (ch, used) = match tail.as_bytes().first() {
            Some(b'\\') => (Some('\\'), 1),
            Some(b'"') => (Some('"'), 1),
            Some(b'\'') => (Some('\''), 1),
            Some(b'b') => (Some('\u{8}'), 1),
            Some(b't') => (Some('\t'), 1),
            Some(b'n') => (Some('\n'), 1),
            Some(b'r') => (Some('\r'), 1),
            Some(b'u') => (
                tail.get(1..5)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32),
                5,
            ),
            _ => (None, 0),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    /// `trim` cuts what `str::trim` cuts: ASCII whitespace (VT included, which
    /// `u8::is_ascii_whitespace` leaves), Unicode whitespace at either end, and
    /// nothing inside.
    #[test]
    fn trim_is_str_trim() {
        let samples = [
            "",
            " ",
            "\t\r\n\x0b\x0c ",
            "a",
            " a ",
            "\ta b\t",
            "\x0ba\x0b",
            "\u{a0}a\u{a0}",
            " \u{3000}caf\u{e9} \u{2003}",
            "caf\u{e9}",
            "\u{e9}",
            "\u{85}x",
            "x\u{1680}",
            " <sip:alice@example.com> ",
        ];
        for s in samples {
            assert_eq!(super::trim(s), s.trim(), "{s:?}");
        }
    }

    use super::*;

    fn msg(headers: &[(&str, &str)], content_type: &str) -> CpimMessage {
        CpimMessage {
            headers: headers
                .iter()
                .map(|(n, v)| CpimHeader::new(*n, *v))
                .collect(),
            content_type: content_type.into(),
            content_headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn accessors_read_the_usual_headers() {
        let m = msg(
            &[
                ("From", "Alice <sip:alice@example.com>"),
                ("To", "<sip:bob@example.com>"),
                ("To", "<sip:carol@example.com>"),
                ("datetime", "2024-01-02T03:04:05Z"),
                ("NS", "imdn <urn:ietf:params:imdn>"),
                ("imdn.Message-ID", "m1"),
                (
                    "imdn.Disposition-Notification",
                    "positive-delivery, display",
                ),
            ],
            "text/plain;charset=UTF-8",
        );
        assert_eq!(m.from(), Some("Alice <sip:alice@example.com>"));
        assert_eq!(addr_uri(m.from().unwrap()), "sip:alice@example.com");
        assert_eq!(m.to(), ["<sip:bob@example.com>", "<sip:carol@example.com>"]);
        assert_eq!(m.datetime(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(m.imdn_message_id(), Some("m1"));
        assert_eq!(
            m.disposition_notification(),
            ["positive-delivery", "display"]
        );
        assert!(!m.is_imdn());
    }

    #[test]
    fn imdn_prefix_is_resolved_through_ns() {
        let m = msg(
            &[
                ("NS", "x <urn:ietf:params:imdn>"),
                ("imdn.Message-ID", "not-this"),
                ("x.Message-ID", "this"),
            ],
            "Message/IMDN+xml; charset=utf-8",
        );
        assert_eq!(m.imdn_message_id(), Some("this"));
        assert!(m.is_imdn());
        // `imdn` bound to another namespace is not the IMDN namespace.
        let other = msg(
            &[
                ("NS", "imdn <urn:example:other>"),
                ("imdn.Message-ID", "no"),
            ],
            "text/plain",
        );
        assert_eq!(other.imdn_message_id(), None);
        // No NS at all: the conventional prefix is accepted.
        let bare = msg(&[("imdn.Message-ID", "yes")], "text/plain");
        assert_eq!(bare.imdn_message_id(), Some("yes"));
    }

    #[test]
    fn unescape_resolves_rfc3862_escapes() {
        assert_eq!(
            unescape(r#"a\\b\"c\'d\te\nf\rg\u00e9h"#),
            "a\\b\"c'd\te\nf\rg\u{e9}h"
        );
        assert_eq!(unescape(r"C:\x \u12"), r"C:\x \u12");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }

    #[test]
    fn addr_uri_without_brackets() {
        assert_eq!(addr_uri(" sip:a@b "), "sip:a@b");
        assert_eq!(addr_uri("\"A <x>\" <sip:a@b>"), "sip:a@b");
    }

    /// The byte searches find what the `char` patterns they replaced found, for
    /// ASCII and non-ASCII text around the separator or without it.
    #[test]
    fn byte_searches_match_the_char_patterns() {
        let samples = [
            "",
            ";",
            "text/plain",
            " text/plain ; charset=utf-8",
            "message/cpim;x=\u{e9};y",
            "\u{a0}caf\u{e9}/x\u{2003};\u{e9}",
            "imdn.Message-ID",
            "a.b.c",
            "\u{e9}.\u{e9}",
            "imdn <urn:ietf:params:imdn>",
            "<",
            "x\u{e9}<y<z>",
        ];
        for s in samples {
            assert_eq!(
                essence(s),
                s.split(';').next().unwrap_or("").trim(),
                "{s:?}"
            );
            for (byte, c) in [(b';', ';'), (b'.', '.'), (b'<', '<')] {
                assert_eq!(split_at_byte(s, byte), s.split_once(c), "{s:?} {c}");
            }
        }
    }
}
