//! From logical header lines to the typed [`Headers`] block: name classification
//! (long and compact forms), list splitting, duplicate checks and the mandatory-header
//! check.
//!
//! What it is *not*: no line handling (see `head`) and no value grammar (see
//! `fields`); the CSeq-versus-request-method check is done by the caller, which
//! knows the start line.

use super::fields::{parse_cseq, parse_media_type, parse_name_addr, parse_via};
use super::head::RawHeader;
use super::syntax::{excerpt, is_token, parse_content_length, parse_digits, split_top, trim_lws};
use super::DecodeError;
use crate::ids::{CallId, ContributionId, ConversationId};
use crate::sip::{CSeq, Headers, Method, NameAddr};
use crate::uri::Uri;
use crate::wire::uri::parse_replaces;

/// The headers the decoder treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    Contact,
    Route,
    RecordRoute,
    Require,
    Supported,
    ContentType,
    ContentLength,
    Date,
    Expires,
    /// An extension header (OMA identifiers, RFC 3891/3892/3841).
    Ext(Ext),
    /// Untyped, but with a compact form that is expanded to the long name.
    OtherCompact,
}

/// Extension headers the decoder types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    ConversationId,
    ContributionId,
    InReplyTo,
    SessionReplaces,
    Replaces,
    ReferredBy,
    AcceptContact,
}

/// `(long name, compact form, kind)`. Compact forms: RFC 3261 §7.3.3 and §20,
/// RFC 3265/6665 (o, u), RFC 3515 (r), RFC 3841 (a, j, d), RFC 3892 (b),
/// RFC 4028 (x), RFC 4474 (y, n).
const TABLE: &[(&str, Option<&str>, Kind)] = &[
    ("Via", Some("v"), Kind::Via),
    ("From", Some("f"), Kind::From),
    ("To", Some("t"), Kind::To),
    ("Call-ID", Some("i"), Kind::CallId),
    ("CSeq", None, Kind::CSeq),
    ("Max-Forwards", None, Kind::MaxForwards),
    ("Contact", Some("m"), Kind::Contact),
    ("Route", None, Kind::Route),
    ("Record-Route", None, Kind::RecordRoute),
    ("Require", None, Kind::Require),
    ("Supported", Some("k"), Kind::Supported),
    ("Content-Type", Some("c"), Kind::ContentType),
    ("Content-Length", Some("l"), Kind::ContentLength),
    ("Date", None, Kind::Date),
    ("Expires", None, Kind::Expires),
    ("Conversation-ID", None, Kind::Ext(Ext::ConversationId)),
    ("Contribution-ID", None, Kind::Ext(Ext::ContributionId)),
    ("InReplyTo-Contribution-ID", None, Kind::Ext(Ext::InReplyTo)),
    (
        "In-Reply-To-Contribution-ID",
        None,
        Kind::Ext(Ext::InReplyTo),
    ),
    ("Session-Replaces", None, Kind::Ext(Ext::SessionReplaces)),
    ("Replaces", None, Kind::Ext(Ext::Replaces)),
    ("Referred-By", Some("b"), Kind::Ext(Ext::ReferredBy)),
    ("Accept-Contact", Some("a"), Kind::Ext(Ext::AcceptContact)),
    ("Subject", Some("s"), Kind::OtherCompact),
    ("Content-Encoding", Some("e"), Kind::OtherCompact),
    ("Event", Some("o"), Kind::OtherCompact),
    ("Allow-Events", Some("u"), Kind::OtherCompact),
    ("Refer-To", Some("r"), Kind::OtherCompact),
    ("Session-Expires", Some("x"), Kind::OtherCompact),
    ("Reject-Contact", Some("j"), Kind::OtherCompact),
    ("Request-Disposition", Some("d"), Kind::OtherCompact),
    ("Identity", Some("y"), Kind::OtherCompact),
    ("Identity-Info", Some("n"), Kind::OtherCompact),
];

