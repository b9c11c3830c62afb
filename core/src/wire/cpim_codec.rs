//! `message/cpim` (RFC 3862) bodies ⇄ [`CpimMessage`]: our own small codec.
//!
//! A CPIM body is the message-header block, an empty line, the MIME content-header
//! block, an empty line, and the content:
//!
//! ```text
//! From: <sip:anonymous@anonymous.invalid>
//! To: <sip:bob@example.com>
//! NS: imdn <urn:ietf:params:imdn>
//! imdn.Message-ID: 34jk324j
//! DateTime: 2024-05-06T07:08:09Z
//!
//! Content-Type: text/plain; charset=utf-8
//!
//! hello
//! ```
//!
//! Decisions, so that the MSRP layer and the pager both see one behaviour:
//!
//! * **Line ends.** CRLF is what we write. Bare LF is accepted in both header blocks
//!   (terminals and test tools that build bodies by hand use it; RFC 3862 has no
//!   transport of its own to enforce CRLF). The content after the second empty line
//!   is kept byte for byte, whatever it holds (binary-safe): CPIM has no length of
//!   its own, the content runs to the end of the body.
//! * **Both empty lines are required.** A body that ends inside either header block
//!   is refused, even if the content would be empty.
//! * **Headers.** `Name: value`, the name a token (with its namespace prefix, e.g.
//!   `imdn.Message-ID`), the value UTF-8 without control characters, trimmed, and kept
//!   as written: RFC 3862 §3.1 escapes (`\n`, `\uXXXX`, ...) are not resolved
//!   ([`crate::cpim::unescape`] does it on demand). Folded continuation lines are
//!   refused in the message headers (RFC 3862 has none) and unfolded in the content
//!   headers (MIME allows them). Exactly one `Content-Type` content header is needed.
//! * **Limits.** Both header blocks together hold at most [`Limits::max_header_count`]
//!   headers and [`Limits::max_header_bytes`] bytes; the content is bounded by whoever
//!   carried the body (MSRP or SIP limits).
//! * **Leading wrapper.** Some clients start the body with a stray
//!   `Content-Type: message/cpim` block (the outer MIME header repeated); a first
//!   block made of that single header alone is skipped.
//!
//! The encoder writes CRLF everywhere and escapes control characters in message
//! header values (`\r`, `\n`, `\b`, else `\u00XX`; HT stays, as the decoder takes
//! it), so no value can end a header early; content-header values get their control
//! characters replaced by spaces (MIME has no escape). Names are written as given,
//! any character a token may not hold replaced by `-`. For a message whose names are
//! tokens and whose values are trimmed and free of control characters but HT,
//! `decode(&encode(m)) == Ok(m)`; a message with a lone `Content-Type: message/cpim`
//! header block gets a wrapper block in front, so that it too decodes to itself.
//!
//! What this is *not*: no URI or date validation, no check that `From`/`To` exist
//! (the server takes the sender from SIP authentication, never from CPIM), no IMDN
//! body parsing ([`super::imdn`]).

use super::ascii::printable;
use super::Limits;
use std::borrow::Cow;

use crate::cpim::{CpimHead, CpimHeader, CpimMessage};

/// Why a body is not a usable `message/cpim` body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CpimError {
    /// The body ended before the empty line that closes the message headers.
    #[error("no empty line after the cpim message headers")]
    UnterminatedMessageHeaders,
    /// The body ended before the empty line that closes the content headers.
    #[error("no empty line after the cpim content headers")]
    UnterminatedContentHeaders,
    /// A header line that is not `Name: value` (or holds what a header may not).
    #[error("bad cpim header line: {0}")]
    BadHeader(String),
    /// A header line is not UTF-8.
    #[error("cpim header is not utf-8")]
    NotUtf8,
    /// More headers than the limit.
    #[error("too many cpim headers (limit {limit})")]
    TooManyHeaders {
        /// [`Limits::max_header_count`].
        limit: usize,
    },
    /// The header blocks are longer than the limit.
    #[error("cpim headers too large (limit {limit} bytes)")]
    HeadersTooLarge {
        /// [`Limits::max_header_bytes`].
        limit: usize,
    },
    /// The content headers have no `Content-Type`.
    #[error("cpim content has no content-type")]
    MissingContentType,
    /// The content headers have two `Content-Type`s.
    #[error("cpim content has two content-types")]
    DuplicateContentType,
}

