//! SEARCH criteria evaluated against one object: flags, sizes, dates, sequence and
//! UID sets, header and text substrings, and CONDSTORE's `MODSEQ`.
//!
//! Not here: keywords (the store keeps none, so `KEYWORD` never matches),
//! `\Recent` (not kept: `RECENT`/`NEW` never match) and charsets other than ASCII
//! (substring matching is ASCII case-insensitive on the raw bytes).

use chrono::{DateTime, NaiveDate as ChronoDate};
use imap_next::imap_types::search::SearchKey;

use super::message::Parsed;
use super::pattern::contains;
use crate::mailstore::{MailFlag, MailSummary};

/// One object as the criteria see it.
pub struct Candidate<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Its metadata.
    pub summary: &'a MailSummary,
    /// Its content, when a criterion needs it (see [`needs_raw`]).
    pub parsed: Option<&'a Parsed<'a>>,
    /// The whole object, with `parsed`.
    pub raw: Option<&'a [u8]>,
}

/// Where `*` points: the mailbox's message count and highest UID.
#[derive(Debug, Clone, Copy)]
pub struct Largest {
    /// Message count.
    pub seq: u32,
    /// Highest UID.
    pub uid: u32,
}

/// Whether evaluating `key` reads the object's content.
pub fn needs_raw(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_raw),
        SearchKey::Not(k) => needs_raw(k),
        SearchKey::Or(a, b) => needs_raw(a) || needs_raw(b),
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        SearchKey::SequenceSet(_)
        | SearchKey::All
        | SearchKey::Answered
        | SearchKey::Before(_)
        | SearchKey::Deleted
        | SearchKey::Draft
        | SearchKey::Flagged
        | SearchKey::Keyword(_)
        | SearchKey::Larger(_)
        | SearchKey::New
        | SearchKey::Old
        | SearchKey::On(_)
        | SearchKey::Recent
        | SearchKey::Seen
        | SearchKey::Since(_)
        | SearchKey::Smaller(_)
        | SearchKey::Uid(_)
        | SearchKey::Unanswered
        | SearchKey::Undeleted
        | SearchKey::Undraft
        | SearchKey::Unflagged
        | SearchKey::Unkeyword(_)
        | SearchKey::Unseen
        | SearchKey::ModSequence { .. } => false,
    }
}

/// Whether `key` uses `MODSEQ` (then the SEARCH response carries the highest
/// MODSEQ of the matches, RFC 7162 §3.1.5).
pub fn uses_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_modseq),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::ModSequence { .. } => true,
        // Every other key is a leaf without MODSEQ.
        SearchKey::SequenceSet(_)
        | SearchKey::All
        | SearchKey::Answered
        | SearchKey::Bcc(_)
        | SearchKey::Before(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::Deleted
        | SearchKey::Draft
        | SearchKey::Flagged
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::Keyword(_)
        | SearchKey::Larger(_)
        | SearchKey::New
        | SearchKey::Old
        | SearchKey::On(_)
        | SearchKey::Recent
        | SearchKey::Seen
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Since(_)
        | SearchKey::Smaller(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_)
        | SearchKey::Uid(_)
        | SearchKey::Unanswered
        | SearchKey::Undeleted
        | SearchKey::Undraft
        | SearchKey::Unflagged
        | SearchKey::Unkeyword(_)
        | SearchKey::Unseen => false,
    }
}

fn has(c: &Candidate<'_>, f: MailFlag) -> bool {
    c.summary.flags.contains(&f)
}

/// ASCII case-insensitive substring test; the empty needle matches. Linear in
/// `hay` plus `needle` (`memmem`'s two-way search), so no needle makes a search
/// quadratic (specs/imap.md, IMAP-7).
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || memchr::memmem::find(&hay.to_ascii_lowercase(), &needle.to_ascii_lowercase()).is_some()
}

fn header_has(c: &Candidate<'_>, name: &str, needle: &[u8]) -> bool {
    c.parsed
        .is_some_and(|p| p.values(name).any(|v| contains_ci(v.as_bytes(), needle)))
}

fn internal_day(c: &Candidate<'_>) -> Option<ChronoDate> {
    DateTime::from_timestamp(c.summary.internal_date, 0).map(|d| d.date_naive())
}

fn sent_day(c: &Candidate<'_>) -> Option<ChronoDate> {
    let date = c.parsed?.value("Date")?;
    DateTime::parse_from_rfc2822(&date)
        .ok()
        .map(|d| d.date_naive())
}

