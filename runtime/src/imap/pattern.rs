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

/// Longest LIST/LSUB pattern (reference and pattern together, in characters)
/// matched; a longer one is refused with `NO [LIMIT]` (specs/imap.md, IMAP-7).
pub const MAX_LIST_PATTERN: usize = 1024;

/// LIST matching: `*` matches any run of characters, `%` any run without the
/// delimiter. `INBOX` matches case-insensitively.
///
/// Linear in the name for a given pattern (O(pattern × name) steps, O(pattern)
/// memory, no recursion): the pattern is run as an automaton over the set of
/// pattern positions reachable so far, so no input backtracks (IMAP-7). A
/// backtracking matcher is exponential in the number of wildcards.
pub fn list_matches(pattern: &str, name: &str) -> bool {
    if name.eq_ignore_ascii_case("INBOX") && !pattern.contains(['*', '%']) {
        return pattern.eq_ignore_ascii_case("INBOX");
    }
    let p: Vec<char> = pattern.chars().collect();
    // live[i]: the first i pattern characters can match the name read so far.
    let mut live = vec![false; p.len() + 1];
    let mut next = vec![false; p.len() + 1];
    live[0] = true;
    close_over_wildcards(&p, &mut live);
    for c in name.chars() {
        next.iter_mut().for_each(|b| *b = false);
        for (i, &pc) in p.iter().enumerate() {
            if !live[i] {
                continue;
            }
            match pc {
                // A wildcard absorbs `c` and stays where it is.
                '*' => next[i] = true,
                '%' if c != DELIMITER => next[i] = true,
                '%' => {}
                lit if lit == c => next[i + 1] = true,
                _ => {}
            }
        }
        close_over_wildcards(&p, &mut next);
        std::mem::swap(&mut live, &mut next);
        if !live.contains(&true) {
            return false;
        }
    }
    live[p.len()]
}

/// A wildcard may match the empty run: reaching it reaches the position after it.
fn close_over_wildcards(p: &[char], live: &mut [bool]) {
    for (i, &pc) in p.iter().enumerate() {
        if live[i] && matches!(pc, '*' | '%') {
            live[i + 1] = true;
        }
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
        assert!(list_matches("", ""));
        assert!(!list_matches("", "a"));
        assert!(list_matches("**", ""));
        assert!(list_matches("a*b%c", "aXX/Yb_c"));
        assert!(!list_matches("a*b%c", "aXXb/c"));
        assert!(list_matches("%/%", "Default/c1"));
        assert!(!list_matches("%%", "Default/c1"));
    }

    /// The reference matcher (backtracking, exponential): only for small inputs.
    fn slow(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| slow(rest, &n[i..])),
            Some(('%', rest)) => {
                let stop = n.iter().position(|&c| c == DELIMITER).unwrap_or(n.len());
                (0..=stop).any(|i| slow(rest, &n[i..]))
            }
            Some((c, rest)) => n.first() == Some(c) && slow(rest, &n[1..]),
        }
    }

    /// Every string of length up to `max` over `alphabet`.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    /// IMAP-7: the linear matcher agrees with the backtracking definition on every
    /// pattern of up to 4 characters and every name of up to 6.
    #[test]
    fn linear_matcher_agrees_with_backtracking() {
        let names = all_strings(&['a', 'b', '/'], 6);
        for p in all_strings(&['a', 'b', '/', '*', '%'], 4) {
            let pc: Vec<char> = p.chars().collect();
            for n in &names {
                let nc: Vec<char> = n.chars().collect();
                assert_eq!(list_matches(&p, n), slow(&pc, &nc), "{p:?} {n:?}");
            }
        }
    }

    /// IMAP-7: the pattern that froze the server for more than 20 s is answered
    /// at once (a few thousand steps; checked by count, not by time).
    #[test]
    fn many_stars_do_not_backtrack() {
        let name = format!("Default/{}", "a".repeat(200));
        assert!(!list_matches("**********x", &name));
        let stars = format!("{}x", "*%".repeat(MAX_LIST_PATTERN / 2 - 1));
        assert!(!list_matches(&stars, &name));
        assert!(list_matches(&"*".repeat(MAX_LIST_PATTERN), &name));
    }
}
