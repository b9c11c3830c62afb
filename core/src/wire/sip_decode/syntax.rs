//! Lexical helpers shared by the SIP decoder, the encoder, the URI parser and the
//! stream framer: tokens, quoted strings, quote-aware splitting, header parameters
//! and strict decimal numbers.
//!
//! What it is *not*: no knowledge of any particular header; callers decide what a
//! value means. Every function works on `&str` with char-aware iteration, so no
//! slicing can land inside a multi-byte character.

use crate::uri::Param;
use crate::wire::ascii::first_of;

/// Trims SIP linear whitespace (SP and HT) only: `str::trim` would also eat Unicode
/// spaces, which are content in SIP.
pub(crate) fn trim_lws(s: &str) -> &str {
    // Bytes, not characters: SP and HT are ASCII, so a cut next to one is always on
    // a character boundary (this runs for every header value and parameter).
    let lws = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|b| !lws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !lws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or("")
}

/// `s.split_once(sep)` for an ASCII separator, by a plain byte scan: `str`'s
/// `split_once(char)` goes through the general `CharSearcher` (a `memchr` set-up
/// per call), which cost more than the short URI parts it splits (~140 calls per
/// session in `bench/core_ir.sh`). An ASCII byte is never part of a multi-byte
/// character, so the cut is on character boundaries and the result is the same.
pub(crate) fn cut(s: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s.split(sep)` for an ASCII separator, by a plain byte scan (see [`cut`]).
pub(crate) fn pieces(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match cut(r, sep) {
            Some((piece, after)) => {
                rest = Some(after);
                Some(piece)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// RFC 3261 `token` characters: `alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
/// "`" / "'" / "~"`.
pub(crate) const fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
        )
}

/// A non-empty RFC 3261 `token`.
///
/// Checked byte by byte against a table: every token character is ASCII and no
/// byte of a multi-byte UTF-8 character is, so this is `chars().all(is_token_char)`
/// without decoding characters (it runs for every parameter and tag of every
/// message: ~9,000 instructions per session, `bench/core_ir.sh`, session 12).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| TOKEN_BYTES[usize::from(b)])
}

/// A `[bool; 256]` answering the `const fn(char) -> bool` test `$test` for each byte
/// value, `false` from 128 up: every character these tests accept is ASCII and no
/// byte of a multi-byte UTF-8 character is, so `s.bytes().all(|b| table[b])` is
/// `s.chars().all(test)` without decoding characters.
macro_rules! ascii_table {
    ($test:path) => {{
        let mut table = [false; 256];
        let mut b = 0;
        while b < 128 {
            // `b` is below 128, so the casts are exact.
            table[b] = $test(b as u8 as char);
            b += 1;
        }
        table
    }};
}
pub(crate) use ascii_table;

/// The length of the run of token characters at the start of `bytes`.
pub(crate) fn token_prefix(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| !TOKEN_BYTES[usize::from(*b)])
        .unwrap_or(bytes.len())
}

/// [`is_token_char`] for each byte value (`false` from 128 up).
static TOKEN_BYTES: [bool; 256] = ascii_table!(is_token_char);

/// The first top-level `ch` (outside quoted strings): where the first piece of
/// [`split_top`] ends, if it ends before the text does.
pub(crate) fn find_top(s: &str, ch: char) -> Option<usize> {
    let first = split_top(s, ch, false).next()?;
    (first.len() < s.len()).then_some(first.len())
}

/// Splits on top-level `sep` (outside quotes and, if `angles`, outside `<...>`).
/// Separators are ASCII, so the cut points are always char boundaries. The pieces
/// come one at a time, not as a list: most header values of every message received
/// are split, and a `Vec` per value was one allocation each (`bench/core_ir.sh`).
pub(crate) fn split_top(s: &str, sep: char, angles: bool) -> TopSplit<'_> {
    TopSplit {
        rest: Some(s),
        // Not ASCII: never a separator of the SIP grammar (no caller passes one), so
        // the whole text is one piece.
        sep: u8::try_from(sep).ok(),
        angles,
        in_angle: false,
    }
}

/// The pieces of [`split_top`]: what [`top_level_positions`] finds, as an iterator.
#[derive(Debug, Clone)]
pub(crate) struct TopSplit<'a> {
    /// The text not yet returned; `None` once the last piece was.
    rest: Option<&'a str>,
    sep: Option<u8>,
    angles: bool,
    /// Inside `<...>` at the start of `rest` (a separator in a URI is not one).
    in_angle: bool,
}

impl<'a> Iterator for TopSplit<'a> {
    type Item = &'a str;