/// The table entry for a header name (case-insensitive, long or compact).
///
/// Every header line of every message is classified, so this is table look-ups, not
/// a scan: a one-byte name is looked up among the compact forms by its lower-cased
/// byte ([`COMPACT`]), a longer one is compared only with the long names of its
/// length ([`BY_LENGTH`]), eight bytes at a time ([`Folded`]). Comparing byte by
/// byte with `eq_ignore_ascii_case` after a scan of the whole table for the length
/// was ~100 instructions per header line, 860 per message received
/// (`bench/core_ir.sh` and `core/examples/decode_cost.rs`, session 15). Same answer
/// as the plain scan (`classify_finds_what_the_plain_scan_finds`): the table has no
/// two entries with the same name.
fn classify(name: &str) -> Option<(&'static str, Kind)> {
    let bytes = name.as_bytes();
    let entry = if let [byte] = bytes {
        let index = COMPACT.get(usize::from(*byte))?;
        usize::from(index.checked_sub(1)?)
    } else {
        let words = Folded::words(bytes)?;
        let candidates = BY_LENGTH.get(bytes.len())?;
        let found = candidates
            .iter()
            .take_while(|i| usize::from(**i) < TABLE.len())
            .find(|i| {
                FOLDED
                    .get(usize::from(**i))
                    .is_some_and(|f| f.matches(&words))
            })?;
        usize::from(*found)
    };
    TABLE.get(entry).map(|(long, _, kind)| (*long, *kind))
}

/// Long names are at most this long (`In-Reply-To-Contribution-ID` is 27 bytes).
const MAX_LONG: usize = 32;

/// A long name of [`TABLE`] in 8-byte words, for a case-insensitive compare a word at
/// a time: a received name matches when, word by word, `(received | letters) ==
/// lower`. `letters` has 0x20 in the bytes where the name has a letter (so either case
/// of that letter, and only that letter, matches) and 0 elsewhere (so `-` matches only
/// `-`: a plain fold of every byte with 0x20 would also match `-` with a CR).
#[derive(Clone, Copy)]
struct Folded {
    lower: [u64; MAX_LONG / 8],
    letters: [u64; MAX_LONG / 8],
}

impl Folded {
    /// The words of a table name.
    const fn of(name: &str) -> Self {
        let bytes = name.as_bytes();
        let mut f = Folded {
            lower: [0; MAX_LONG / 8],
            letters: [0; MAX_LONG / 8],
        };
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let shift = (i % 8) * 8;
            f.lower[i / 8] |= (b.to_ascii_lowercase() as u64) << shift;
            if b.is_ascii_alphabetic() {
                f.letters[i / 8] |= 0x20 << shift;
            }
            i += 1;
        }
        f
    }

    /// A received name in words (little-endian, zero after its end); `None` when it
    /// is longer than any long name.
    fn words(bytes: &[u8]) -> Option<[u64; MAX_LONG / 8]> {
        if bytes.len() > MAX_LONG {
            return None;
        }
        let mut words = [0u64; MAX_LONG / 8];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            *word = match <[u8; 8]>::try_from(chunk) {
                Ok(full) => u64::from_le_bytes(full),
                Err(_) => chunk.iter().rev().fold(0, |w, b| (w << 8) | u64::from(*b)),
            };
        }
        Some(words)
    }

    /// Whether received `words` (of a name as long as this one) are this name in
    /// any case.
    fn matches(&self, words: &[u64; MAX_LONG / 8]) -> bool {
        words
            .iter()
            .zip(self.letters.iter().zip(&self.lower))
            .all(|(w, (letters, lower))| (w | letters) == *lower)
    }
}

/// [`Folded`] of each long name of [`TABLE`], by index.
static FOLDED: [Folded; TABLE.len()] = {
    let mut out = [Folded {
        lower: [0; MAX_LONG / 8],
        letters: [0; MAX_LONG / 8],
    }; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        out[i] = Folded::of(TABLE[i].0);
        i += 1;
    }
    out
};

