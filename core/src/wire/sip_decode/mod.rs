//! SIP message decoding: bytes of one message → [`SipMessage`], or a [`BadMessage`]
//! saying why not and, for requests, what is needed to answer it.
//!
//! Input is hostile. The decoder never panics, enforces [`Limits`] (header block size
//! and line count → 513, body size → 413), and refuses anything it could not print
//! back faithfully. Accepted syntax beyond the strict RFC 3261 grammar:
//!
//! * **Bare LF policy**: lines may end in CRLF *or* a bare LF (RFC 3261 §7 asks for
//!   CRLF, but many test tools and some stacks send LF; accepting it costs nothing and
//!   the encoder always writes CRLF). The header block ends at the first empty line
//!   (`\r\n\r\n`, `\n\n` or a mix). A CR anywhere else is a control character and
//!   refused, as is every control character other than HT.
//! * Leading CRLFs before the start line are ignored (RFC 3261 §7.5); input made only
//!   of CR/LF bytes is a keep-alive ([`DecodeError::KeepAlive`]), never answered.
//! * Header folding: a line starting with SP/HT continues the previous header; the
//!   pieces are joined with one space. Whitespace before the colon is allowed.
//! * Compact header names (RFC 3261 §7.3.3, RFC 3841, RFC 3892, RFC 4028, ...) are
//!   understood. Untyped headers keep the name as received in [`Headers::other`](crate::sip::Headers::other),
//!   except compact names, which are stored under their long name (`s` → `Subject`)
//!   so that lookups by name work.
//! * Single-valued headers (From, To, Call-ID, CSeq, Max-Forwards, Content-Type,
//!   Content-Length, Date, Expires, Referred-By and the OMA identifiers) may appear
//!   only once: a repetition is ambiguous and refused with 400. `Replaces` is
//!   collected as a list precisely so that the server can refuse two of them.
//!
//! [`decode_message`] takes exactly one message (what the stream framer cut);
//! [`decode_datagram`] applies the RFC 3261 §18.3 datagram rule to the body.
//! What it is *not*: no transaction or dialog checks, no body parsing (see
//! [`crate::wire::decode_invite_body`]), no framing (see [`crate::wire::framing`]).

mod error;
mod fields;
pub(crate) mod head;
mod headers;
pub(crate) mod syntax;

use super::Limits;
use crate::sip::{Method, Request, Response, SipMessage};
use head::StartLine;

pub use error::{BadMessage, DecodeError, ReplyContext};

/// What to do with body bytes beyond Content-Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRule {
    /// One framed message: extra bytes are an error (the framer cut exactly).
    Exact,
    /// RFC 3261 §18.3 datagram: extra bytes are discarded; no Content-Length means
    /// the rest of the datagram.
    Datagram,
}

/// Decodes one complete message: start line, headers, empty line and exactly
/// Content-Length body bytes (the whole rest when Content-Length is absent).
// `SipMessage` (the Ok side) is larger than `BadMessage`, so boxing the error would
// not make the `Result` any smaller.
#[allow(clippy::result_large_err)]
pub fn decode_message(bytes: &[u8], limits: &Limits) -> Result<SipMessage, BadMessage> {
    decode_with(bytes, limits, BodyRule::Exact)
}

/// Decodes one datagram (RFC 3261 §18.3): bytes beyond Content-Length are discarded,
/// fewer is an error (400), no Content-Length means the body is the rest of the
/// datagram. A datagram of only CR/LF bytes yields [`DecodeError::KeepAlive`] with
/// `reply: None`; the caller should ignore it silently.
#[allow(clippy::result_large_err)]
pub fn decode_datagram(bytes: &[u8], limits: &Limits) -> Result<SipMessage, BadMessage> {
    decode_with(bytes, limits, BodyRule::Datagram)
}

