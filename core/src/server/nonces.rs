//! The digest nonces the server issues (RFC 7616 §3.3) and the `nc` values it has
//! accepted under each (SEC-4a, SEC-4b).
//!
//! A nonce is *server-signed*, not remembered: `expiry ‖ random ‖ tag`, where
//! `random` is a fresh token (unique per challenge) and `tag` is HMAC-SHA-256
//! (RFC 2104), truncated to 128 bits, of the first two under a key derived from the
//! per-boot token key of [`super::token`] (its `Seed`). Issuing a challenge therefore
//! costs no state, and no flood of challenges can push a genuine nonce out of
//! anything: a nonce is genuine iff its tag verifies, whatever else happened.
//!
//! The `nc` table holds the highest `nc` accepted per nonce. It grows only on
//! *authenticated* requests (the password was right), holds at most [`MAX_NONCES`]
//! entries, and forgets entries whose nonce expired. When full, the entry of the
//! earliest expiry is dropped and its expiry becomes the `floor`: a genuine nonce
//! not in the table whose expiry is at or below the floor might have been used, so
//! it is treated as stale (the client asks again), never as fresh. A replay is
//! therefore refused even after eviction.
//!
//! What it is *not*: checking the password or the request (`auth`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::config::Seed;
use crate::time::Time;

/// Most nonces whose `nc` is remembered at once.
pub(crate) const MAX_NONCES: usize = 4096;

/// Hex digits of each part of a nonce: expiry (64 bits), random (128), tag (128).
const EXPIRY_HEX: usize = 16;
const RANDOM_HEX: usize = 32;
const TAG_HEX: usize = 32;

/// Accepted `nc` per nonce, bounded (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Nonces {
    /// Nonce -> (its expiry, the highest `nc` accepted under it).
    used: BTreeMap<String, (Time, u32)>,
    /// Expiry of the latest nonce whose entry was dropped for room.
    floor: Time,
}

/// What the `nc` table says of a nonce and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Above every count accepted under this nonce: recorded.
    Fresh,
    /// Not above a count already accepted (a replay), or the nonce's entry was
    /// dropped for room and the count cannot be checked.
    Replayed,
}

impl Nonces {
    /// Records `nc` under `nonce` (expiring at `expiry`) if it is above every count
    /// accepted under it.
    pub(crate) fn count(&mut self, now: Time, nonce: &str, expiry: Time, nc: u32) -> Count {
        self.used.retain(|_, (at, _)| *at > now);
        match self.used.get_mut(nonce) {
            Some((_, last)) if nc <= *last => return Count::Replayed,
            Some((_, last)) => {
                *last = nc;
                return Count::Fresh;
            }
            None if expiry <= self.floor => return Count::Replayed,
            None => {}
        }
        if self.used.len() >= MAX_NONCES {
            let oldest = self
                .used
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(n, (at, _))| (n.clone(), *at));
            if let Some((n, at)) = oldest {
                self.used.remove(&n);
                self.floor = self.floor.max(at);
            }
        }
        self.used.insert(nonce.to_owned(), (expiry, nc));
        Count::Fresh
    }
}

/// A nonce expiring at `expiry`, made unique by `random` (32 hex digits).
pub(crate) fn mint(seed: &Seed, expiry: Time, random: &str) -> String {
    let body = format!("{:016x}{random}", expiry.as_ms());
    let tag = tag(seed, &body);
    format!("{body}{tag}")
}

/// The expiry of `nonce` if the server signed it; `None` for a made-up or altered
/// one. The tag is compared in constant time.
pub(crate) fn verify(seed: &Seed, nonce: &str) -> Option<Time> {
    let well_formed = nonce.len() == EXPIRY_HEX + RANDOM_HEX + TAG_HEX
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return None;
    }
    let (body, claimed) = nonce.split_at(EXPIRY_HEX + RANDOM_HEX);
    if !constant_time_eq(tag(seed, body).as_bytes(), claimed.as_bytes()) {
        return None;
    }
    u64::from_str_radix(&body[..EXPIRY_HEX], 16)
        .ok()
        .map(Time::from_ms)
}

/// 128 bits of HMAC-SHA-256 over `body` under the nonce key, in hex.
fn tag(seed: &Seed, body: &str) -> String {
    // A key of its own, derived from the token key, so the MAC and the ChaCha20
    // keystream never share a key.
    let key: [u8; 32] = Sha256::new()
        .chain_update(b"cpmd digest nonce key\0")
        .chain_update(seed.instance.to_be_bytes())
        .chain_update(seed.key)
        .finalize()
        .into();
    let mac = hmac_sha256(&key, body.as_bytes());
    mac[..TAG_HEX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 2104 HMAC with SHA-256 and a 32-byte key (shorter than the 64-byte block).
/// Written out (a dozen lines) rather than adding the `hmac` crate: the tree's
/// `hmac` is built for another `sha2` major version than the core's.
pub(crate) fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// `a == b` in time that depends on the lengths only (SEC-4d). A hand-written fold
/// rather than the `subtle` crate (in the tree only through rustls, not a core
/// dependency): every byte pair is XORed and ORed into one accumulator, with no
/// early exit, and `black_box` keeps the optimiser from turning the fold back into
/// a short-circuiting comparison. The lengths are public (a digest's hex length is
/// fixed by its algorithm).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
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

    /// RFC 4231 test case 1 (its 20-byte key padded to 32 bytes with zeros is the
    /// same HMAC: HMAC pads keys with zeros to the block size).
    #[test]
    fn hmac_matches_rfc_4231_test_case_1() {
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let mac = hmac_sha256(&key, b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn genuine_nonces_verify_and_altered_ones_do_not() {
        let s = seed(7);
        let n = mint(&s, Time::from_ms(5_000), &"ab".repeat(16));
        assert_eq!(verify(&s, &n), Some(Time::from_ms(5_000)));
        assert_eq!(verify(&seed(8), &n), None, "another key");
        let mut later = n.clone().into_bytes();
        later[0] = b'f';
        assert_eq!(verify(&s, &String::from_utf8(later).unwrap()), None);
        assert_eq!(verify(&s, "made-up"), None);
        assert_eq!(verify(&s, &n.to_uppercase()), None);
    }

    #[test]
    fn counts_must_rise_and_dropped_entries_count_as_replayed() {
        let mut t = Nonces::default();
        let now = Time::ZERO;
        let exp = |ms| Time::from_ms(ms);
        assert_eq!(t.count(now, "a", exp(10), 1), Count::Fresh);
        assert_eq!(t.count(now, "a", exp(10), 1), Count::Replayed);
        assert_eq!(t.count(now, "a", exp(10), 2), Count::Fresh);
        for i in 0..MAX_NONCES as u64 {
            assert_eq!(
                t.count(now, &format!("n{i}"), exp(100 + i), 1),
                Count::Fresh
            );
        }
        assert!(t.used.len() <= MAX_NONCES);
        // "a" (earliest expiry) was dropped for room: its counts cannot be checked.
        assert_eq!(t.count(now, "a", exp(10), 3), Count::Replayed);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
