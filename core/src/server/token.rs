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
//! SIP tokens (tags, branches after the magic cookie, Call-IDs) are printed as the
//! 22 base64url digits (RFC 4648 §5, no padding) of their 128 bits, so that a tag or
//! a Call-ID fits a `CompactString`'s 24 inline bytes and a message's copies of it
//! cost no allocation; the characters are SIP `token` and `word` characters and
//! URI-unreserved. Nonces, focus user names and MSRP ids keep 32 hex digits.
//!
//! The server's own non-2xx answers to requests outside any dialog take their To-tag
//! from [`answer_prf`] instead: HMAC-SHA256 (RFC 2104) under a key derived from the
//! seed ([`answer_key`]) of the request's own identity (Call-ID, From-tag, branch,
//! CSeq). Still unpredictable without the key and different across boots, but minted
//! from no counter: answering such a request changes nothing in the server's id state,
//! so the answer commutes with every other mint (what the model's reduction of an
//! outsider's refused INVITE rests on), and every answer to one request carries one
//! tag (RFC 3261 §8.2.6.2) by construction.
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
    /// The key of the dialogs' branch streams ([`leg_key`]), read once per server.
    LegKey = 4,
    /// The key of the answers' tags ([`answer_key`]), read once per server.
    AnswerKey = 5,
}

/// 128 pseudorandom bits for token number `n` of `stream` under `seed` (tests: what
/// [`Sequential::prf`] reads on to).
#[cfg(test)]
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
    /// `n` of `stream` or a few tokens before it (read on past the ones between:
    /// the SIP counter also numbers sessions and tickets, so its tokens skip a
    /// few numbers), else from a new one left in `slot`.
    pub(crate) fn prf(slot: &mut Option<Self>, seed: &Seed, stream: Stream, n: u64) -> u128 {
        let s = match slot {
            Some(s)
                if s.stream == stream
                    && s.next.is_some_and(|next| n >= next && n - next <= MAX_SKIP) =>
            {
                s
            }
            _ => slot.insert(Self {
                rng: generator(seed, stream, n),
                stream,
                next: Some(n),
            }),
        };
        for _ in s.next.unwrap_or(n)..n {
            s.rng.next_u64();
            s.rng.next_u64();
        }
        s.next = n.checked_add(1);
        let hi = s.rng.next_u64();
        let lo = s.rng.next_u64();
        (u128::from(hi) << 64) | u128::from(lo)
    }
}

/// Most tokens [`Sequential::prf`] reads past rather than set up a new generator:
/// 16 tokens are 64 keystream words, the 4 blocks the generator computes at once,
/// so a longer skip would compute as much as a fresh start.
const MAX_SKIP: u64 = 16;

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

/// The 256-bit key of the dialogs' branch streams: the first two tokens of the
/// [`Stream::LegKey`] keystream under the seed's key and instance. A key of its
/// own (not the seed's key with the leg number as the ChaCha20 stream id) because
/// the stream id already holds the instance and the purpose, and a leg number
/// needs all 64 bits. As secret as the seed's key: without it, a branch says
/// nothing about another (the tokens are ChaCha20's keystream under it).
pub(crate) fn leg_key(seed: &Seed) -> [u8; 32] {
    let mut key = [0u8; 32];
    let mut rng = generator(seed, Stream::LegKey, 0);
    rng.fill_bytes(&mut key);
    key
}

/// The 256-bit key of the tags of the server's own non-2xx answers ([`answer_prf`]):
/// the first two tokens of the [`Stream::AnswerKey`] keystream, as secret as the
/// seed's key and apart from every other key and token.
pub(crate) fn answer_key(seed: &Seed) -> [u8; 32] {
    let mut key = [0u8; 32];
    let mut rng = generator(seed, Stream::AnswerKey, 0);
    rng.fill_bytes(&mut key);
    key
}

/// 128 pseudorandom bits of `fields` under `key`: the first half of HMAC-SHA256
/// (RFC 2104, `nonces::hmac_sha256`) of the fields, each preceded by its length
/// (so that no two lists of fields are one input). A PRF of variable-length input
/// (the ChaCha20 keystream takes a 128-bit position): a request's identity, which
/// no counter numbers.
pub(crate) fn answer_prf(key: &[u8; 32], fields: &[&[u8]]) -> u128 {
    let mut message = Vec::with_capacity(fields.iter().map(|f| 8 + f.len()).sum());
    for field in fields {
        message.extend_from_slice(&(field.len() as u64).to_be_bytes());
        message.extend_from_slice(field);
    }
    let mac = super::nonces::hmac_sha256(key, &message);
    let mut bits = [0u8; 16];
    bits.copy_from_slice(&mac[..16]);
    u128::from_be_bytes(bits)
}