#[allow(clippy::result_large_err)]
fn decode_with(bytes: &[u8], limits: &Limits, rule: BodyRule) -> Result<SipMessage, BadMessage> {
    let bytes = head::skip_leading_crlf(bytes);
    decode_inner(bytes, limits, rule).map_err(|error| {
        let reply = if error == DecodeError::KeepAlive {
            None
        } else {
            head::reply_context(bytes)
        };
        BadMessage { error, reply }
    })
}

fn decode_inner(bytes: &[u8], limits: &Limits, rule: BodyRule) -> Result<SipMessage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::KeepAlive);
    }
    let too_large = |size| DecodeError::HeadersTooLarge {
        size,
        limit: limits.max_header_bytes,
    };
    let Some((head_end, body_start)) = head::find_head_end(bytes, 0) else {
        return Err(if bytes.len() > limits.max_header_bytes {
            too_large(bytes.len())
        } else {
            DecodeError::MissingEmptyLine
        });
    };
    if body_start > limits.max_header_bytes {
        return Err(too_large(body_start));
    }
    // Each header is typed as the split hands it over; the first header error is
    // kept and reported only after every line was split and the start line parsed,
    // so a bad line or start line is still the error, as when the lines were
    // collected first.
    let mut built = headers::Builder::new();
    let mut failed = None;
    let start = head::split_head_into(bytes.get(..head_end).unwrap_or_default(), limits, |h| {
        if failed.is_none() {
            failed = built.add(h).err();
        }
    })?;
    let start = head::parse_start_line(start)?;
    if let Some(error) = failed {
        return Err(error);
    }
    built.finish()?;
    let rest = bytes.get(body_start..).unwrap_or_default();
    let body = select_body(rest, built.content_length, limits, rule)?.to_vec();
    // The block moves once, from the builder into the message (it is ~770 bytes;
    // returned through `build` and its `Result`s it was copied five times).
    let headers = built.h;
    Ok(match start {
        StartLine::Request { method, uri } => {
            if headers.cseq.method != method {
                if let Method::Other(name) = method {
                    return Err(DecodeError::UnknownMethod(name));
                }
                return Err(DecodeError::CSeqMismatch {
                    method: method.to_string(),
                    cseq: headers.cseq.method.to_string(),
                });
            }
            SipMessage::Request(Request {
                method,
                uri,
                headers,
                body,
            })
        }
        StartLine::Response { status, reason } => SipMessage::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Applies Content-Length (or its absence) to the bytes after the empty line.
fn select_body<'a>(
    rest: &'a [u8],
    content_length: Option<usize>,
    limits: &Limits,
    rule: BodyRule,
) -> Result<&'a [u8], DecodeError> {
    let limit = limits.max_body_bytes;
    let Some(declared) = content_length else {
        if rest.len() > limit {
            return Err(DecodeError::BodyTooLarge {
                size: rest.len(),
                limit,
            });
        }
        return Ok(rest);
    };
    if declared > limit {
        return Err(DecodeError::BodyTooLarge {
            size: declared,
            limit,
        });
    }
    let available = rest.len();
    if declared < available && rule == BodyRule::Exact {
        return Err(DecodeError::TrailingBytes {
            declared,
            available,
        });
    }
    rest.get(..declared).ok_or(DecodeError::TruncatedBody {
        declared,
        available,
    })
}

