//! `multipart/mixed` bodies (RFC 2046 §5.1) ⇄ [`BodyPart`]s, and the MIME media
//! type parser ([`parse_media_type`]) that the SIP decoder shares.
//!
//! Our own small codec: a SIP INVITE carries two or three short parts, so a general
//! MIME library would bring far more than it gives. Decoding accepts a preamble and
//! an epilogue, CRLF or bare-LF line ends, transport padding after a delimiter, and
//! folded part headers.
//!
//! What this is *not*: a MIME library. There is no `Content-Transfer-Encoding`
//! decoding (SIP is 8-bit clean, RFC 3261 §7.4.1), no nested multipart walk (a part
//! that is itself multipart is returned as bytes), and no charset handling.

use super::Limits;
use crate::body::BodyPart;
use crate::sip::MediaType;
use crate::uri::Param;

/// Why a body is not a usable `multipart/mixed` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The Content-Type has no `boundary` parameter.
    #[error("missing boundary")]
    MissingBoundary,
    /// The boundary is empty, longer than 70 characters, or holds control
    /// characters (RFC 2046 §5.1.1).
    #[error("bad boundary")]
    BadBoundary,
    /// No delimiter line was found at all.
    #[error("no delimiter line")]
    NoDelimiter,
    /// The body ends without the `--boundary--` close delimiter.
    #[error("missing close delimiter")]
    MissingCloseDelimiter,
    /// The close delimiter comes before any part (RFC 2046 requires at least one).
    #[error("no body part")]
    NoParts,
    /// More parts than [`Limits::max_multipart_parts`].
    #[error("too many parts (limit {0})")]
    TooManyParts(usize),
    /// More headers in one part than [`Limits::max_header_count`].
    #[error("too many part headers (limit {0})")]
    TooManyHeaders(usize),
    /// A part header line is not `name: value`, is not UTF-8, or is a continuation
    /// line with nothing to continue.
    #[error("bad part header in part {0}")]
    BadPartHeader(usize),
}

/// Splits a `multipart/mixed` body into its parts, using the `boundary` parameter
/// of `ct`. The preamble and epilogue are dropped.
pub fn decode(
    ct: &MediaType,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<BodyPart>, MultipartError> {
    let boundary = boundary(ct)?;
    let ranges = part_ranges(body, boundary.as_bytes(), limits.max_multipart_parts)?;
    let mut parts = Vec::with_capacity(ranges.len());
    for (index, (start, end)) in ranges.into_iter().enumerate() {
        let content = body.get(start..end).unwrap_or_default();
        parts.push(part(content, index, limits)?);
    }
    Ok(parts)
}

/// The boundary, with quotes stripped should the caller have left them on.
fn boundary(ct: &MediaType) -> Result<String, MultipartError> {
    let raw = ct
        .param("boundary")
        .ok_or(MultipartError::MissingBoundary)?;
    let b = unquote(raw.trim());
    let ok = !b.is_empty() && b.len() <= 70 && !b.chars().any(|c| c.is_control());
    if ok {
        Ok(b)
    } else {
        Err(MultipartError::BadBoundary)
    }
}

/// What a line is, with respect to the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Delimiter,
    Close,
    Other,
}

/// One line of the body: where it starts, where its text ends (before CR/LF),
/// and where the next line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    text_end: usize,
    next: usize,
}

/// Iterates the lines of `body`, CRLF or bare LF.
fn lines(body: &[u8]) -> impl Iterator<Item = Line> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= body.len() {
            return None;
        }
        let rest = body.get(start..).unwrap_or_default();
        let (text_len, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (lf, start + lf + 1),
            None => (rest.len(), body.len()),
        };
        let mut text_end = start + text_len;
        if text_end > start && body.get(text_end - 1) == Some(&b'\r') {
            text_end -= 1;
        }
        let line = Line {
            start,
            text_end,
            next,
        };
        start = next;
        Some(line)
    })
}

/// `--boundary` then transport padding is a delimiter; `--boundary--` then padding
/// is the close delimiter; anything else (even `--boundaryX`) is content.
fn classify(text: &[u8], boundary: &[u8]) -> LineKind {
    let Some(rest) = text
        .strip_prefix(b"--")
        .and_then(|r| r.strip_prefix(boundary))
    else {
        return LineKind::Other;
    };
    let (kind, padding) = match rest.strip_prefix(b"--") {
        Some(p) => (LineKind::Close, p),
        None => (LineKind::Delimiter, rest),
    };
    if padding.iter().all(|&b| b == b' ' || b == b'\t') {
        kind
    } else {
        LineKind::Other
    }
}