/// The most long names of one length (five of 7 bytes).
const SAME_LENGTH: usize = 6;

/// For each length, the [`TABLE`] indexes of the long names of that length, in table
/// order, then `u8::MAX`.
static BY_LENGTH: [[u8; SAME_LENGTH]; MAX_LONG + 1] = {
    let mut out = [[u8::MAX; SAME_LENGTH]; MAX_LONG + 1];
    let mut i = 0;
    while i < TABLE.len() {
        let len = TABLE[i].0.len();
        let mut slot = 0;
        while out[len][slot] != u8::MAX {
            slot += 1;
        }
        out[len][slot] = i as u8;
        i += 1;
    }
    out
};

/// For each byte value, 1 + the [`TABLE`] index of the entry whose compact form it is
/// (either case), or 0.
static COMPACT: [u8; 256] = {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < TABLE.len() {
        if let Some(short) = TABLE[i].1 {
            let b = short.as_bytes()[0];
            out[b.to_ascii_lowercase() as usize] = i as u8 + 1;
            out[b.to_ascii_uppercase() as usize] = i as u8 + 1;
        }
        i += 1;
    }
    out
};

/// Accumulates headers; the four mandatory single values are kept apart until the
/// end because [`Headers`] cannot exist without them.
pub(super) struct Builder {
    from: Option<NameAddr>,
    to: Option<NameAddr>,
    call_id: Option<CallId>,
    cseq: Option<CSeq>,
    /// Content-Length, which is not stored in the block.
    pub(super) content_length: Option<usize>,
    /// The block; its mandatory fields are placeholders until [`Builder::finish`].
    pub(super) h: Headers,
}

impl Builder {
    /// No headers yet.
    pub(super) fn new() -> Self {
        let placeholder = || NameAddr::new(Uri::Other(String::new()));
        Builder {
            from: None,
            to: None,
            call_id: None,
            cseq: None,
            content_length: None,
            h: Headers::new(
                placeholder(),
                placeholder(),
                CallId::new(""),
                CSeq {
                    seq: 0,
                    method: Method::Other(String::new()),
                },
            ),
        }
    }

    /// Adds one logical header line.
    pub(super) fn add(&mut self, header: RawHeader<'_>) -> Result<(), DecodeError> {
        match classify(header.name) {
            Some((long, Kind::OtherCompact)) => self
                .h
                .other
                .push((long.to_owned(), header.value.into_owned())),
            Some((long, kind)) => self.typed(long, kind, &header.value)?,
            None => self
                .h
                .other
                .push((header.name.to_owned(), header.value.into_owned())),
        }
        Ok(())
    }

    /// Checks that the mandatory headers are there and puts them in the block, in
    /// place (the block is moved once, by the caller, into its message).
    pub(super) fn finish(&mut self) -> Result<(), DecodeError> {
        if self.h.via.is_empty() {
            return Err(DecodeError::MissingHeader("Via"));
        }
        let from = self.from.take().ok_or(DecodeError::MissingHeader("From"))?;
        let to = self.to.take().ok_or(DecodeError::MissingHeader("To"))?;
        let call_id = self
            .call_id
            .take()
            .ok_or(DecodeError::MissingHeader("Call-ID"))?;
        let cseq = self.cseq.take().ok_or(DecodeError::MissingHeader("CSeq"))?;
        self.h.from = from;
        self.h.to = to;
        self.h.call_id = call_id;
        self.h.cseq = cseq;
        Ok(())
    }
}

/// Builds the typed header block; also returns Content-Length, which is not stored.
#[cfg(test)]
fn build(raw: Vec<RawHeader<'_>>) -> Result<(Headers, Option<usize>), DecodeError> {
    let mut b = Builder::new();
    for header in raw {
        b.add(header)?;
    }
    b.finish()?;
    Ok((b.h, b.content_length))
}

