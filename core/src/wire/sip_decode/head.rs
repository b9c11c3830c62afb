//! The message head: finding its end, splitting it into a start line and logical
//! header lines (bare LF accepted, folding joined), parsing the start line, and the
//! lenient scan that recovers a [`ReplyContext`] from a message that failed.
//!
//! What it is *not*: no interpretation of header values (see `headers` and `fields`).

use std::borrow::Cow;

use super::syntax::{cut, excerpt, is_token, pieces, split_top, token_prefix, trim_lws};
use super::{DecodeError, ReplyContext};
use crate::sip::{Method, StatusCode};
use crate::uri::Uri;
use crate::wire::ascii::printable_or_tab;
use crate::wire::uri::parse_uri;
use crate::wire::Limits;

/// One logical header line: the name as received and the unfolded, trimmed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawHeader<'a> {
    /// Name as received (whitespace before the colon removed).
    pub name: &'a str,
    /// Value, continuation lines joined with one space, SP/HT trimmed. Borrowed
    /// from the input unless folding joined lines (most headers are typed without
    /// ever copying their raw text).
    pub value: Cow<'a, str>,
}

/// A parsed start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StartLine {
    /// `METHOD SP Request-URI SP SIP/2.0`.
    Request { method: Method, uri: Uri },
    /// `SIP/2.0 SP code SP reason`.
    Response { status: StatusCode, reason: String },
}

/// Drops CR/LF bytes before the start line (RFC 3261 §7.5).
pub(crate) fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes.get(n..).unwrap_or_default()
}

/// Finds the empty line ending the head, looking at line ends from byte `from` on.
/// Returns `(head_end, body_start)`: the head is `bytes[..head_end]` (its last line's
/// LF included) and the body starts at `body_start`. The empty line may be `\n` or
/// `\r\n` after any line end, per the bare-LF policy.
///
/// The line ends are found eight bytes at a time ([`find_lf`]): a byte-by-byte scan
/// of every head received was a third of the decoder's own instructions
/// (`bench/core_ir.sh`, session 14).
pub(crate) fn find_head_end(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let i = at + find_lf(bytes.get(at..)?)?;
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'\n'), _) => return Some((i + 1, i + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((i + 1, i + 3)),
            _ => at = i + 1,
        }
    }
}

/// Physical lines of a head (without their CR/LF endings).
fn physical_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let head = head.strip_suffix(b"\n").unwrap_or(head);
    head.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Physical lines of a head already known to be UTF-8, as [`physical_lines`] cuts
/// them (LF is ASCII, so every cut is on a character boundary). The line ends are
/// found eight bytes at a time ([`find_lf`]): `str::split('\n')` set up a `memchr`
/// search per line, which cost more than the short header lines it cut
/// (`bench/core_ir.sh`, session 10).
fn physical_text_lines(head: &str) -> impl Iterator<Item = &str> {
    let head = head.strip_suffix('\n').unwrap_or(head);
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        let line = match find_lf(r.as_bytes()) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i).unwrap_or("")
            }
            None => {
                rest = None;
                r
            }
        };
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// The offset of the first LF in `bytes`, eight bytes at a time
/// ([`crate::wire::ascii::first_of`]).
fn find_lf(bytes: &[u8]) -> Option<usize> {
    crate::wire::ascii::first_of(bytes, [b'\n'])
}

/// A line as text, refusing non-UTF-8 and control characters other than HT, except
/// after a backslash: a quoted-pair may escape any character but CR and LF (RFC 3261
/// §25.1; RFC 4475 §3.1.1.2 puts NUL, BEL and DEL in a display name).
fn line_text(line: &[u8]) -> Result<&str, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    checked_text(text)
}

/// [`line_text`] of a line already known to be UTF-8: the control-character rule.
fn checked_text(text: &str) -> Result<&str, DecodeError> {
    // Most lines are printable ASCII (and HT): no control character to look for.
    if printable_or_tab(text.as_bytes()) {
        return Ok(text);
    }
    let mut escaped = false;
    for c in text.chars() {
        let quoted = escaped && c != '\r' && c != '\n';
        if c.is_control() && c != '\t' && !quoted {
            return Err(DecodeError::BadHeaderLine("control character".into()));
        }
        escaped = !escaped && c == '\\';
    }
    Ok(text)
}