/// The byte ranges of the parts' contents: from after a delimiter line up to the
/// line break before the next delimiter (that line break belongs to the delimiter).
/// Stops with an error as soon as there are more than `max_parts`.
fn part_ranges(
    body: &[u8],
    boundary: &[u8],
    max_parts: usize,
) -> Result<Vec<(usize, usize)>, MultipartError> {
    let mut ranges = Vec::new();
    let mut open: Option<usize> = None;
    for line in lines(body) {
        let text = body.get(line.start..line.text_end).unwrap_or_default();
        let kind = classify(text, boundary);
        if kind == LineKind::Other {
            continue;
        }
        if let Some(start) = open {
            if ranges.len() >= max_parts {
                return Err(MultipartError::TooManyParts(max_parts));
            }
            ranges.push((start, content_end(body, start, line.start)));
        }
        match kind {
            LineKind::Close if ranges.is_empty() => return Err(MultipartError::NoParts),
            LineKind::Close => return Ok(ranges),
            LineKind::Delimiter | LineKind::Other => open = Some(line.next),
        }
    }
    Err(match open {
        Some(_) => MultipartError::MissingCloseDelimiter,
        None => MultipartError::NoDelimiter,
    })
}

/// Where a part's content ends: before the CRLF (or LF) that starts the delimiter
/// found at `delimiter`, but never before the content's own start (a delimiter
/// right after a delimiter gives an empty part).
fn content_end(body: &[u8], start: usize, delimiter: usize) -> usize {
    let mut end = delimiter;
    if end > start && body.get(end - 1) == Some(&b'\n') {
        end -= 1;
        if end > start && body.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
    }
    end
}

/// One part: headers up to the first empty line, then the body. A part without an
/// empty line is all headers and has an empty body (RFC 2046 `body-part :=
/// MIME-part-headers [CRLF *OCTET]`).
fn part(content: &[u8], index: usize, limits: &Limits) -> Result<BodyPart, MultipartError> {
    let mut header_end = content.len();
    let mut body_start = content.len();
    for line in lines(content) {
        if line.start == line.text_end {
            header_end = line.start;
            body_start = line.next;
            break;
        }
    }
    let head = content.get(..header_end).unwrap_or_default();
    let headers = part_headers(head, index, limits)?;
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Ok(BodyPart {
        content_type: find("Content-Type").as_deref().and_then(parse_media_type),
        disposition: find("Content-Disposition"),
        body: content.get(body_start..).unwrap_or_default().to_vec(),
        headers,
    })
}