    /// Jumps from one byte that matters (the separator, a quote, an angle bracket
    /// when they count) to the next, eight bytes at a time ([`first_of`]), and through
    /// a quoted string to its closing quote: the byte-by-byte state machine it
    /// replaces cost ~10,000 instructions per 1-to-1 session (`bench/core_ir.sh`,
    /// session 13), most of it on bytes that are none of these.
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let bytes = s.as_bytes();
        let Some(sep) = self.sep else {
            self.rest = None;
            return Some(s);
        };
        // Quotes never span a separator, so each piece starts outside one; angle
        // brackets are tracked across pieces.
        let mut from = 0;
        loop {
            let rest = bytes.get(from..).unwrap_or_default();
            let found = if self.angles {
                first_of(rest, [b'"', sep, b'<', b'>'])
            } else {
                first_of(rest, [b'"', sep])
            };
            let Some(i) = found.map(|i| from + i) else {
                self.rest = None;
                return Some(s);
            };
            from = i + 1;
            match bytes.get(i) {
                // A quote (never a separator or an angle bracket, whatever they are).
                Some(b'"') => match closing_quote(bytes, from) {
                    Some(end) => from = end + 1,
                    None => {
                        // Unterminated: the rest is quoted, no separator in it.
                        self.rest = None;
                        return Some(s);
                    }
                },
                Some(b'<') if self.angles => self.in_angle = true,
                Some(b'>') if self.angles => self.in_angle = false,
                Some(b) if *b == sep && !self.in_angle => {
                    self.rest = s.get(i + 1..);
                    return Some(s.get(..i).unwrap_or(""));
                }
                _ => {}
            }
        }
    }
}

/// The offset of the quote closing a quoted string whose content starts at `from`
/// (RFC 3261 §25.1: a backslash escapes the byte after it, whatever it is).
fn closing_quote(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
}

/// Reads a quoted string at the start of `s` (which must begin with `"`): returns
/// the unescaped content and the text after the closing quote.
pub(crate) fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        match (escaped, c) {
            (true, _) => {
                out.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return Some((out, s.get(i + 1..).unwrap_or(""))),
            (false, _) => out.push(c),
        }
    }
    None
}

/// Prints `s` as a quoted string, escaping `"`, `\` and control characters (other
/// than HT) as quoted-pairs, so that the printed line reads back (RFC 3261 §25.1; the
/// decoder refuses a bare control character, RFC 4475 §3.1.1.2 puts escaped NUL, BEL
/// and DEL in a display name). CR and LF cannot be quoted at all: printed, they would
/// end the header line, so they become spaces (decoded values never hold them).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\r' | '\n' => out.push(' '),
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && c != '\t' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters allowed in an unquoted header parameter value: RFC 3261 `token`,
/// `host` and `gen-value` material, minus anything that would be a separator.
const fn is_plain_value_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | ',' | ';')
}

/// [`is_plain_value_char`] for each byte value: every branch, tag and parameter
/// value received is checked, and `chars().all` decoded each character first.
static PLAIN_VALUE_BYTES: [bool; 256] = ascii_table!(is_plain_value_char);

/// Parses header parameters `*( SEMI name [EQUAL value] )`, where `s` is the text
/// after the element they belong to (it must be empty or start with `;`, allowing
/// whitespace). Quoted values keep their quotes. Empty segments (`;;`, a trailing
/// `;`) are skipped: some stacks emit them and they carry no information.
pub(crate) fn parse_header_params(s: &str) -> Result<Vec<Param>, String> {
    let s = trim_lws(s);
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix(';') else {
        return Err(format!("unexpected text {}", excerpt(s)));
    };
    // The first push would allocate room for four (the smallest a `Vec` of them
    // grows to) through `grow_one`; asked for at once, the same room costs less.
    let mut params = Vec::with_capacity(4);
    for seg in split_top(rest, ';', false) {
        let seg = trim_lws(seg);
        if seg.is_empty() {
            continue;
        }
        params.push(parse_one_param(seg)?);
    }
    Ok(params)
}

fn parse_one_param(seg: &str) -> Result<Param, String> {
    let (name, value) = match cut(seg, b'=') {
        Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
        None => (seg, None),
    };
    if !is_token(name) {
        return Err(format!("bad parameter name {}", excerpt(name)));
    }
    if let Some(v) = value {
        let ok = if v.starts_with('"') {
            take_quoted(v).is_some_and(|(_, after)| after.is_empty())
        } else {
            v.bytes().all(|b| PLAIN_VALUE_BYTES[usize::from(b)])
        };
        if !ok {
            return Err(format!("bad value of parameter {name}"));
        }
    }
    Ok(Param::new(name, value))
}