/// Splits a head into its start line and logical header lines, strictly: the first
/// bad line is an error. Enforces [`Limits::max_header_count`] on physical lines.
#[cfg(test)]
pub(super) fn split_head<'a>(
    head: &'a [u8],
    limits: &Limits,
) -> Result<(&'a str, Vec<RawHeader<'a>>), DecodeError> {
    let mut headers = Vec::new();
    let start = split_head_into(head, limits, |h| headers.push(h))?;
    Ok((start, headers))
}

/// [`split_head`] handing each logical header line to `sink` as soon as it is
/// complete (the next line is not its continuation), in order, rather than
/// collecting them: the decoder types each header as it comes, without a `Vec` of
/// lines per message (`core/examples/decode_cost.rs`, session 15). Every line is
/// still split and checked: an error of any line is returned, whatever `sink` did
/// with the lines before it.
pub(super) fn split_head_into<'a>(
    head: &'a [u8],
    limits: &Limits,
    sink: impl FnMut(RawHeader<'a>),
) -> Result<&'a str, DecodeError> {
    // The whole head checked as UTF-8 once (the usual case) rather than line by
    // line; a head that is not takes the line-by-line way, so the first bad line
    // still decides the error, as it always did.
    match std::str::from_utf8(head) {
        Ok(text) => logical_lines(physical_text_lines(text), checked_text, limits, sink),
        Err(_) => logical_lines(physical_lines(head), line_text, limits, sink),
    }
}

/// [`split_head_into`] over physical lines `lines`, each made text by `text_of`.
fn logical_lines<'a, L: Default>(
    mut lines: impl Iterator<Item = L>,
    text_of: impl Fn(L) -> Result<&'a str, DecodeError>,
    limits: &Limits,
    mut sink: impl FnMut(RawHeader<'a>),
) -> Result<&'a str, DecodeError> {
    let start = text_of(lines.next().unwrap_or_default())?;
    // The header being read: complete once the next line does not continue it.
    let mut pending: Option<RawHeader<'a>> = None;
    for (count, line) in lines.enumerate() {
        if count >= limits.max_header_count {
            return Err(DecodeError::TooManyHeaders {
                limit: limits.max_header_count,
            });
        }
        let line = text_of(line)?;
        if line.starts_with([' ', '\t']) {
            let Some(last) = pending.as_mut() else {
                return Err(DecodeError::BadHeaderLine(
                    "continuation line before any header".into(),
                ));
            };
            fold_into(last, line);
        } else if let Some(done) = pending.replace(header_line(line)?) {
            sink(done);
        }
    }
    if let Some(done) = pending {
        sink(done);
    }
    Ok(start)
}

/// Joins a continuation line onto the header it continues.
fn fold_into(header: &mut RawHeader<'_>, line: &str) {
    let more = trim_lws(line);
    if !more.is_empty() {
        let value = header.value.to_mut();
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(more);
    }
}

/// `name [LWS] ":" [LWS] value`.
///
/// One pass over the name: its token characters, then SP/HT, then the colon. That is
/// the usual line, and it is read exactly as [`header_line_checked`] reads it (a name
/// made only of token characters ends before the first colon, whitespace before the
/// colon is what the trim removes); any other line is handed to that, which finds its
/// error. The cut at the colon, a trim of the name by `char` pattern and the token
/// check were three passes, ~200 instructions per header line received
/// (`core/examples/decode_cost.rs`, session 15).
fn header_line(line: &str) -> Result<RawHeader<'_>, DecodeError> {
    let bytes = line.as_bytes();
    let name_end = token_prefix(bytes);
    let mut colon = name_end;
    while matches!(bytes.get(colon), Some(b' ' | b'\t')) {
        colon += 1;
    }
    if name_end > 0 && bytes.get(colon) == Some(&b':') {
        if let (Some(name), Some(value)) = (line.get(..name_end), line.get(colon + 1..)) {
            return Ok(RawHeader {
                name,
                value: Cow::Borrowed(trim_lws(value)),
            });
        }
    }
    header_line_checked(line)
}