/// Parses a header block (already cut before its empty line), unfolding
/// continuation lines. Names keep their case; values are trimmed.
fn part_headers(
    head: &[u8],
    index: usize,
    limits: &Limits,
) -> Result<Vec<(String, String)>, MultipartError> {
    let bad = || MultipartError::BadPartHeader(index);
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Unfolding (RFC 5322 §2.2.3) removes the line break and keeps the
            // whitespace; the value is trimmed again below.
            let (_, value) = headers.last_mut().ok_or_else(bad)?;
            value.push_str(line);
            *value = value.trim().to_owned();
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(bad());
        }
        if headers.len() >= limits.max_header_count {
            return Err(MultipartError::TooManyHeaders(limits.max_header_count));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

/// Prints a multipart body: each part as `--boundary` CRLF, its headers, an empty
/// line, its body, CRLF; then `--boundary--` CRLF. A part's `headers` are printed
/// as given when there are any; otherwise `Content-Type` and
/// `Content-Disposition` come from the typed fields. The caller picks a boundary
/// that no body contains.
pub fn encode(boundary: &str, parts: &[BodyPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (name, value) in printed_headers(p) {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn printed_headers(p: &BodyPart) -> Vec<(String, String)> {
    if !p.headers.is_empty() {
        return p.headers.clone();
    }
    let mut out = Vec::new();
    if let Some(ct) = &p.content_type {
        out.push(("Content-Type".to_owned(), print_media_type(ct)));
    }
    if let Some(d) = &p.disposition {
        out.push(("Content-Disposition".to_owned(), d.clone()));
    }
    out
}

/// Prints `type/subtype;name=value...`, quoting values that are not tokens.
pub fn print_media_type(ct: &MediaType) -> String {
    let mut out = format!("{}/{}", ct.kind, ct.subtype);
    for p in &ct.params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            if !v.is_empty() && v.bytes().all(is_token_byte) {
                out.push_str(v);
            } else {
                out.push('"');
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out
}

/// Parses a MIME media type, `type/subtype *(";" name "=" value)` (RFC 2045 §5.1):
/// type and subtype lower-cased, parameter names kept as received, quoted values
/// unquoted and unescaped. A parameter without `=` is kept with no value (lenient).
/// `None` when type or subtype is not a token or a quoted string is unterminated.
pub fn parse_media_type(text: &str) -> Option<MediaType> {
    let mut pieces = split_params(text)?.into_iter();
    let essence = pieces.next()?;
    let (kind, subtype) = essence.split_once('/')?;
    let (kind, subtype) = (kind.trim(), subtype.trim());
    if !is_token(kind) || !is_token(subtype) {
        return None;
    }
    let mut ct = MediaType::new(kind, subtype);
    for piece in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let param = match piece.split_once('=') {
            Some((n, v)) => Param::new(n.trim(), Some(unquote(v.trim()))),
            None => Param::new(piece, None::<String>),
        };
        if !is_token(&param.name) {
            return None;
        }
        ct.params.push(param);
    }
    Some(ct)
}

/// Splits on `;` outside quoted strings. `None` on an unterminated quote.
fn split_params(text: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => quoted = !quoted,
            (false, _, ';') => {
                out.push(text.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    out.push(text.get(start..)?);
    Some(out)
}

/// Removes surrounding double quotes and `\` escapes; other text is returned as is.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// RFC 2045 token characters: printable ASCII except space and tspecials.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed(boundary: &str) -> MediaType {
        let mut ct = MediaType::new("multipart", "mixed");
        ct.params.push(Param::new("boundary", Some(boundary)));
        ct
    }

    #[test]
    fn parses_media_types() {
        let ct = parse_media_type("Multipart/Mixed ; boundary=\"a b;c\" ;x").unwrap();
        assert!(ct.is("multipart", "mixed"));
        assert_eq!(ct.kind, "multipart");
        assert_eq!(ct.param("boundary"), Some("a b;c"));
        assert_eq!(ct.params[1], Param::new("x", None::<String>));
        assert_eq!(parse_media_type("text"), None);
        assert_eq!(parse_media_type("text/plain;a=\"x"), None);
        assert_eq!(parse_media_type("te xt/plain"), None);
        let q = parse_media_type(r#"a/b;q="x\"y""#).unwrap();
        assert_eq!(q.param("q"), Some("x\"y"));
        assert_eq!(parse_media_type(&print_media_type(&q)), Some(q));
    }

    #[test]
    fn splits_two_parts_and_drops_preamble_and_epilogue() {
        let body = b"pre\r\n--b1 \t\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
            --b1\r\n\r\nno headers\r\n--b1--\r\nepilogue";
        let parts = decode(&mixed("b1"), body, &Limits::default()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, b"hi");
        assert!(parts[0].content_type.as_ref().unwrap().is("text", "plain"));
        assert_eq!(parts[1].headers, vec![]);
        assert_eq!(parts[1].body, b"no headers");
    }

    #[test]
    fn unfolds_headers_and_keeps_their_order() {
        let body = b"--b\r\nContent-Disposition: recipient-list;\r\n\thandling=required\r\n\
            X-A: 1\r\n\r\n\r\n--b--";
        let parts = decode(&mixed("\"b\""), body, &Limits::default()).unwrap();
        assert_eq!(
            parts[0].disposition.as_deref(),
            Some("recipient-list;\thandling=required")
        );
        assert_eq!(parts[0].headers[1], ("X-A".to_owned(), "1".to_owned()));
        assert_eq!(parts[0].body, b"");
    }

    #[test]
    fn structural_errors() {
        let l = Limits::default();
        let no_b = MediaType::new("multipart", "mixed");
        assert_eq!(decode(&no_b, b"", &l), Err(MultipartError::MissingBoundary));
        assert_eq!(
            decode(&mixed(""), b"", &l),
            Err(MultipartError::BadBoundary)
        );
        assert_eq!(
            decode(&mixed("b"), b"x", &l),
            Err(MultipartError::NoDelimiter)
        );
        assert_eq!(
            decode(&mixed("b"), b"--b--", &l),
            Err(MultipartError::NoParts)
        );
        assert_eq!(
            decode(&mixed("b"), b"--b\r\n\r\nx\r\n--bx--", &l),
            Err(MultipartError::MissingCloseDelimiter)
        );
        assert_eq!(
            decode(&mixed("b"), b"--b\r\nnot a header\r\n\r\n--b--", &l),
            Err(MultipartError::BadPartHeader(0))
        );
        assert_eq!(
            decode(&mixed("b"), b"--b\r\n folded\r\n\r\n--b--", &l),
            Err(MultipartError::BadPartHeader(0))
        );
        let tight = Limits {
            max_multipart_parts: 1,
            ..Limits::default()
        };
        assert_eq!(
            decode(&mixed("b"), b"--b\r\n\r\n\r\n--b\r\n\r\n\r\n--b--", &tight),
            Err(MultipartError::TooManyParts(1))
        );
    }

    #[test]
    fn adjacent_delimiters_give_an_empty_part() {
        let parts = decode(&mixed("b"), b"--b\r\n--b--\r\n", &Limits::default()).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body, b"");
        assert_eq!(parts[0].headers, vec![]);
    }

    #[test]
    fn encode_prints_typed_fields_when_headers_are_empty() {
        let part = BodyPart {
            content_type: Some(MediaType::new("application", "sdp")),
            disposition: Some("session".into()),
            headers: vec![],
            body: b"v=0".to_vec(),
        };
        let out = encode("xyz", &[part]);
        assert_eq!(
            out,
            b"--xyz\r\nContent-Type: application/sdp\r\nContent-Disposition: session\r\n\
              \r\nv=0\r\n--xyz--\r\n"
        );
        let back = decode(&mixed("xyz"), &out, &Limits::default()).unwrap();
        assert_eq!(back[0].body, b"v=0");
        assert_eq!(back[0].disposition.as_deref(), Some("session"));
    }
}