/// One `name-addr` / `addr-spec` header value, as the From, To and Contact
/// headers are parsed (the server re-reads a leg's packed addresses with it).
pub(crate) fn parse_name_addr(value: &str) -> Result<crate::sip::NameAddr, String> {
    fields::parse_name_addr(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Method;
    use crate::sip::StatusCode;

    const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n\
        From: <sip:alice@a.example>;tag=1\r\n\
        To: <sip:bob@b.example>\r\n\
        Call-ID: c1\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Length: 4\r\n\
        \r\n\
        body";

    fn limits() -> Limits {
        Limits::default()
    }

    fn err(bytes: &[u8]) -> BadMessage {
        decode_message(bytes, &limits()).unwrap_err()
    }

    #[test]
    fn decodes_a_request() {
        let SipMessage::Request(r) = decode_message(INVITE.as_bytes(), &limits()).unwrap() else {
            panic!("not a request");
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.headers.call_id.as_str(), "c1");
        assert_eq!(r.body, b"body");
    }

    #[test]
    fn leading_crlf_ignored_and_keepalive_recognised() {
        let mut bytes = b"\r\n\r\n".to_vec();
        bytes.extend_from_slice(INVITE.as_bytes());
        assert!(decode_message(&bytes, &limits()).is_ok());
        for ka in [&b"\r\n\r\n"[..], b"\r\n", b""] {
            let e = decode_datagram(ka, &limits()).unwrap_err();
            assert_eq!(e.error, DecodeError::KeepAlive);
            assert_eq!(e.reply, None);
        }
    }

    #[test]
    fn body_rules() {
        let long = format!("{INVITE}xx");
        let e = err(long.as_bytes());
        assert!(matches!(
            e.error,
            DecodeError::TrailingBytes {
                declared: 4,
                available: 6
            }
        ));
        assert!(e.reply.is_some());
        let SipMessage::Request(r) = decode_datagram(long.as_bytes(), &limits()).unwrap() else {
            panic!("not a request");
        };
        assert_eq!(r.body, b"body");
        let short = INVITE.strip_suffix("dy").unwrap();
        let e = decode_datagram(short.as_bytes(), &limits()).unwrap_err();
        assert_eq!(e.error.status(), StatusCode::BAD_REQUEST);
        assert!(matches!(e.error, DecodeError::TruncatedBody { .. }));
    }

    #[test]
    fn limits_map_to_513_and_413() {
        let small = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        let e = decode_message(INVITE.as_bytes(), &small).unwrap_err();
        assert_eq!(e.error.status(), StatusCode::MESSAGE_TOO_LARGE);
        assert!(e.reply.is_some(), "513 is answered");
        let few = Limits {
            max_header_count: 3,
            ..Limits::default()
        };
        let e = decode_message(INVITE.as_bytes(), &few).unwrap_err();
        assert_eq!(e.error, DecodeError::TooManyHeaders { limit: 3 });
        let tiny_body = Limits {
            max_body_bytes: 3,
            ..Limits::default()
        };
        let e = decode_message(INVITE.as_bytes(), &tiny_body).unwrap_err();
        assert_eq!(e.error.status(), StatusCode::REQUEST_ENTITY_TOO_LARGE);
    }

    #[test]
    fn reply_context_needs_a_request_and_a_via() {
        let bad = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        let e = err(bad.as_bytes());
        assert!(matches!(e.error, DecodeError::CSeqMismatch { .. }));
        let ctx = e.reply.unwrap();
        assert_eq!(ctx.via, ["SIP/2.0/UDP a.example;branch=z9hG4bK1"]);
        assert_eq!(ctx.cseq.as_deref(), Some("1 BYE"));
        let no_call_id = INVITE.replace("Call-ID: c1\r\n", "");
        let e = err(no_call_id.as_bytes());
        assert_eq!(e.error, DecodeError::MissingHeader("Call-ID"));
        let ctx = e.reply.expect("CONF-2: answered with what is there");
        assert_eq!(ctx.call_id, None);
        let no_via = INVITE.replace("Via: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n", "");
        assert_eq!(
            err(no_via.as_bytes()).reply,
            None,
            "no Via: nowhere to answer"
        );
        let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        assert_eq!(err(response.as_bytes()).reply, None);
        let garbage_line = INVITE.replace("Call-ID: c1\r\n", "Call-ID: c1\r\n\x01junk\r\n");
        let e = err(garbage_line.as_bytes());
        assert!(matches!(e.error, DecodeError::BadHeaderLine(_)));
        assert!(
            e.reply.is_some(),
            "bad lines are skipped when collecting the context"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(DecodeError::KeepAlive.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            DecodeError::HeadersTooLarge { size: 1, limit: 0 }.status(),
            StatusCode::MESSAGE_TOO_LARGE
        );
    }
}
