//! FETCH data items built from one stored object: FLAGS, UID, RFC822.SIZE,
//! INTERNALDATE, ENVELOPE, BODY/BODYSTRUCTURE, the `BODY[...]` sections (with
//! partial ranges) and RFC822 forms, and CONDSTORE's MODSEQ.
//!
//! Not here: BINARY (RFC 3516) and MIME part numbers beyond part 1 (objects are
//! single-part); a request for them is refused before the store is read.

use std::num::{NonZeroU32, NonZeroU64};

use chrono::{DateTime as ChronoDateTime, FixedOffset};
use imap_next::imap_types::datetime::DateTime;
use imap_next::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_next::imap_types::flag::{Flag, FlagFetch};

use super::message::{nbytes, Parsed};
use crate::mailstore::{MailFlag, MailSummary};

/// What a FETCH asks for, once expanded.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The items, in request order (macros expanded, UID and MODSEQ added).
    pub items: Vec<MessageDataItemName<'static>>,
    /// Whether an item reads the object's content.
    pub needs_raw: bool,
    /// Whether an item implicitly sets `\Seen` (RFC 3501 §6.4.5: `BODY[...]`
    /// without `.PEEK`, `RFC822`, `RFC822.TEXT`).
    pub sets_seen: bool,
    /// How many items carry (part of) the object's content: the answer for one
    /// object is at most this many times its size.
    pub content_items: usize,
}

/// Most distinct items one FETCH may name (after repeats are dropped); more are
/// answered `NO [LIMIT]` (specs/imap.md, IMAP-7).
pub const MAX_FETCH_ITEMS: usize = 64;

/// Most content bytes (objects' size times [`Plan::content_items`]) one FETCH
/// answer may carry; a bigger answer is refused `NO [LIMIT]` before it is built,
/// and the client fetches fewer messages at a time (IMAP-7). Above the largest
/// MSRP message (16 MiB), so any one message can always be fetched whole.
pub const MAX_FETCH_BYTES: u64 = 32 * 1024 * 1024;

/// Why a FETCH cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

/// Expands the request; `uid` adds `UID` (UID FETCH), `modseq` adds `MODSEQ`
/// (CONDSTORE enabled).
pub fn plan(
    request: &MacroOrMessageDataItemNames<'static>,
    uid: bool,
    modseq: bool,
) -> Result<Plan, Unsupported> {
    let mut items: Vec<MessageDataItemName<'static>> = match request {
        MacroOrMessageDataItemNames::Macro(m) => m.expand().into_iter().map(to_static).collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v.clone(),
    };
    if uid && !items.contains(&MessageDataItemName::Uid) {
        items.insert(0, MessageDataItemName::Uid);
    }
    if modseq && !items.contains(&MessageDataItemName::ModSeq) {
        items.push(MessageDataItemName::ModSeq);
    }
    // An item named twice is answered once (`BODY[] BODY[] …` must not multiply
    // the answer, IMAP-7). Quadratic in the distinct items, which are few: the
    // list stops growing past the cap, checked by the caller.
    let mut distinct: Vec<MessageDataItemName<'static>> = Vec::new();
    for item in items {
        if !distinct.contains(&item) {
            distinct.push(item);
            if distinct.len() > MAX_FETCH_ITEMS {
                break;
            }
        }
    }
    let items = distinct;
    let mut needs_raw = false;
    let mut sets_seen = false;
    let mut content_items = 0;
    for item in &items {
        match item {
            MessageDataItemName::Body
            | MessageDataItemName::BodyStructure
            | MessageDataItemName::Envelope
            | MessageDataItemName::Rfc822Header => {
                needs_raw = true;
                content_items += 1;
            }
            MessageDataItemName::BodyExt { section, peek, .. } => {
                if let Some(s) = section {
                    check_section(s)?;
                }
                needs_raw = true;
                sets_seen |= !peek;
                content_items += 1;
            }
            MessageDataItemName::Rfc822 | MessageDataItemName::Rfc822Text => {
                needs_raw = true;
                sets_seen = true;
                content_items += 1;
            }
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
                return Err(Unsupported("BINARY is not supported"));
            }
            MessageDataItemName::Flags
            | MessageDataItemName::InternalDate
            | MessageDataItemName::Rfc822Size
            | MessageDataItemName::Uid
            | MessageDataItemName::ModSeq => {}
        }
    }
    Ok(Plan {
        items,
        needs_raw,
        sets_seen,
        content_items,
    })
}