/// 128 pseudorandom bits for branch `n` of the dialog the server numbered `leg`:
/// ChaCha20's keystream under [`leg_key`], in stream `leg`, at token `n`. Each
/// (leg, n) is a distinct keystream position, so no two are the same PRF input.
pub(crate) fn leg_prf(leg_key: &[u8; 32], leg: u64, n: u64) -> u128 {
    let mut rng = ChaCha20Rng::from_seed(*leg_key);
    rng.set_stream(leg);
    rng.set_word_pos(u128::from(n) * 4);
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    (u128::from(hi) << 64) | u128::from(lo)
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

/// Characters of a SIP token: 128 bits in base64url digits.
pub(crate) const SIP_TOKEN_LEN: usize = 22;

/// The base64url digits (RFC 4648 §5, without padding) of `bits` taken as 16
/// big-endian bytes: six bits a digit, the last digit holding the two lowest bits
/// and four zero bits, as any base64url decoder reads it.
pub(crate) fn b64url_digits(bits: u128) -> [u8; SIP_TOKEN_LEN] {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut digits = [0u8; SIP_TOKEN_LEN];
    for (i, d) in digits[..SIP_TOKEN_LEN - 1].iter_mut().enumerate() {
        let shift = 122 - 6 * i;
        *d = DIGITS[((bits >> shift) & 0x3f) as usize];
    }
    digits[SIP_TOKEN_LEN - 1] = DIGITS[((bits & 0x3) << 4) as usize];
    digits
}

/// The base64url digits of `bits` as text (see [`b64url_digits`]).
pub(crate) fn push_b64url(out: &mut String, bits: u128) {
    out.push_str(std::str::from_utf8(&b64url_digits(bits)).unwrap_or_default());
}

/// (tests only) 32 lowercase hex digits of token number `n` of `stream`.
#[cfg(test)]
pub(crate) fn hex(seed: &Seed, stream: Stream, n: u64) -> String {
    let mut out = String::with_capacity(32);
    push_hex_bits(&mut out, prf(seed, stream, n));
    out
}

/// (tests only) The 128 bits of a SIP token, by a plain base64url decoder (the RFC
/// 4648 §5 alphabet by position, eight bits at a time): `None` for anything that is
/// not 22 digits with zero padding bits.
#[cfg(test)]
pub(crate) fn b64url_bits(text: &str) -> Option<u128> {
    const DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut held_bits = 0u32;
    let mut held = 0;
    let mut bytes = Vec::new();
    for c in text.chars() {
        held_bits = (held_bits << 6) | DIGITS.find(c)? as u32;
        held += 6;
        if held >= 8 {
            held -= 8;
            bytes.push((held_bits >> held) as u8);
            held_bits &= (1 << held) - 1;
        }
    }
    // What is left over must be the zero padding bits.
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    (held_bits == 0 && text.len() == SIP_TOKEN_LEN).then(|| u128::from_be_bytes(bytes))
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

    /// The answers' PRF is HMAC-SHA256 of the length-prefixed fields, truncated
    /// to 128 bits (the expected value is Python's `hmac.new(key, msg, sha256)` of
    /// the same bytes), and no two lists of fields are one input.
    #[test]
    fn answer_prf_is_truncated_hmac_sha256_of_the_fields() {
        let key = [0x0b; 32];
        assert_eq!(
            answer_prf(&key, &[b"Hi There", b""]),
            0xd52685f5960e0abd6f8ff465ce30d35c
        );
        // The length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            answer_prf(&key, &[b"ab", b"c"]),
            answer_prf(&key, &[b"a", b"bc"])
        );
        let a = seed(1);
        assert_ne!(answer_key(&a), answer_key(&seed(2)));
        assert_ne!(answer_key(&a), leg_key(&a));
        assert_ne!(
            answer_prf(&answer_key(&a), &[b"x"]),
            answer_prf(&answer_key(&seed(2)), &[b"x"])
        );
    }

    /// Reading on past skipped tokens gives `prf`'s tokens, up to and beyond the
    /// longest skip (then a new generator).
    #[test]
    fn skipping_sequential_tokens_are_prf_tokens() {
        let a = Seed {
            instance: 1,
            key: [9; 32],
        };
        let mut slot = None;
        let mut n = 1;
        for skip in (0..=MAX_SKIP + 2).chain([0, 1, 3, MAX_SKIP, 100, 2]) {
            n += skip;
            assert_eq!(
                Sequential::prf(&mut slot, &a, Stream::Sip, n),
                prf(&a, Stream::Sip, n),
                "token {n} after a skip of {skip}"
            );
            n += 1;
        }
    }

    /// The SIP token digits are base64url of the 16 big-endian bytes (RFC 4648 §10
    /// test vector, and a reference decoder over PRF outputs and edge values), SIP
    /// `token` characters only.
    #[test]
    fn sip_tokens_are_base64url_of_the_bits() {
        // RFC 4648 §10: BASE64("foobar") = "Zm9vYmFy"; 16 bytes "foobarfoobarfoob".
        let bits = u128::from_be_bytes(*b"foobarfoobarfoob");
        let mut text = String::new();
        push_b64url(&mut text, bits);
        assert_eq!(text, "Zm9vYmFyZm9vYmFyZm9vYg");
        let a = seed(4);
        let edge = [
            0,
            1,
            2,
            3,
            4,
            u128::MAX,
            u128::MAX - 3,
            1 << 127,
            0x3f << 122,
        ];
        let prfs = (0..200).map(|n| prf(&a, Stream::Sip, n));
        for bits in edge.into_iter().chain(prfs) {
            let mut text = String::new();
            push_b64url(&mut text, bits);
            assert_eq!(text.len(), SIP_TOKEN_LEN);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(b64url_bits(&text), Some(bits), "{text}");
        }
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
