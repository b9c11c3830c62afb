//! Matching what a command names against what a mailbox holds: sequence sets (by
//! sequence number or by UID) and LIST wildcards (`*`, `%`).
//!
//! Pure functions over the codec's types; no store access.

use imap_next::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// The delimiter of the mailbox hierarchy.
pub const DELIMITER: char = '/';

/// Inclusive ranges a set names, with `*` standing for `largest`. Ranges given
/// backwards (`5:2`) are turned around, as RFC 3501 allows.
fn ranges(set: &SequenceSet, largest: u32) -> Vec<(u32, u32)> {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        })
        .collect()
}

/// Whether `n` is in the set, `*` meaning `largest`.
pub fn contains(set: &SequenceSet, largest: u32, n: u32) -> bool {
    ranges(set, largest)
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&n))
}

/// The positions (0-based) in `uids` (ascending) a set names: by sequence number
/// (1-based position) or, with `by_uid`, by UID. An empty mailbox matches nothing.
pub fn resolve(set: &SequenceSet, uids: &[u32], by_uid: bool) -> Vec<usize> {
    let Some(&last) = uids.last() else {
        return Vec::new();
    };
    if by_uid {
        let rs = ranges(set, last);
        uids.iter()
            .enumerate()
            .filter(|(_, u)| rs.iter().any(|&(lo, hi)| (lo..=hi).contains(*u)))
            .map(|(i, _)| i)
            .collect()
    } else {
        let count = u32::try_from(uids.len()).unwrap_or(u32::MAX);
        let rs = ranges(set, count);
        (0..uids.len())
            .filter(|i| {
                let seq = u32::try_from(*i + 1).unwrap_or(u32::MAX);
                rs.iter().any(|&(lo, hi)| (lo..=hi).contains(&seq))
            })
            .collect()
    }
}

/// LIST matching: `*` matches any run of characters, `%` any run without the
/// delimiter. `INBOX` matches case-insensitively.
pub fn list_matches(pattern: &str, name: &str) -> bool {
    if name.eq_ignore_ascii_case("INBOX") && !pattern.contains(['*', '%']) {
        return pattern.eq_ignore_ascii_case("INBOX");
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_from(&p, &n)
}

fn matches_from(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => (0..=n.len()).any(|i| matches_from(rest, &n[i..])),
        Some(('%', rest)) => {
            let stop = n.iter().position(|&c| c == DELIMITER).unwrap_or(n.len());
            (0..=stop).any(|i| matches_from(rest, &n[i..]))
        }
        Some((c, rest)) => n.first() == Some(c) && matches_from(rest, &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    #[test]
    fn sequence_numbers_and_uids_resolve_to_positions() {
        let uids = [3, 7, 9, 20];
        assert_eq!(resolve(&set("2:*"), &uids, false), vec![1, 2, 3]);
        assert_eq!(resolve(&set("7:9"), &uids, true), vec![1, 2]);
        assert_eq!(resolve(&set("*"), &uids, true), vec![3]);
        // n:* with n above the last UID still names the last message (RFC 3501 §6.4.8).
        assert_eq!(resolve(&set("50:*"), &uids, true), vec![3]);
        assert_eq!(resolve(&set("4,1"), &uids, false), vec![0, 3]);
        assert!(resolve(&set("1:*"), &[], true).is_empty());
    }

    #[test]
    fn list_wildcards_stop_at_the_delimiter_for_percent_only() {
        assert!(list_matches("*", "Default/c1/s1"));
        assert!(list_matches("Default/%", "Default/c1"));
        assert!(!list_matches("Default/%", "Default/c1/s1"));
        assert!(list_matches("Default/*", "Default/c1/s1"));
        assert!(list_matches("%", "Default"));
        assert!(!list_matches("%", "Default/c1"));
        assert!(list_matches("inbox", "INBOX"));
        assert!(!list_matches("Default", "Default/c1"));
    }
}