fn to_static(item: MessageDataItemName<'_>) -> MessageDataItemName<'static> {
    use imap_next::imap_types::ToStatic as _;
    item.to_static()
}

/// Only part 1 (the whole text of a single-part object) has a part number.
fn check_section(section: &Section<'_>) -> Result<(), Unsupported> {
    let part = match section {
        Section::Part(p) | Section::Mime(p) => Some(p),
        Section::Header(p)
        | Section::HeaderFields(p, _)
        | Section::HeaderFieldsNot(p, _)
        | Section::Text(p) => p.as_ref(),
    };
    match part {
        Some(p) if p.0.as_ref().iter().map(|n| n.get()).ne([1]) => {
            Err(Unsupported("objects are single-part: only part 1 exists"))
        }
        _ => Ok(()),
    }
}

/// The IMAP flags of a summary.
pub fn flags(summary: &MailSummary) -> Vec<FlagFetch<'static>> {
    summary
        .flags
        .iter()
        .map(|f| {
            FlagFetch::Flag(match f {
                MailFlag::Seen => Flag::Seen,
                MailFlag::Deleted => Flag::Deleted,
                MailFlag::Flagged => Flag::Flagged,
                MailFlag::Answered => Flag::Answered,
                MailFlag::Draft => Flag::Draft,
            })
        })
        .collect()
}

/// INTERNALDATE of a summary (UTC).
pub fn internal_date(summary: &MailSummary) -> DateTime {
    let utc = FixedOffset::east_opt(0).expect("zero offset is valid");
    let when = ChronoDateTime::from_timestamp(summary.internal_date, 0)
        .unwrap_or_default()
        .with_timezone(&utc);
    DateTime::try_from(when).unwrap_or_else(|_| {
        DateTime::try_from(ChronoDateTime::<chrono::Utc>::default().with_timezone(&utc))
            .expect("the epoch is a valid IMAP date")
    })
}

/// Applies `<origin.length>` to a section's bytes.
fn partial(bytes: &[u8], range: Option<(u32, NonZeroU32)>) -> (&[u8], Option<u32>) {
    match range {
        None => (bytes, None),
        Some((origin, len)) => {
            let start = usize::try_from(origin)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = start
                .saturating_add(usize::try_from(len.get()).unwrap_or(usize::MAX))
                .min(bytes.len());
            (&bytes[start..end], Some(origin))
        }
    }
}