/// [`header_line`] the long way, with the error of a line that is not one.
fn header_line_checked(line: &str) -> Result<RawHeader<'_>, DecodeError> {
    let Some((name, value)) = cut(line, b':') else {
        return Err(DecodeError::BadHeaderLine(format!(
            "no colon in {}",
            excerpt(line)
        )));
    };
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(DecodeError::BadHeaderLine(format!(
            "bad header name {}",
            excerpt(name)
        )));
    }
    Ok(RawHeader {
        name,
        value: Cow::Borrowed(trim_lws(value)),
    })
}

/// Parses a request line or a status line.
pub(super) fn parse_start_line(line: &str) -> Result<StartLine, DecodeError> {
    if let Some(rest) = strip_prefix_ci(line, "SIP/2.0 ") {
        return parse_status_line(rest);
    }
    let bad = |why: &str| DecodeError::BadStartLine(format!("{why} in {}", excerpt(line)));
    // Exactly three fields, read without collecting them: a `Vec` per request line
    // was an allocation and ~550 instructions (`core/examples/decode_cost.rs`,
    // session 15).
    let mut parts = pieces(line, b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not three fields"));
    };
    if !is_token(method) {
        return Err(bad("bad method"));
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        if strip_prefix_ci(version, "SIP/").is_some() {
            return Err(DecodeError::UnsupportedVersion(excerpt(version)));
        }
        return Err(bad("unsupported version"));
    }
    let parsed = parse_uri(uri).map_err(|e| bad(&format!("request-uri: {e}")))?;
    if parsed.as_sip().is_some_and(|u| !u.headers().is_empty()) {
        // RFC 3261 §19.1.5: headers belong in a URI used to build a request, never
        // in a Request-URI (RFC 4475 §3.1.2.11).
        return Err(bad("request-uri: escaped headers in a request-uri"));
    }
    let uri = parsed;
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri,
    })
}