/// A decimal number made of ASCII digits only (`str::parse` alone would accept a
/// leading `+`). `None` for anything else, including overflow.
pub(crate) fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A `Content-Length` value (surrounding whitespace allowed). A well-formed number too
/// large for `usize` saturates, so that it is refused as too large rather than as
/// malformed.
pub(crate) fn parse_content_length(s: &str) -> Option<usize> {
    let s = trim_lws(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Folded by hand, saturating: `str::parse` then `unwrap_or(usize::MAX)` gives the
    // same number for every string of digits, through a general parser's set-up
    // (every message has a Content-Length).
    Some(s.bytes().fold(0usize, |n, d| {
        n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    }))
}

/// At most 48 characters of untrusted text, for error messages (bounded, never cut
/// inside a character).
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 48;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", s.get(..i).unwrap_or("")),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_angles() {
        let s = r#"<sip:a@b;x=1,2>;q="a,\"b", sip:c@d, "x,y" <sip:e@f>"#;
        assert_eq!(
            split_top(s, ',', true).collect::<Vec<_>>(),
            [
                r#"<sip:a@b;x=1,2>;q="a,\"b""#,
                " sip:c@d",
                r#" "x,y" <sip:e@f>"#
            ]
        );
        assert_eq!(find_top(r#""a;b";c"#, ';'), Some(5));
    }

    // The byte-by-byte scan `split_top` replaced (session 14), kept as the
    // reference its pieces are checked against.

    /// Where a byte scan stands with respect to quoted strings (RFC 3261 §25.1: a
    /// quoted-string with quoted-pairs), shared by the two top-level scans here so they
    /// cannot disagree on what is quoted.
    #[derive(Debug, Clone, Copy, Default)]
    struct QuoteScan {
        in_quote: bool,
        escaped: bool,
    }

    impl QuoteScan {
        /// Takes the next byte `b`: true when it belongs to a quoted string (its quotes
        /// included), so it is neither a separator nor an angle bracket.
        fn quoted(&mut self, b: u8) -> bool {
            if self.in_quote {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_quote = false,
                    (false, _) => {}
                }
                return true;
            }
            self.in_quote = b == b'"';
            self.in_quote
        }
    }

    /// Calls `each` with the byte offset of every top-level occurrence of `sep` in `s`
    /// (outside quoted strings, honouring `\` escapes inside them, and, when `angles` is
    /// set, outside `<...>`) until it returns `false`. The separators, quotes and angle
    /// brackets are ASCII and no byte of a multi-byte UTF-8 character is, so scanning
    /// bytes finds the same offsets as scanning characters; no list is built (this runs
    /// for most header values of every message received).
    fn top_level_positions(s: &str, sep: char, angles: bool, mut each: impl FnMut(usize) -> bool) {
        let Ok(sep) = u8::try_from(sep) else {
            // Not ASCII: never a separator of the SIP grammar (no caller passes one).
            return;
        };
        let (mut quotes, mut in_angle) = (QuoteScan::default(), false);
        for (i, &b) in s.as_bytes().iter().enumerate() {
            if quotes.quoted(b) {
                continue;
            }
            match b {
                b'<' if angles => in_angle = true,
                b'>' if angles => in_angle = false,
                // `each` says whether to go on.
                _ if b == sep && !in_angle && !each(i) => return,
                _ => {}
            }
        }
    }

    /// The pieces as the list the splitter built before it was an iterator: cut
    /// at every offset [`top_level_positions`] reports.
    fn pieces_by_positions(s: &str, sep: char, angles: bool) -> Vec<&str> {
        let mut parts = Vec::new();
        let mut start = 0;
        top_level_positions(s, sep, angles, |pos| {
            parts.push(&s[start..pos]);
            start = pos + 1;
            true
        });
        parts.push(&s[start..]);
        parts
    }

    proptest::proptest! {
        /// The byte table answers as the character test: over any text (ASCII
        /// punctuation, controls, multi-byte characters) and over token-like text.
        #[test]
        fn token_table_is_the_character_test(any in ".{0,12}", tokenish in "[a-zA-Z0-9.!%*_+`'~ é\"-]{0,12}") {
            for s in [&any, &tokenish] {
                proptest::prop_assert_eq!(is_token(s), !s.is_empty() && s.chars().all(is_token_char));
            }
        }

        /// The plain-value byte table answers as the character test, over any text
        /// and over text made of the characters near the test's edges.
        #[test]
        fn plain_value_table_is_the_character_test(any in ".{0,12}", near in "[a-z0-9 \t\"<>,;=!~\x7f\x00é]{0,12}") {
            for s in [&any, &near] {
                let by_bytes = s.bytes().all(|b| PLAIN_VALUE_BYTES[usize::from(b)]);
                proptest::prop_assert_eq!(by_bytes, s.chars().all(is_plain_value_char));
            }
        }

        /// The iterator cuts where the position scan does, over text full of
        /// separators, quotes, escapes and angle brackets (and a multi-byte
        /// character, so a wrong cut would also panic on a char boundary).
        #[test]
        fn split_top_cuts_at_the_top_level_positions(
            s in r#"[,;<>"\\a é]{0,24}"#,
            angles: bool,
        ) {
            for sep in [',', ';'] {
                let pieces: Vec<&str> = split_top(&s, sep, angles).collect();
                proptest::prop_assert_eq!(pieces, pieces_by_positions(&s, sep, angles));
            }
        }
    }

    proptest::proptest! {
        /// Longer values, so that the bytes that matter fall anywhere in and
        /// across the eight-byte words the splitter reads: the pieces are the
        /// reference scan's, and `find_top` finds its first position.
        #[test]
        fn split_top_cuts_long_values_at_the_top_level_positions(
            s in r#"([a-z0-9 .:=@é]{0,11}[,;<>"\\]?){0,8}"#,
            angles: bool,
        ) {
            for sep in [',', ';', '<'] {
                let pieces: Vec<&str> = split_top(&s, sep, angles).collect();
                proptest::prop_assert_eq!(pieces, pieces_by_positions(&s, sep, angles));
                let mut first = None;
                top_level_positions(&s, sep, false, |i| {
                    first = Some(i);
                    false
                });
                proptest::prop_assert_eq!(find_top(&s, sep), first);
            }
        }

        /// The word-wise search finds the first byte of the set, as a byte scan.
        #[test]
        fn first_of_is_the_first_byte_of_the_set(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b';', b'"', b'<', 0x00, 0x80, 0xff, 0x7f]),
                0..40,
            ),
        ) {
            let set = [b'"', b';', b'<'];
            proptest::prop_assert_eq!(
                first_of(&bytes, set),
                bytes.iter().position(|b| set.contains(b))
            );
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(
            take_quoted(r#""a \"b\" \\" rest"#),
            Some((r#"a "b" \"#.to_owned(), " rest"))
        );
        assert_eq!(take_quoted(r#""open"#), None);
        assert_eq!(quote(r#"a "b" \"#), r#""a \"b\" \\""#);
        // Control characters are quoted-pairs (they read back), CR and LF cannot be.
        assert_eq!(
            quote("BEL:\u{7} NUL:\0 DEL:\u{7f}\t"),
            "\"BEL:\\\u{7} NUL:\\\0 DEL:\\\u{7f}\t\""
        );
        assert_eq!(quote("a\r\nVia: x"), "\"a  Via: x\"");
        assert_eq!(
            take_quoted(&quote("x\u{0}\u{1b}\"y"))
                .map(|(v, _)| v)
                .as_deref(),
            Some("x\u{0}\u{1b}\"y")
        );
    }

    #[test]
    fn header_params() {
        let p = parse_header_params(r#" ; tag = abc ;lr; +sip.instance="<urn:uuid:1>";;"#).unwrap();
        assert_eq!(
            p,
            [
                Param::new("tag", Some("abc")),
                Param::new("lr", None::<String>),
                Param::new("+sip.instance", Some("\"<urn:uuid:1>\"")),
            ]
        );
        assert!(parse_header_params("x").is_err());
        assert!(parse_header_params(";a b=1").is_err());
        assert!(parse_header_params(";a=\"open").is_err());
        assert!(parse_header_params(";a=b c").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_digits::<u32>("42"), Some(42));
        assert_eq!(parse_digits::<u32>("+42"), None);
        assert_eq!(parse_digits::<u32>("4294967296"), None);
        assert_eq!(parse_content_length("  42 "), Some(42));
        assert_eq!(
            parse_content_length("99999999999999999999999"),
            Some(usize::MAX)
        );
        assert_eq!(parse_content_length("-1"), None);
    }

    proptest::proptest! {
        /// The hand fold reads every string of digits (leading zeros, around the
        /// largest `usize`, far beyond) as `str::parse` did, a number too large
        /// saturating.
        #[test]
        fn content_length_folds_as_parse_did(digits in "[0-9]{1,25}") {
            proptest::prop_assert_eq!(
                parse_content_length(&digits),
                Some(digits.parse::<usize>().unwrap_or(usize::MAX))
            );
        }
    }

    #[test]
    fn excerpt_is_bounded_and_char_safe() {
        let long = "é".repeat(100);
        assert!(excerpt(&long).chars().count() < 60);
    }
}