fn section_bytes(parsed: &Parsed<'_>, raw: &[u8], section: Option<&Section<'_>>) -> Vec<u8> {
    let names = |v: &imap_next::imap_types::core::Vec1<_>| -> Vec<String> {
        let v: &[imap_next::imap_types::core::AString<'_>] = v.as_ref();
        v.iter()
            .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
            .collect()
    };
    match section {
        None => raw.to_vec(),
        Some(Section::Header(_)) => parsed.header().to_vec(),
        Some(Section::HeaderFields(_, list)) => parsed.header_fields(&names(list), false),
        Some(Section::HeaderFieldsNot(_, list)) => parsed.header_fields(&names(list), true),
        Some(Section::Text(_) | Section::Part(_)) => parsed.text().to_vec(),
        // The MIME header of part 1 of a single-part message is its own header.
        Some(Section::Mime(_)) => parsed.header().to_vec(),
    }
}

/// The data items for one object; `raw` is given when [`Plan::needs_raw`].
pub fn items(
    plan: &Plan,
    summary: &MailSummary,
    raw: Option<&[u8]>,
) -> Vec<MessageDataItem<'static>> {
    let raw = raw.unwrap_or_default();
    let parsed = Parsed::new(raw);
    let mut out = Vec::with_capacity(plan.items.len());
    for item in &plan.items {
        out.push(match item {
            MessageDataItemName::Uid => match NonZeroU32::new(summary.uid) {
                Some(u) => MessageDataItem::Uid(u),
                None => continue,
            },
            MessageDataItemName::Flags => MessageDataItem::Flags(flags(summary)),
            MessageDataItemName::Rfc822Size => MessageDataItem::Rfc822Size(summary.size),
            MessageDataItemName::InternalDate => {
                MessageDataItem::InternalDate(internal_date(summary))
            }
            MessageDataItemName::ModSeq => {
                MessageDataItem::ModSeq(NonZeroU64::new(summary.modseq).unwrap_or(NonZeroU64::MIN))
            }
            MessageDataItemName::Envelope => MessageDataItem::Envelope(parsed.envelope()),
            MessageDataItemName::Body => MessageDataItem::Body(parsed.body_structure()),
            MessageDataItemName::BodyStructure => {
                MessageDataItem::BodyStructure(parsed.body_structure())
            }
            MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(nbytes(raw)),
            MessageDataItemName::Rfc822Header => {
                MessageDataItem::Rfc822Header(nbytes(parsed.header()))
            }
            MessageDataItemName::Rfc822Text => MessageDataItem::Rfc822Text(nbytes(parsed.text())),
            MessageDataItemName::BodyExt {
                section,
                partial: range,
                ..
            } => {
                let bytes = section_bytes(&parsed, raw, section.as_ref());
                let (bytes, origin) = partial(&bytes, *range);
                MessageDataItem::BodyExt {
                    section: section.clone(),
                    origin,
                    data: nbytes(bytes),
                }
            }
            // Refused by `plan`.
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => continue,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use imap_next::imap_types::fetch::Macro;

    use super::*;

    #[test]
    fn uid_fetch_adds_uid_and_peek_does_not_set_seen() {
        let peek =
            MacroOrMessageDataItemNames::MessageDataItemNames(vec![MessageDataItemName::BodyExt {
                section: Some(Section::Header(None)),
                partial: None,
                peek: true,
            }]);
        let p = plan(&peek, true, false).unwrap();
        assert_eq!(p.items[0], MessageDataItemName::Uid);
        assert!(p.needs_raw && !p.sets_seen);
        let fast = MacroOrMessageDataItemNames::Macro(Macro::Fast);
        let p = plan(&fast, false, true).unwrap();
        assert!(!p.needs_raw);
        assert!(p.items.contains(&MessageDataItemName::ModSeq));
        let body =
            MacroOrMessageDataItemNames::MessageDataItemNames(vec![MessageDataItemName::BodyExt {
                section: None,
                partial: None,
                peek: false,
            }]);
        assert!(plan(&body, false, false).unwrap().sets_seen);
    }

    #[test]
    fn partial_ranges_clip_to_the_section() {
        let summary = MailSummary {
            uid: 4,
            modseq: 9,
            flags: BTreeSet::from([MailFlag::Seen]),
            internal_date: 0,
            size: 13,
        };
        let raw = b"A: b\r\n\r\nhello";
        let req =
            MacroOrMessageDataItemNames::MessageDataItemNames(vec![MessageDataItemName::BodyExt {
                section: Some(Section::Text(None)),
                partial: Some((1, NonZeroU32::new(100).unwrap())),
                peek: true,
            }]);
        let p = plan(&req, false, false).unwrap();
        let got = items(&p, &summary, Some(raw));
        assert_eq!(
            got,
            vec![MessageDataItem::BodyExt {
                section: Some(Section::Text(None)),
                origin: Some(1),
                data: nbytes(b"ello"),
            }]
        );
    }
}