/// Whether the object matches `key`.
pub fn matches(key: &SearchKey<'_>, c: &Candidate<'_>, largest: Largest) -> bool {
    let s = c.summary;
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, largest)),
        SearchKey::SequenceSet(set) => contains(set, largest.seq, c.seq),
        SearchKey::Uid(set) => contains(set, largest.uid, s.uid),
        SearchKey::All | SearchKey::Old | SearchKey::Unkeyword(_) => true,
        SearchKey::New | SearchKey::Recent | SearchKey::Keyword(_) => false,
        SearchKey::Answered => has(c, MailFlag::Answered),
        SearchKey::Deleted => has(c, MailFlag::Deleted),
        SearchKey::Draft => has(c, MailFlag::Draft),
        SearchKey::Flagged => has(c, MailFlag::Flagged),
        SearchKey::Seen => has(c, MailFlag::Seen),
        SearchKey::Unanswered => !has(c, MailFlag::Answered),
        SearchKey::Undeleted => !has(c, MailFlag::Deleted),
        SearchKey::Undraft => !has(c, MailFlag::Draft),
        SearchKey::Unflagged => !has(c, MailFlag::Flagged),
        SearchKey::Unseen => !has(c, MailFlag::Seen),
        SearchKey::Not(k) => !matches(k, c, largest),
        SearchKey::Or(a, b) => matches(a, c, largest) || matches(b, c, largest),
        SearchKey::Larger(n) => s.size > *n,
        SearchKey::Smaller(n) => s.size < *n,
        SearchKey::Before(d) => internal_day(c).is_some_and(|x| x < *d.as_ref()),
        SearchKey::On(d) => internal_day(c).is_some_and(|x| x == *d.as_ref()),
        SearchKey::Since(d) => internal_day(c).is_some_and(|x| x >= *d.as_ref()),
        SearchKey::SentBefore(d) => sent_day(c).is_some_and(|x| x < *d.as_ref()),
        SearchKey::SentOn(d) => sent_day(c).is_some_and(|x| x == *d.as_ref()),
        SearchKey::SentSince(d) => sent_day(c).is_some_and(|x| x >= *d.as_ref()),
        SearchKey::Bcc(v) => header_has(c, "Bcc", v.as_ref()),
        SearchKey::Cc(v) => header_has(c, "Cc", v.as_ref()),
        SearchKey::From(v) => header_has(c, "From", v.as_ref()),
        SearchKey::To(v) => header_has(c, "To", v.as_ref()),
        SearchKey::Subject(v) => header_has(c, "Subject", v.as_ref()),
        SearchKey::Header(name, v) => {
            let name = String::from_utf8_lossy(name.as_ref());
            header_has(c, &name, v.as_ref())
        }
        SearchKey::Body(v) => c.parsed.is_some_and(|p| contains_ci(p.text(), v.as_ref())),
        SearchKey::Text(v) => c.raw.is_some_and(|r| contains_ci(r, v.as_ref())),
        SearchKey::ModSequence { modseq, .. } => s.modseq >= *modseq,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use imap_next::imap_types::core::AString;

    use super::*;

    fn summary(uid: u32, modseq: u64, seen: bool) -> MailSummary {
        let mut flags = BTreeSet::new();
        if seen {
            flags.insert(MailFlag::Seen);
        }
        MailSummary {
            uid,
            modseq,
            flags,
            internal_date: 1_795_000_000,
            size: 10,
        }
    }

    #[test]
    fn header_flag_uid_and_modseq_criteria() {
        let raw = b"From: <sip:alice@example.com>\r\nConversation-ID: c-1\r\n\r\nhi\r\n";
        let parsed = Parsed::new(raw);
        let s = summary(7, 12, false);
        let c = Candidate {
            seq: 2,
            summary: &s,
            parsed: Some(&parsed),
            raw: Some(raw),
        };
        let largest = Largest { seq: 3, uid: 9 };
        let a = |s: &str| AString::try_from(s.to_owned()).unwrap();
        let header = SearchKey::Header(a("conversation-id"), a("C-1"));
        assert!(needs_raw(&header));
        assert!(matches(&header, &c, largest));
        assert!(!matches(
            &SearchKey::Header(a("Contribution-ID"), a("")),
            &c,
            largest
        ));
        assert!(matches(&SearchKey::From(a("ALICE")), &c, largest));
        assert!(matches(&SearchKey::Unseen, &c, largest));
        assert!(!matches(&SearchKey::Seen, &c, largest));
        let uid = SearchKey::Uid("5:7".try_into().unwrap());
        assert!(matches(&uid, &c, largest));
        let modseq = SearchKey::ModSequence {
            entry: None,
            modseq: 13,
        };
        assert!(uses_modseq(&modseq));
        assert!(!matches(&modseq, &c, largest));
        assert!(matches(&SearchKey::Body(a("HI")), &c, largest));
    }
}