/// Stores `value` in an empty single-valued slot; a second value is an error.
fn once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), DecodeError> {
    if slot.replace(value).is_some() {
        return Err(DecodeError::DuplicateHeader(name));
    }
    Ok(())
}

/// A parse failure of header `name`.
fn bad(name: &'static str) -> impl Fn(String) -> DecodeError {
    move |reason| DecodeError::BadHeader { name, reason }
}

/// A From or To value. Its `tag` must be an RFC 3261 `token`: the server copies
/// tags into other headers (the `Replaces` of a group INVITE, RFC 3891's `to-tag` and
/// `from-tag` are tokens), so a quoted or odd-character tag accepted here would be
/// printed where it no longer parses (fuzz finding a8adee2cb158).
fn from_to(name: &'static str, value: &str) -> Result<NameAddr, DecodeError> {
    let addr = parse_name_addr(value).map_err(bad(name))?;
    for p in addr
        .params
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case("tag"))
    {
        let tag = p.value.as_deref().unwrap_or("");
        if !is_token(tag) {
            return Err(bad(name)(format!("tag {} is not a token", excerpt(tag))));
        }
    }
    Ok(addr)
}

/// The non-empty, trimmed pieces of a comma-separated list.
fn list_items(value: &str, angles: bool) -> impl Iterator<Item = &str> {
    split_top(value, ',', angles)
        .map(trim_lws)
        .filter(|s| !s.is_empty())
}

impl Builder {
    fn typed(&mut self, name: &'static str, kind: Kind, value: &str) -> Result<(), DecodeError> {
        let h = &mut self.h;
        match kind {
            Kind::Via => each_nonempty(name, value, false, parse_via, |v| h.via.push(v))?,
            Kind::From => once(&mut self.from, name, from_to(name, value)?)?,
            Kind::To => once(&mut self.to, name, from_to(name, value)?)?,
            Kind::CallId => once(&mut self.call_id, name, CallId::new(word(name, value)?))?,
            Kind::CSeq => once(&mut self.cseq, name, parse_cseq(value).map_err(bad(name))?)?,
            Kind::MaxForwards => once(&mut h.max_forwards, name, number(name, value)?)?,
            Kind::Contact => self.contact(name, value)?,
            Kind::Route => name_addrs(name, value, &mut h.route)?,
            Kind::RecordRoute => name_addrs(name, value, &mut h.record_route)?,
            Kind::Require => h.require.extend(tokens(name, value)?),
            Kind::Supported => h.supported.extend(tokens(name, value)?),
            Kind::ContentType => {
                let media = parse_media_type(value).map_err(bad(name))?;
                once(&mut h.content_type, name, media)?;
            }
            Kind::ContentLength => {
                let n = parse_content_length(value).ok_or(DecodeError::BadContentLength)?;
                once(&mut self.content_length, name, n)?;
            }
            Kind::Date => {
                if !is_sip_date(value) {
                    return Err(bad(name)("not an RFC 1123 date in GMT".into()));
                }
                once(&mut h.date, name, value.to_owned())?
            }
            Kind::Expires => once(&mut h.expires, name, number(name, value)?)?,
            Kind::Ext(ext) => self.extension(name, ext, value)?,
            Kind::OtherCompact => {}
        }
        Ok(())
    }

