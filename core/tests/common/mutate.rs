//! Byte-level mutations of corpus files: bit flips, replaced bytes, inserted bytes or
//! grammar tokens, deleted runs, truncation. Positions are `Index`es so that one
//! generated mutation applies to inputs of any length.

use proptest::prelude::*;
use proptest::sample::Index;

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(Index, u8),
    Replace(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
}

/// Mutations whose insertions are random bytes or one of `tokens` (pieces of the
/// grammar under test, which reach deeper states than random bytes do).
pub fn mutation(tokens: &'static [&'static [u8]]) -> impl Strategy<Value = Mutation> {
    let insertion = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(tokens).prop_map(|t| t.to_vec()),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        3 => (any::<Index>(), insertion).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), 1..24usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Applies one mutation in place.
pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Insert(i, t) => {
            let at = if len == 0 { 0 } else { i.index(len + 1) };
            bytes.splice(at..at, t.iter().copied());
        }
        _ if len == 0 => {}
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Replace(i, b) => bytes[i.index(len)] = *b,
        Mutation::Delete(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
    }
}