/// `code SP reason` after `SIP/2.0 `; a missing reason phrase is tolerated.
fn parse_status_line(rest: &str) -> Result<StartLine, DecodeError> {
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = (code.len() == 3)
        .then(|| super::syntax::parse_digits::<u16>(code))
        .flatten()
        .and_then(StatusCode::new)
        .ok_or_else(|| DecodeError::BadStartLine(format!("bad status code {}", excerpt(code))))?;
    Ok(StartLine::Response {
        status,
        reason: trim_lws(reason).to_owned(),
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Whether a start line has the shape of a request line (a method token first, a
/// `SIP/` version last, something between), even if its spacing, URI or version is
/// unacceptable: such a request is answered, not dropped (RFC 4475 §3.1.2.8-10).
fn is_request_shaped(line: &str) -> bool {
    let parts: Vec<&str> = line.split([' ', '\t']).filter(|p| !p.is_empty()).collect();
    matches!(parts.as_slice(), [m, _, .., v] if is_token(m) && strip_prefix_ci(v, "SIP/").is_some())
}

/// Recovers the raw Via/From/To/Call-ID/CSeq values of a request that failed to
/// decode, skipping any line that is itself unreadable. `None` unless the start line
/// is request-shaped and a Via is present (CONF-2: the others are copied when there).
pub(crate) fn reply_context(bytes: &[u8]) -> Option<ReplyContext> {
    let head_end = find_head_end(bytes, 0).map_or(bytes.len(), |(end, _)| end);
    let mut lines = physical_lines(bytes.get(..head_end)?);
    if !is_request_shaped(line_text(lines.next()?).ok()?) {
        return None;
    }
    let mut headers: Vec<Option<RawHeader<'_>>> = Vec::new();
    for line in lines {
        let Ok(line) = line_text(line) else {
            headers.push(None);
            continue;
        };
        match headers.last_mut() {
            Some(Some(last)) if line.starts_with([' ', '\t']) => fold_into(last, line),
            Some(None) if line.starts_with([' ', '\t']) => {}
            _ => headers.push(header_line(line).ok()),
        }
    }
    let mut ctx = ReplyContext {
        via: Vec::new(),
        from: None,
        to: None,
        call_id: None,
        cseq: None,
    };
    for h in headers.into_iter().flatten() {
        collect_reply_value(&mut ctx, h);
    }
    (!ctx.via.is_empty()).then_some(ctx)
}

/// Files one raw header into a reply context (first occurrence wins).
fn collect_reply_value(ctx: &mut ReplyContext, h: RawHeader<'_>) {
    let is = |long: &str, short: &str| {
        h.name.eq_ignore_ascii_case(long) || h.name.eq_ignore_ascii_case(short)
    };
    if h.value.is_empty() {
        return;
    }
    if is("Via", "v") {
        ctx.via.extend(
            split_top(&h.value, ',', false)
                .map(trim_lws)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        );
        return;
    }
    let slot = if is("From", "f") {
        &mut ctx.from
    } else if is("To", "t") {
        &mut ctx.to
    } else if is("Call-ID", "i") {
        &mut ctx.call_id
    } else if is("CSeq", "CSeq") {
        &mut ctx.cseq
    } else {
        return;
    };
    if slot.is_none() {
        *slot = Some(h.value.into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`find_head_end`] as it was before session 14: every byte looked at.
    fn head_end_bytewise(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
        let tail = bytes.get(from..)?;
        for (offset, _) in tail.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            let i = from + offset;
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'\n'), _) => return Some((i + 1, i + 2)),
                (Some(b'\r'), Some(b'\n')) => return Some((i + 1, i + 3)),
                _ => {}
            }
        }
        None
    }

    proptest! {
        /// The word-at-a-time LF search finds the first LF, as a byte scan does,
        /// wherever it falls in or after the eight-byte words.
        #[test]
        fn lf_found_a_word_at_a_time_is_the_first(
            bytes in proptest::collection::vec(
                prop::sample::select(vec![b'\n', b'\r', b'a', 0x00, 0x09, 0x0b, 0x8a, 0xff]),
                0..64,
            ),
        ) {
            prop_assert_eq!(find_lf(&bytes), bytes.iter().position(|b| *b == b'\n'));
        }

        /// The head's end found a word at a time is the byte-by-byte scan's, from
        /// any starting offset (the stream framer resumes where it stopped), over
        /// text of line ends, CRs and other bytes across the eight-byte words.
        #[test]
        fn head_end_found_a_word_at_a_time_is_the_byte_scans(
            bytes in proptest::collection::vec(
                prop::sample::select(vec![b'\n', b'\r', b'a', b' ', 0x8a]),
                0..48,
            ),
            from in 0usize..52,
        ) {
            prop_assert_eq!(find_head_end(&bytes, from), head_end_bytewise(&bytes, from));
        }

        /// A head checked as UTF-8 in one piece splits exactly as line by line (the
        /// way every head took before, and the one a non-UTF-8 head still takes):
        /// the same lines, or the same first error.
        #[test]
        fn whole_head_and_line_by_line_agree(
            head in proptest::collection::vec(
                prop::sample::select(vec![
                    b'a', b'Z', b'1', b':', b' ', b'\t', b'\r', b'\n', b'\\', b'"', 0x00, 0x07,
                    0x7f, 0xc3, 0xa9, 0xff,
                ]),
                0..40,
            ),
            max in 0usize..4,
        ) {
            let limits = Limits { max_header_count: max, ..Limits::default() };
            let mut headers = Vec::new();
            let lines = logical_lines(physical_lines(&head), line_text, &limits, |h| headers.push(h))
                .map(|start| (start, headers));
            prop_assert_eq!(split_head(&head, &limits), lines);
        }
    }

    proptest! {
        /// The one-pass header line reads every line as the cut, trim and token
        /// check do: the same name and value, or the same error.
        #[test]
        fn header_line_in_one_pass_is_the_checked_one(
            line in proptest::collection::vec(
                prop::sample::select(vec![
                    "a", "Via", "-", ":", " ", "\t", "@", "\"", ";", "=", "é", "x y",
                ]),
                0..8,
            ),
        ) {
            let line = line.concat();
            prop_assert_eq!(header_line(&line), header_line_checked(&line));
        }
    }

    #[test]
    fn head_end_with_crlf_lf_and_mixed_endings() {
        assert_eq!(find_head_end(b"A\r\nB: c\r\n\r\nbody", 0), Some((9, 11)));
        assert_eq!(find_head_end(b"A\nB: c\n\nbody", 0), Some((7, 8)));
        assert_eq!(find_head_end(b"A\nB: c\n\r\nbody", 0), Some((7, 9)));
        assert_eq!(find_head_end(b"A\r\nB: c\r\n\r", 0), None);
        assert_eq!(find_head_end(b"A\r\n", 9), None);
    }

    #[test]
    fn folding_and_colon_spacing() {
        let head = b"OPTIONS sip:a SIP/2.0\r\nSubject :  one\r\n  two\r\n\tthree \r\nX:\r\n";
        let (start, headers) = split_head(head, &Limits::default()).unwrap();
        assert_eq!(start, "OPTIONS sip:a SIP/2.0");
        assert_eq!(headers.len(), 2);
        assert_eq!(
            (headers[0].name, &*headers[0].value),
            ("Subject", "one two three")
        );
        assert_eq!((headers[1].name, &*headers[1].value), ("X", ""));
    }

    #[test]
    fn bad_lines() {
        let limits = Limits::default();
        for head in [
            &b"A\r\n continuation first\r\n"[..],
            b"A\r\nno colon\r\n",
            b"A\r\nbad name: x\r\n",
            b"A\r\nX: a\rb\r\n",
            b"A\r\nX: \xff\r\n",
        ] {
            assert!(split_head(head, &limits).is_err(), "{head:?}");
        }
    }

    #[test]
    fn start_lines() {
        let req = parse_start_line("MESSAGE tel:+1555 SIP/2.0").unwrap();
        assert!(matches!(
            req,
            StartLine::Request {
                method: Method::Message,
                ..
            }
        ));
        let resp = parse_start_line("sip/2.0 404 Not Found Here").unwrap();
        assert_eq!(
            resp,
            StartLine::Response {
                status: StatusCode::NOT_FOUND,
                reason: "Not Found Here".into()
            }
        );
        let no_reason = parse_start_line("SIP/2.0 200").unwrap();
        assert!(matches!(no_reason, StartLine::Response { reason, .. } if reason.is_empty()));
        for bad in [
            "SIP/2.0 099 x",
            "SIP/2.0 700 x",
            "SIP/2.0 2000 x",
            "SIP/2.0 2é0 x",
            "INVITE sip:a?Route=x SIP/2.0",
            "INVITE  sip:a SIP/2.0",
            "IN\"VITE sip:a SIP/2.0",
            "INVITE nouri SIP/2.0",
        ] {
            assert!(parse_start_line(bad).is_err(), "{bad}");
        }
        assert!(is_request_shaped("INVITE sip:@x SIP/2.0"));
        assert!(is_request_shaped("INVITE  sip:a  SIP/2.0  "));
        assert!(is_request_shaped("INVITE sip:a; lr SIP/2.0"));
        assert!(!is_request_shaped("INVITE sip:a"));
        assert_eq!(
            parse_start_line("OPTIONS sip:a SIP/7.0"),
            Err(DecodeError::UnsupportedVersion("\"SIP/7.0\"".into()))
        );
        assert!(line_text(b"To: \"BEL:\\\x07 NUL:\\\x00\" <sip:a@b>").is_ok());
        assert!(line_text(b"To: \"NUL:\x00\" <sip:a@b>").is_err());
        assert!(!is_request_shaped("SIP/2.0 200 OK"));
    }
}