    /// The OMA identifiers, Replaces, Referred-By and Accept-Contact.
    fn extension(&mut self, name: &'static str, ext: Ext, value: &str) -> Result<(), DecodeError> {
        let h = &mut self.h;
        match ext {
            Ext::ConversationId => once(
                &mut h.conversation_id,
                name,
                ConversationId::new(word(name, value)?),
            ),
            Ext::ContributionId => once(
                &mut h.contribution_id,
                name,
                ContributionId::new(word(name, value)?),
            ),
            Ext::InReplyTo => {
                let id = ContributionId::new(word(name, value)?);
                // Both spellings fill one slot, so name the slot by its OMA spelling.
                once(
                    &mut h.in_reply_to_contribution_id,
                    "InReplyTo-Contribution-ID",
                    id,
                )
            }
            Ext::SessionReplaces => once(
                &mut h.session_replaces,
                name,
                ContributionId::new(word(name, value)?),
            ),
            Ext::Replaces => {
                let r = parse_replaces(value).map_err(|e| bad(name)(e.to_string()))?;
                h.replaces.push(r);
                Ok(())
            }
            Ext::ReferredBy => {
                let addr = parse_name_addr(value).map_err(bad(name))?;
                once(&mut h.referred_by, name, Box::new(addr))
            }
            Ext::AcceptContact => {
                h.accept_contact
                    .extend(list_items(value, false).map(str::to_owned));
                Ok(())
            }
        }
    }

    /// `Contact: *` or a list of addresses; mixing the two is refused.
    fn contact(&mut self, name: &'static str, value: &str) -> Result<(), DecodeError> {
        let h = &mut self.h;
        if value == "*" {
            if !h.contact.is_empty() || h.contact_wildcard {
                return Err(bad(name)("* with other contacts".into()));
            }
            h.contact_wildcard = true;
            return Ok(());
        }
        if h.contact_wildcard {
            return Err(bad(name)("* with other contacts".into()));
        }
        name_addrs(name, value, &mut h.contact)
    }
}

/// Parses each element of a list whose every element must be present (`a, , b` and
/// an empty value refused) and hands it to `keep`, without building the list: the
/// error is the empty element's if there is one, else the first element's that
/// failed to parse (as when the list was checked whole before any element was
/// parsed).
fn each_nonempty<T>(
    name: &'static str,
    value: &str,
    angles: bool,
    parse: impl Fn(&str) -> Result<T, String>,
    mut keep: impl FnMut(T),
) -> Result<(), DecodeError> {
    let mut failed = None;
    for item in split_top(value, ',', angles).map(trim_lws) {
        if item.is_empty() {
            return Err(bad(name)("empty list element".into()));
        }
        if failed.is_none() {
            match parse(item) {
                Ok(v) => keep(v),
                Err(reason) => failed = Some(reason),
            }
        }
    }
    failed.map_or(Ok(()), |reason| Err(bad(name)(reason)))
}

/// The addresses of a Contact, Route or Record-Route value, appended to `into`.
fn name_addrs(
    name: &'static str,
    value: &str,
    into: &mut Vec<NameAddr>,
) -> Result<(), DecodeError> {
    each_nonempty(name, value, true, parse_name_addr, |a| into.push(a))
}

/// A comma-separated list of option tags (empty elements ignored).
fn tokens(name: &'static str, value: &str) -> Result<Vec<String>, DecodeError> {
    list_items(value, false)
        .map(|t| {
            if is_token(t) {
                Ok(t.to_owned())
            } else {
                Err(bad(name)("bad option tag".into()))
            }
        })
        .collect()
}

/// A single identifier (Call-ID, OMA IDs): non-empty printable ASCII, no spaces.
fn word<'a>(name: &'static str, value: &'a str) -> Result<&'a str, DecodeError> {
    // Bytes, not characters: no byte of a multi-byte character is ASCII graphic.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(name)("expected one word".into()));
    }
    Ok(value)
}

/// RFC 3261 §20.17 SIP-date: `Www, DD Mmm YYYY HH:MM:SS GMT` (RFC 1123, always
/// GMT). The server stores Date (claim step C3), so another zone is refused rather
/// than stored misread (RFC 4475 §3.1.2.12).
fn is_sip_date(value: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = value.split(' ').collect();
    let [day, dd, mon, yyyy, time, zone] = parts.as_slice() else {
        return false;
    };
    let time: Vec<&str> = time.split(':').collect();
    day.strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(dd, 2)
        && MONTHS.contains(mon)
        && digits(yyyy, 4)
        && time.len() == 3
        && time.iter().all(|t| digits(t, 2))
        && *zone == "GMT"
}

