//! The keyed pseudorandom function every token the server puts on the wire comes
//! from: tags, branches, Call-IDs, nonces, Conversation-/Contribution-IDs, MSRP
//! session-ids, transaction ids and Message-IDs.
//!
//! A token is the ChaCha20 keystream (RFC 8439) under the per-boot 256-bit key of the
//! [`Seed`], at the position of a counter held in state, in a stream chosen by what the
//! token is for. ChaCha20's keystream is a pseudorandom function of (key, stream,
//! position): without the key, tokens seen on the wire say nothing about other tokens,
//! past or future, and carry no counter or other structure. With the key (a test, the
//! model, a replay of a recorded trace) the tokens are reproduced exactly, so the core
//! stays deterministic for a given seed.
//!
//! This module is not a source of entropy: the runtime draws the key from the OS.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::config::Seed;

/// What a token is for: each purpose reads its own keystream, so a token of one kind
/// never equals, or tells anything about, a token of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// SIP tags, branches, Call-IDs, nonces, focus user names.
    Sip = 1,
    /// MSRP session-ids, transaction ids and Message-IDs.
    Msrp = 2,
    /// UUIDs (Conversation-IDs, Contribution-IDs).
    Uuid = 3,
}

/// 128 pseudorandom bits for token number `n` of `stream` under `seed`.
pub(crate) fn prf(seed: &Seed, stream: Stream, n: u64) -> u128 {
    let mut rng = generator(seed, stream, n);
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    (u128::from(hi) << 64) | u128::from(lo)
}

/// A generator left at the next token of one stream, so that consecutive tokens
/// (an MSRP SEND's Message-ID, then a transaction id per chunk) are read on from
/// the keystream: [`prf`] sets up the key and computes a fresh block of keystream
/// for every token (~1,300 instructions), most of which a sequential read skips.
/// The tokens are [`prf`]'s, bit for bit (tested): the same keystream words.
#[derive(Debug, Clone)]
pub(crate) struct Sequential {
    rng: ChaCha20Rng,
    stream: Stream,
    /// The token number the generator stands at (`None` past the last one).
    next: Option<u64>,
}

impl Sequential {
    /// [`prf`]`(seed, stream, n)`, from `slot`'s generator when it stands at token
    /// `n` of `stream`, else from a new one left in `slot`.
    pub(crate) fn prf(slot: &mut Option<Self>, seed: &Seed, stream: Stream, n: u64) -> u128 {
        let s = match slot {
            Some(s) if s.next == Some(n) && s.stream == stream => s,
            _ => slot.insert(Self {
                rng: generator(seed, stream, n),
                stream,
                next: Some(n),
            }),
        };
        s.next = n.checked_add(1);
        let hi = s.rng.next_u64();
        let lo = s.rng.next_u64();
        (u128::from(hi) << 64) | u128::from(lo)
    }
}

/// The generator of `stream` under `seed`, at token `n`.
fn generator(seed: &Seed, stream: Stream, n: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(seed.key);
    // The instance number goes into the stream id, so two instances configured with
    // one key (a test, a replay) still mint different tokens.
    rng.set_stream((seed.instance << 8) ^ stream as u64);
    // Four 32-bit words per token: token `n` is words 4n..4n+4 of the stream.
    rng.set_word_pos(u128::from(n) * 4);
    rng
}

/// The 32 lowercase hex digits of `bits`, appended.
pub(crate) fn push_hex_bits(out: &mut String, bits: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Printed into an array and appended once (a `push` per digit, each checking
    // the capacity and encoding a `char`, was ~600 instructions per token).
    let mut digits = [0u8; 32];
    for (i, d) in digits.iter_mut().enumerate() {
        let shift = 4 * (31 - i);
        *d = DIGITS[((bits >> shift) & 0xf) as usize];
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
}

/// 32 lowercase hex digits of token number `n` of `stream`.
pub(crate) fn hex(seed: &Seed, stream: Stream, n: u64) -> String {
    let mut out = String::with_capacity(32);
    push_hex(&mut out, seed, stream, n);
    out
}

/// Appends the 32 lowercase hex digits of token number `n` of `stream` (what
/// `format!("{:032x}")` prints, without the formatting machinery: tokens are minted
/// several times per session).
pub(crate) fn push_hex(out: &mut String, seed: &Seed, stream: Stream, n: u64) {
    push_hex_bits(out, prf(seed, stream, n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(byte: u8) -> Seed {
        Seed {
            instance: 0,
            key: [byte; 32],
        }
    }

    #[test]
    fn deterministic_per_key_and_different_across_keys_streams_and_instances() {
        let a = seed(1);
        assert_eq!(prf(&a, Stream::Sip, 5), prf(&a, Stream::Sip, 5));
        assert_ne!(prf(&a, Stream::Sip, 5), prf(&a, Stream::Sip, 6));
        assert_ne!(prf(&a, Stream::Sip, 5), prf(&a, Stream::Msrp, 5));
        assert_ne!(prf(&a, Stream::Sip, 5), prf(&seed(2), Stream::Sip, 5));
        let other_instance = Seed { instance: 1, ..a };
        assert_ne!(
            prf(&a, Stream::Sip, 5),
            prf(&other_instance, Stream::Sip, 5)
        );
        assert_eq!(hex(&a, Stream::Uuid, 0).len(), 32);
        let bits = prf(&a, Stream::Msrp, 9);
        assert_eq!(hex(&a, Stream::Msrp, 9), format!("{bits:032x}"));
    }

    /// A sequential read gives `prf`'s tokens, whatever the order of the numbers
    /// asked for (a jump, a repeat, a switch of stream starts a new generator).
    #[test]
    fn sequential_tokens_are_prf_tokens() {
        let a = Seed {
            instance: 3,
            key: [7; 32],
        };
        let mut slot = None;
        let asked = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 40, 41, 41, 5, 6,
        ];
        for n in asked {
            assert_eq!(
                Sequential::prf(&mut slot, &a, Stream::Msrp, n),
                prf(&a, Stream::Msrp, n),
                "token {n}"
            );
        }
        assert_eq!(
            Sequential::prf(&mut slot, &a, Stream::Sip, 7),
            prf(&a, Stream::Sip, 7)
        );
        let last = Sequential::prf(&mut slot, &a, Stream::Msrp, u64::MAX);
        assert_eq!(last, prf(&a, Stream::Msrp, u64::MAX));
        // Past the last number the generator is not taken for token 0.
        assert_eq!(
            Sequential::prf(&mut slot, &a, Stream::Msrp, 0),
            prf(&a, Stream::Msrp, 0)
        );
    }

    /// The generator is ChaCha20 and not something like it: RFC 8439 A.1 test vector
    /// #1 (all-zero key and nonce, block 0) starts `76 b8 e0 ad a0 f1 3d 90`.
    #[test]
    fn is_the_chacha20_keystream() {
        let mut rng = ChaCha20Rng::from_seed([0; 32]);
        assert_eq!(
            rng.next_u64().to_le_bytes(),
            [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]
        );
        let zero = Seed {
            instance: 0,
            key: [0; 32],
        };
        let mut rng = ChaCha20Rng::from_seed([0; 32]);
        rng.set_stream(Stream::Sip as u64);
        rng.set_word_pos(4);
        let expected = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        assert_eq!(prf(&zero, Stream::Sip, 1), expected);
    }
}
