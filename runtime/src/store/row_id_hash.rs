//! A hasher for maps keyed by database row ids (`i64`), as the history writer's
//! per-batch counters (`reserve.rs`) and per-session caches (`ops.rs`) are: one
//! multiplication per key, where the standard SipHash cost the store writer
//! ~1,500 instructions per chat message over a handful of lookups.
//!
//! Safe for these keys only: row ids are handed out by the database, one after
//! another, never chosen by a peer, so nobody can pick keys that collide. Not for
//! keys taken from the network (URIs, names): those maps keep SipHash.

use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by row ids.
pub type RowIdMap<V> = std::collections::HashMap<i64, V, BuildHasherDefault<RowIdHasher>>;

/// Fibonacci hashing of one integer: the key times 2^64 / φ. Distinct keys give
/// distinct hashes (the factor is odd), and the high bits (hashbrown's control
/// byte) depend on every bit of the key.
#[derive(Debug, Default, Clone, Copy)]
pub struct RowIdHasher(u64);

const FACTOR: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for RowIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than integers (none in this crate): still a
        // hash, byte by byte.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(FACTOR);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(FACTOR);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(FACTOR);
    }
}

#[cfg(test)]
mod tests {
    use super::RowIdMap;
    use std::hash::{BuildHasher, BuildHasherDefault};

    /// Consecutive row ids (how they are handed out) hash apart, in their high
    /// bits too, and a map of many of them finds each.
    #[test]
    fn consecutive_row_ids_hash_apart_and_are_found() {
        let build = BuildHasherDefault::<super::RowIdHasher>::default();
        let hashes: std::collections::BTreeSet<u64> =
            (1..=10_000i64).map(|id| build.hash_one(id)).collect();
        assert_eq!(hashes.len(), 10_000);
        let tops: std::collections::BTreeSet<u64> =
            (1..=1_000i64).map(|id| build.hash_one(id) >> 57).collect();
        assert!(tops.len() > 100, "{} control bytes", tops.len());
        let mut map = RowIdMap::default();
        for id in 1..=10_000i64 {
            map.insert(id, id * 2);
        }
        assert!((1..=10_000i64).all(|id| map.get(&id) == Some(&(id * 2))));
        assert_eq!(map.get(&0), None);
    }
}