/// A 32-bit decimal number (Max-Forwards, Expires).
fn number(name: &'static str, value: &str) -> Result<u32, DecodeError> {
    parse_digits(value).ok_or_else(|| bad(name)("expected a number".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(lines: &[(&'a str, &str)]) -> Vec<RawHeader<'a>> {
        lines
            .iter()
            .map(|(name, value)| RawHeader {
                name,
                value: (*value).to_owned().into(),
            })
            .collect()
    }

    const MANDATORY: &[(&str, &str)] = &[
        ("v", "SIP/2.0/UDP h"),
        ("f", "<sip:a@b>;tag=1"),
        ("t", "<sip:c@d>"),
        ("i", "x"),
        ("CSeq", "1 OPTIONS"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Headers, DecodeError> {
        let mut lines = MANDATORY.to_vec();
        lines.extend_from_slice(extra);
        build(raw(&lines)).map(|(h, _)| h)
    }

    /// The lookup before session 12: every entry's long and compact name compared.
    fn classify_plain(name: &str) -> Option<(&'static str, Kind)> {
        TABLE
            .iter()
            .find(|(long, short, _)| {
                long.eq_ignore_ascii_case(name)
                    || short.is_some_and(|s| s.eq_ignore_ascii_case(name))
            })
            .map(|(long, _, kind)| (*long, *kind))
    }

    proptest::proptest! {
        /// Names from the table (long and compact, any case, sometimes one byte
        /// changed or added) and arbitrary short names classify as the plain scan did.
        #[test]
        fn classify_finds_what_the_plain_scan_finds(
            entry in 0..TABLE.len(),
            compact in proptest::bool::ANY,
            cases in proptest::collection::vec(proptest::bool::ANY, 32),
            change in proptest::option::of((0usize..32, 0u8..128)),
            other in "[a-zA-Z-]{0,6}",
        ) {
            let (long, short, _) = TABLE[entry];
            let base = if compact { short.unwrap_or(long) } else { long };
            let mut name: Vec<u8> = base
                .bytes()
                .zip(cases.iter().cycle())
                .map(|(b, up)| if *up { b.to_ascii_uppercase() } else { b.to_ascii_lowercase() })
                .collect();
            if let Some((at, byte)) = change {
                if at < name.len() {
                    name[at] = byte;
                } else {
                    name.push(byte);
                }
            }
            let name = String::from_utf8(name).expect("ASCII");
            proptest::prop_assert_eq!(classify(&name), classify_plain(&name));
            proptest::prop_assert_eq!(classify(&other), classify_plain(&other));
        }
    }

    #[test]
    fn classification_is_case_insensitive_and_expands_compact_names() {
        assert_eq!(classify("CALL-id"), Some(("Call-ID", Kind::CallId)));
        assert_eq!(classify("I"), Some(("Call-ID", Kind::CallId)));
        assert_eq!(classify("o"), Some(("Event", Kind::OtherCompact)));
        assert_eq!(classify("X-Unknown"), None);
        let h = with(&[("o", "presence"), ("X-Unknown", "v")]).unwrap();
        assert_eq!(
            h.other,
            [
                ("Event".to_owned(), "presence".to_owned()),
                ("X-Unknown".to_owned(), "v".to_owned())
            ]
        );
    }

    #[test]
    fn a_from_or_to_tag_must_be_a_token() {
        let tags = |from: &'static str, to: &'static str| {
            build(raw(&[
                ("v", "SIP/2.0/UDP h"),
                ("f", from),
                ("t", to),
                ("i", "x"),
                ("CSeq", "1 OPTIONS"),
            ]))
            .map(|(h, _)| h)
        };
        assert!(tags("<sip:a@b>;tag=a.b-c!%*_+`'~9", "<sip:c@d>;tag=x").is_ok());
        for (from, to) in [
            ("<sip:a@b>;tag=1", "<sip:c@d>;tag=bob-le}-tag"),
            ("<sip:a@b>;tag=\"quoted\"", "<sip:c@d>"),
            ("<sip:a@b>;tag", "<sip:c@d>"),
        ] {
            assert!(
                matches!(tags(from, to), Err(DecodeError::BadHeader { .. })),
                "{from} {to}"
            );
        }
    }

    #[test]
    fn mandatory_and_duplicates() {
        assert!(with(&[]).is_ok());
        for missing in 0..MANDATORY.len() {
            let mut lines = MANDATORY.to_vec();
            lines.remove(missing);
            assert!(matches!(
                build(raw(&lines)),
                Err(DecodeError::MissingHeader(_))
            ));
        }
        for dup in [
            ("To", "<sip:e@f>"),
            ("Call-ID", "y"),
            ("Expires", "1"),
            ("Content-Length", "0"),
            ("Conversation-ID", "a"),
        ] {
            let extra = if dup.0 == "To" || dup.0 == "Call-ID" {
                vec![dup]
            } else {
                vec![dup, dup]
            };
            assert!(
                matches!(with(&extra), Err(DecodeError::DuplicateHeader(_))),
                "{dup:?}"
            );
        }
        assert_eq!(
            with(&[
                ("In-Reply-To-Contribution-ID", "a"),
                ("InReplyTo-Contribution-ID", "b")
            ]),
            Err(DecodeError::DuplicateHeader("InReplyTo-Contribution-ID"))
        );
    }

    #[test]
    fn lists_and_contact_wildcard() {
        let h = with(&[
            ("Require", "a, b,,"),
            ("Require", "c"),
            ("Route", "<sip:p1;lr>, <sip:p2;lr>"),
            ("a", "*;x=\"1,2\", *;y"),
        ])
        .unwrap();
        assert_eq!(h.require, ["a", "b", "c"]);
        assert_eq!(h.route.len(), 2);
        assert_eq!(h.accept_contact, ["*;x=\"1,2\"", "*;y"]);
        assert!(with(&[("Route", "<sip:p1;lr>,")]).is_err());
        assert!(with(&[("Require", "a b")]).is_err());
        assert!(with(&[("Contact", "*"), ("Contact", "<sip:a@b>")]).is_err());
        assert!(with(&[("Contact", "<sip:a@b>"), ("m", "*")]).is_err());
        assert!(with(&[("Contact", "*")]).unwrap().contact_wildcard);
    }

    #[test]
    fn dates_are_rfc1123_gmt() {
        assert!(with(&[("Date", "Sat, 13 Nov 2010 23:29:00 GMT")]).is_ok());
        for bad in [
            "Fri, 01 Jan 2010 16:00:00 EST",
            "Fri, 1 Jan 2010 16:00:00 GMT",
            "Friday, 01 Jan 2010 16:00:00 GMT",
            "2010-01-01T16:00:00Z",
        ] {
            assert!(with(&[("Date", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_and_words() {
        let h = with(&[("Max-Forwards", "0"), ("Expires", "4294967295")]).unwrap();
        assert_eq!((h.max_forwards, h.expires), (Some(0), Some(u32::MAX)));
        assert!(with(&[("Expires", "4294967296")]).is_err());
        assert!(with(&[("Max-Forwards", "-1")]).is_err());
        assert!(with(&[("Contribution-ID", "two words")]).is_err());
        assert!(with(&[("Content-Length", "x")]).is_err());
        let (_, len) = build(raw(&[MANDATORY, &[("l", " 12 ")]].concat())).unwrap();
        assert_eq!(len, Some(12));
    }
}