/// Decodes a CPIM body with the default [`Limits`].
pub fn decode(body: &[u8]) -> Result<CpimMessage, CpimError> {
    decode_with(body, &Limits::default())
}

/// Decodes a CPIM body with explicit limits.
pub fn decode_with(body: &[u8], limits: &Limits) -> Result<CpimMessage, CpimError> {
    let head = decode_head(body, limits)?;
    Ok(CpimMessage {
        headers: head
            .headers
            .iter()
            .map(|&(name, value)| CpimHeader::new(name, value))
            .collect(),
        content_type: head.content_type.into_owned(),
        content_headers: head
            .content_headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.into_owned()))
            .collect(),
        body: head.content.to_vec(),
    })
}

/// [`decode_with`] without copying anything: the header blocks borrowed from
/// `body` and the content as a slice of it (the relay reads a chat message's
/// headers and relays the body it already holds; a `String` per header name and
/// value cost it ~10,000 instructions per message). Accepts and refuses exactly
/// what [`decode_with`] does.
pub fn decode_head<'a>(body: &'a [u8], limits: &Limits) -> Result<CpimHead<'a>, CpimError> {
    let mut r = Reader {
        bytes: body,
        pos: 0,
        used_bytes: 0,
        count: 0,
        limits,
    };
    let mut first: Vec<(&str, &str)> = r.block(Block::Message)?;
    if is_outer_wrapper(first.iter().copied()) {
        first = r.block(Block::Message)?;
    }
    let mut content_headers: Vec<(&str, Cow<'_, str>)> = r.block(Block::Content)?;
    let mut content_type = None;
    let mut duplicate = false;
    content_headers.retain_mut(|(name, value)| {
        if !name.eq_ignore_ascii_case("Content-Type") {
            return true;
        }
        duplicate |= content_type.replace(std::mem::take(value)).is_some();
        false
    });
    if duplicate {
        return Err(CpimError::DuplicateContentType);
    }
    Ok(CpimHead {
        // Message headers never fold (a folded line is refused): every value is
        // a slice of the body, read as one (no second list made of the first).
        headers: first,
        content_type: content_type.ok_or(CpimError::MissingContentType)?,
        content_headers,
        content: body.get(r.pos..).unwrap_or_default(),
    })
}

/// Prints a CPIM body (CRLF line ends; see the module doc for escaping).
pub fn encode(message: &CpimMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + message.body.len());
    let first = message
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()));
    if is_outer_wrapper(first) {
        // The decoder would skip this block as a stray wrapper: give it one to skip.
        out.extend_from_slice(b"Content-Type: message/cpim\r\n\r\n");
    }
    for h in &message.headers {
        push_name(&mut out, &h.name);
        push_escaped(&mut out, &h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b"Content-Type: ");
    push_mime_value(&mut out, &message.content_type);
    out.extend_from_slice(b"\r\n");
    for (name, value) in &message.content_headers {
        push_name(&mut out, name);
        push_mime_value(&mut out, value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&message.body);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Message,
    Content,
}

struct Reader<'a, 'l> {
    bytes: &'a [u8],
    pos: usize,
    /// Bytes of both header blocks read so far.
    used_bytes: usize,
    /// Headers of both blocks read so far.
    count: usize,
    limits: &'l Limits,
}

/// A header value as a block holds it: `&str` for the message headers (a folded
/// line is refused there, so every value is a slice of the body), `Cow` for the
/// content headers (a folded value is joined into an owned one).
trait BlockValue<'a>: Sized {
    fn borrowed(value: &'a str) -> Self;
    /// Appends a folded line's text, after a space. Only called for content
    /// headers: a message header block refuses a folded line before.
    fn unfold(&mut self, more: &str);
}

impl<'a> BlockValue<'a> for &'a str {
    fn borrowed(value: &'a str) -> Self {
        value
    }

    fn unfold(&mut self, _more: &str) {}
}

