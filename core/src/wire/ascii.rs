//! Byte scans eight bytes at a time, for the decoders that run them over every byte
//! they read: printable-ASCII tests (the SIP head's lines, CPIM header lines, plain
//! SDP lines) and the search for the first of a few bytes ([`first_of`]: line ends,
//! separators, quotes, in SIP, MSRP and CPIM).
//!
//! What it is not: a character classifier. It answers only "is every byte SP to
//! `~`" (optionally HT too) and "where is the first of these bytes"; the callers
//! decide what a refusal means.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether all eight bytes of `word` are SP to `~`. Exact: a byte at or above 0x80
/// sets its high bit in `x`; with all below 0x80, adding 1 carries nowhere and sets
/// a high bit only for 0x7f (Bit Twiddling Hacks' `hasmore(x, 0x7e)`), and
/// subtracting 0x20 borrows only past a byte below SP (`hasless(x, 0x20)`).
fn word_printable(word: &[u8]) -> bool {
    let mut le = [0u8; 8];
    le.copy_from_slice(word);
    let x = u64::from_le_bytes(le);
    let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let above = (x.wrapping_add(ONES) | x) & HIGH;
    (below | above) == 0
}

/// Whether every byte is printable ASCII (SP to `~`).
pub(crate) fn printable(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    words.by_ref().all(word_printable) && words.remainder().iter().all(|b| matches!(b, b' '..=b'~'))
}

/// Whether every byte is printable ASCII or HT. Only a word that is not all
/// printable (most often one holding an HT) is looked at byte by byte.
pub(crate) fn printable_or_tab(bytes: &[u8]) -> bool {
    let one = |b: &u8| matches!(b, b' '..=b'~' | b'\t');
    let mut words = bytes.chunks_exact(8);
    words
        .by_ref()
        .all(|w| word_printable(w) || w.iter().all(one))
        && words.remainder().iter().all(one)
}

/// The offset of the first byte of `bytes` that is one of `set`, eight bytes at a
/// time: a word XORed with a byte repeated eight times has a zero byte where that
/// byte was, and `(x - 0x01..) & !x & 0x80..` (Bit Twiddling Hacks' `haszero`) sets
/// the high bit of its first zero byte exactly (a borrow can only mark bytes above
/// it); OR-ed over the set, the lowest bit set is the first byte of any of them.
pub(crate) fn first_of<const N: usize>(bytes: &[u8], set: [u8; N]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let w = u64::from_le_bytes(le);
        let mut hit = 0;
        for b in set {
            let x = w ^ (ONES * u64::from(b));
            hit |= x.wrapping_sub(ONES) & !x & HIGH;
        }
        if hit != 0 {
            // At most 63 / 8: the cast cannot truncate.
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|b| set.contains(b))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                prop::sample::select(vec![
                    0x00, 0x08, 0x09, 0x0a, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff
                ]),
                b' '..=b'~',
            ],
            0..40,
        )
    }

    proptest! {
        /// The word-wise tests are the byte-wise ones, over lengths across the
        /// eight-byte words and every byte value.
        #[test]
        fn the_word_tests_are_the_byte_tests(bytes in bytes()) {
            prop_assert_eq!(printable(&bytes), bytes.iter().all(|b| matches!(b, b' '..=b'~')));
            prop_assert_eq!(
                printable_or_tab(&bytes),
                bytes.iter().all(|b| matches!(b, b' '..=b'~' | b'\t'))
            );
        }
    }

    /// Every byte value at every position of a word and of the tail.
    #[test]
    fn every_byte_value_at_every_position() {
        for b in 0..=u8::MAX {
            for at in 0..19 {
                let mut line = vec![b'a'; 19];
                line[at] = b;
                assert_eq!(
                    printable(&line),
                    (0x20..0x7f).contains(&b),
                    "{b:#x} at {at}"
                );
                assert_eq!(
                    printable_or_tab(&line),
                    (0x20..0x7f).contains(&b) || b == b'\t',
                    "{b:#x} at {at}"
                );
            }
        }
        assert!(printable(b"") && printable_or_tab(b""));
    }
}