impl<'a> BlockValue<'a> for Cow<'a, str> {
    fn borrowed(value: &'a str) -> Self {
        Cow::Borrowed(value)
    }

    fn unfold(&mut self, more: &str) {
        if !more.is_empty() {
            let value = self.to_mut();
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(more);
        }
    }
}

impl<'a> Reader<'a, '_> {
    /// Reads one header block up to and including its empty line; values are
    /// slices of the body, but a folded content header's (joined, owned).
    fn block<V: BlockValue<'a>>(&mut self, block: Block) -> Result<Vec<(&'a str, V)>, CpimError> {
        let mut headers: Vec<(&'a str, V)> = Vec::with_capacity(6);
        loop {
            let line = self.line(block)?;
            if line.is_empty() {
                return Ok(headers);
            }
            if matches!(line[0], b' ' | b'\t') {
                let Some((_, value)) = headers.last_mut().filter(|_| block == Block::Content)
                else {
                    return Err(CpimError::BadHeader("folded line".into()));
                };
                value.unfold(text(line)?.trim());
                continue;
            }
            self.count += 1;
            if self.count > self.limits.max_header_count {
                return Err(CpimError::TooManyHeaders {
                    limit: self.limits.max_header_count,
                });
            }
            let (name, value) = header(line)?;
            headers.push((name, V::borrowed(value)));
        }
    }

    /// The next line without its line end, within the header byte limit.
    fn line(&mut self, block: Block) -> Result<&'a [u8], CpimError> {
        let limit = self.limits.max_header_bytes;
        let bytes = self.bytes;
        let rest = &bytes[self.pos..];
        // Never look further than the limit allows, however long the body is.
        let window = &rest[..rest
            .len()
            .min(limit.saturating_sub(self.used_bytes).saturating_add(1))];
        let Some(nl) = super::msrp::find_byte(window, b'\n') else {
            if self.used_bytes + rest.len() > limit {
                return Err(CpimError::HeadersTooLarge { limit });
            }
            return Err(match block {
                Block::Message => CpimError::UnterminatedMessageHeaders,
                Block::Content => CpimError::UnterminatedContentHeaders,
            });
        };
        self.used_bytes += nl + 1;
        if self.used_bytes > limit {
            return Err(CpimError::HeadersTooLarge { limit });
        }
        let line = &rest[..nl];
        self.pos += nl + 1;
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// A header line's text: UTF-8 and no control character but HT.
fn text(line: &[u8]) -> Result<&str, CpimError> {
    let s = std::str::from_utf8(line).map_err(|_| CpimError::NotUtf8)?;
    // Printable ASCII is the usual line and has no control character: a test of
    // eight bytes at a time. Otherwise (HT included) the characters are looked at
    // (C1 controls take two bytes in UTF-8).
    if !printable(line) && s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CpimError::BadHeader("control character".into()));
    }
    Ok(s)
}

fn header(line: &[u8]) -> Result<(&str, &str), CpimError> {
    let s = text(line)?;
    // The colon is ASCII: both sides are whole characters.
    let Some(colon) = super::msrp::find_byte(line, b':') else {
        return Err(CpimError::BadHeader("no colon".into()));
    };
    let (name, value) = (
        s.get(..colon).unwrap_or_default(),
        s.get(colon + 1..).unwrap_or_default(),
    );
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(CpimError::BadHeader("bad header name".into()));
    }
    Ok((name, crate::cpim::trim(value)))
}

/// RFC 2045 token characters: what a header name (prefix, dot and all) may hold.
fn is_token_byte(b: u8) -> bool {
    // A `match`, not `contains` on the list of specials: that was a `memchr` call
    // per byte of every header name (~6,000 instructions per chat message).
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        )
}

/// A header block made of a single `Content-Type: message/cpim` header.
fn is_outer_wrapper<'a>(mut block: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    let (Some((name, value)), None) = (block.next(), block.next()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    name.eq_ignore_ascii_case("Content-Type") && essence.eq_ignore_ascii_case("message/cpim")
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    if name.is_empty() {
        out.push(b'-');
    }
    out.extend(
        name.bytes()
            .map(|b| if is_token_byte(b) { b } else { b'-' }),
    );
    out.extend_from_slice(b": ");
}

/// RFC 3862 §3.1 escapes for the control characters of a message-header value.
fn push_escaped(out: &mut Vec<u8>, value: &str) {
    for c in value.chars() {
        match c {
            '\r' => out.extend_from_slice(b"\\r"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.push(b'\t'),
            c if c.is_control() => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

fn push_mime_value(out: &mut Vec<u8>, value: &str) {
    for c in value.chars() {
        let c = if c.is_control() && c != '\t' { ' ' } else { c };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token bytes are RFC 2045's: every graphic ASCII byte but the
    /// specials, nothing else.
    #[test]
    fn token_bytes_are_graphic_ascii_but_the_specials() {
        let specials = b"()<>@,;:\\\"/[]?={}";
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_graphic() && !specials.contains(&b);
            assert_eq!(is_token_byte(b), expected, "{b:#x}");
        }
    }

    const PLAIN: &[u8] = b"From: <sip:a@example.com>\r\nTo: <sip:b@example.com>\r\n\
        NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\n\r\n\
        Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn decodes_and_prints_back() {
        let m = decode(PLAIN).unwrap();
        assert_eq!(m.headers.len(), 4);
        assert_eq!(m.imdn_message_id(), Some("m1"));
        assert_eq!(m.content_type, "text/plain;charset=UTF-8");
        assert_eq!(
            m.content_headers,
            [("Content-Length".to_owned(), "5".to_owned())]
        );
        assert_eq!(m.body, b"hello");
        assert_eq!(encode(&m), PLAIN);
    }

    #[test]
    fn control_characters_in_values_are_escaped() {
        let mut m = decode(PLAIN).unwrap();
        m.headers
            .push(CpimHeader::new("Subject", "a\r\nTo: <sip:x@y>\u{1}"));
        let printed = encode(&m);
        let again = decode(&printed).unwrap();
        assert_eq!(again.to(), ["<sip:b@example.com>"]);
        assert_eq!(again.headers[4].value, r"a\r\nTo: <sip:x@y>\u0001");
        assert_eq!(
            crate::cpim::unescape(&again.headers[4].value),
            "a\r\nTo: <sip:x@y>\u{1}"
        );
    }

    #[test]
    fn stray_outer_wrapper_is_skipped() {
        let mut body = b"Content-Type: message/cpim\r\n\r\n".to_vec();
        body.extend_from_slice(PLAIN);
        assert_eq!(decode(&body), decode(PLAIN));
    }

    #[test]
    fn a_lone_wrapper_like_header_block_still_round_trips() {
        let m = CpimMessage {
            headers: vec![CpimHeader::new("content-type", "Message/CPIM; x=1")],
            content_type: "text/plain".into(),
            content_headers: Vec::new(),
            body: b"x".to_vec(),
        };
        let printed = encode(&m);
        assert!(printed.starts_with(b"Content-Type: message/cpim\r\n\r\ncontent-type: "));
        assert_eq!(decode(&printed), Ok(m));
    }

    #[test]
    fn header_limits_hold_across_both_blocks() {
        let tight = Limits {
            max_header_count: 4,
            ..Limits::default()
        };
        assert_eq!(
            decode_with(PLAIN, &tight),
            Err(CpimError::TooManyHeaders { limit: 4 })
        );
        let short = Limits {
            max_header_bytes: 100,
            ..Limits::default()
        };
        assert_eq!(
            decode_with(PLAIN, &short),
            Err(CpimError::HeadersTooLarge { limit: 100 })
        );
        // Exactly the header bytes (up to the second empty line) fit.
        let head = PLAIN.len() - b"hello".len();
        let exact = Limits {
            max_header_bytes: head,
            ..Limits::default()
        };
        assert!(decode_with(PLAIN, &exact).is_ok());
        let one_less = Limits {
            max_header_bytes: head - 1,
            ..Limits::default()
        };
        assert_eq!(
            decode_with(PLAIN, &one_less),
            Err(CpimError::HeadersTooLarge { limit: head - 1 })
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(b""), Err(CpimError::UnterminatedMessageHeaders));
        assert_eq!(
            decode(b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n"),
            Err(CpimError::UnterminatedContentHeaders)
        );
        assert_eq!(
            decode(b"From: <sip:a@b>\r\n\r\nContent-ID: x\r\n\r\nbody"),
            Err(CpimError::MissingContentType)
        );
        assert_eq!(
            decode(b"From <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\n"),
            Err(CpimError::BadHeader("bad header name".into()))
        );
        assert_eq!(
            decode(b"Subject hi\r\n\r\nContent-Type: text/plain\r\n\r\n"),
            Err(CpimError::BadHeader("no colon".into()))
        );
        assert_eq!(
            decode(b"From: <sip:a@b>\r\n more\r\n\r\nContent-Type: a/b\r\n\r\n"),
            Err(CpimError::BadHeader("folded line".into()))
        );
        assert_eq!(
            decode(b"From: \xff\r\n\r\nContent-Type: a/b\r\n\r\n"),
            Err(CpimError::NotUtf8)
        );
    }

    /// The borrowed head reads what the owned message holds, with the same
    /// accessors' answers, and refuses what `decode` refuses.
    #[test]
    fn the_borrowed_head_is_the_decoded_message() {
        let folded: &[u8] = b"NS: x <urn:ietf:params:imdn>\nx.Message-ID: m9\nFrom: <sip:a@b>\n\n\
            Content-Type: message/imdn+xml;\n  charset=utf-8\nContent-ID: <c>\n\nz";
        for body in [PLAIN, folded] {
            let owned = decode(body).unwrap();
            let head = decode_head(body, &Limits::default()).unwrap();
            let names: Vec<(&str, &str)> = owned
                .headers
                .iter()
                .map(|h| (h.name.as_str(), h.value.as_str()))
                .collect();
            assert_eq!(head.headers, names);
            assert_eq!(head.content_type, owned.content_type);
            assert_eq!(head.content, owned.body.as_slice());
            assert_eq!(head.from(), owned.from());
            assert_eq!(head.to().collect::<Vec<_>>(), owned.to());
            assert_eq!(head.imdn_message_id(), owned.imdn_message_id());
            assert_eq!(head.is_imdn(), owned.is_imdn());
        }
        let head = decode_head(folded, &Limits::default()).unwrap();
        assert_eq!(head.imdn_message_id(), Some("m9"));
        assert!(head.is_imdn());
        assert_eq!(head.content_type, "message/imdn+xml; charset=utf-8");
        for bad in [
            &b"From: <sip:a@b>\r\n\r\nContent-ID: x\r\n\r\nbody"[..],
            b"From: <sip:a@b>\r\n more\r\n\r\nContent-Type: a/b\r\n\r\n",
            b"From: <sip:a@b>\n\nContent-Type: a/b\nContent-Type: a/c\n\n",
        ] {
            assert_eq!(
                decode_head(bad, &Limits::default()).map(|_| ()),
                decode(bad).map(|_| ())
            );
        }
        assert_eq!(
            decode(b"From: <sip:a@b>\n\nContent-Type: a/b\nContent-Type: a/c\n\n"),
            Err(CpimError::DuplicateContentType)
        );
    }

    #[test]
    fn content_headers_may_fold() {
        let m =
            decode(b"From: <sip:a@b>\n\nContent-Type: text/plain;\n  charset=utf-8\n\nx").unwrap();
        assert_eq!(m.content_type, "text/plain; charset=utf-8");
        assert_eq!(m.body, b"x");
    }
}
