//! [`Shared<T>`]: a value behind a reference count, copied only when written while
//! shared, with its hash computed once.
//!
//! The server's state is cloned and hashed once per explored state by the model
//! checker (crate `cpmd-model`), and most of it does not change from one state to
//! the next: the configuration, the registrations, a transaction's request and last
//! response, a leg's addresses. Behind `Shared` a clone is a reference-count
//! increment, and hashing an unchanged value writes its remembered 64-bit hash. The
//! runtime pays one allocation per value and nothing else.
//!
//! The remembered hash is computed with foldhash (fixed seed), not the standard
//! library's SipHash: hashing each new value was a quarter of the model checker's
//! time with SipHash (model/README.md, "Throughput"), and nothing here needs a keyed
//! hash (no table an attacker fills: the runtime never hashes these values).
//!
//! What it is *not*: a cache in the state. Equality and hashing are those of the
//! value: `Shared<T>` values are equal exactly when the `T`s are, and equal `T`s
//! feed a `Hasher` the same bytes (the remembered hash is a function of the value,
//! computed with a fixed-key hasher, never of the address).

use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

/// A copy-on-write shared value with a remembered hash. See the module documentation.
pub struct Shared<T>(Arc<Inner<T>>);

struct Inner<T> {
    value: T,
    /// The value's hash, computed on first use, forgotten on every write. Not state:
    /// a function of `value`.
    hash: OnceLock<u64>,
}

impl<T: Clone> Clone for Inner<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            hash: self.hash.clone(),
        }
    }
}

impl<T> Shared<T> {
    /// Shares `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(Inner {
            value,
            hash: OnceLock::new(),
        }))
    }
}

impl<T: Hash> Shared<T> {
    fn hash64(&self) -> u64 {
        *self.0.hash.get_or_init(|| {
            // A fixed seed: the same value hashes the same in every thread and every
            // run (a `RandomState` would not). The quality variant's last mixing step
            // costs one multiplication per value; the result feeds the checker's
            // 64-bit fingerprint, where two values that collided would merge states.
            foldhash::quality::FixedState::with_seed(0).hash_one(&self.0.value)
        })
    }
}

impl<T: Clone> Shared<T> {
    /// The value, for writing: copied first when it is shared, and its remembered hash
    /// forgotten.
    pub fn make_mut(this: &mut Self) -> &mut T {
        let inner = Arc::make_mut(&mut this.0);
        inner.hash = OnceLock::new();
        &mut inner.value
    }

    /// The value, copied out when it is shared.
    pub fn unwrap_or_clone(this: Self) -> T {
        match Arc::try_unwrap(this.0) {
            Ok(inner) => inner.value,
            Err(shared) => shared.value.clone(),
        }
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Shared::make_mut(self)
    }
}

impl<T: Hash> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

impl<T: PartialEq + Hash> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.hash64() == other.hash64() && self.0.value == other.0.value)
    }
}

impl<T: Eq + Hash> Eq for Shared<T> {}

impl<T: PartialOrd + PartialEq + Hash> PartialOrd for Shared<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.0.value.partial_cmp(&other.0.value)
    }
}

impl<T: Ord + Hash> Ord for Shared<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.value.cmp(&other.0.value)
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.value.fmt(f)
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::hash::BuildHasher;

    use super::Shared;

    fn hash_of<T: std::hash::Hash>(v: &T) -> u64 {
        // A fixed-key hasher, as the model checker's fingerprint uses.
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(v)
    }

    #[test]
    fn a_clone_shares_and_a_write_copies() {
        let a = Shared::new(vec![1, 2, 3]);
        let mut b = a.clone();
        assert_eq!(a, b);
        b.push(4);
        assert_eq!(*a, [1, 2, 3], "the original is untouched");
        assert_eq!(*b, [1, 2, 3, 4]);
        assert_ne!(a, b);
    }

    #[test]
    fn equal_values_hash_equal_whatever_their_history() {
        let a = Shared::new(BTreeMap::from([(1, "x".to_owned())]));
        let _ = hash_of(&a); // remembers the hash of {1: x}
        let mut b = a.clone();
        b.insert(2, "y".into());
        let _ = hash_of(&b);
        b.remove(&2); // back to {1: x}: the remembered hash must be forgotten
        let c = Shared::new(BTreeMap::from([(1, "x".to_owned())]));
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&b), hash_of(&c));
        assert_eq!(a, b);
        assert_eq!(b, c);
        b.insert(3, "z".into());
        assert_ne!(hash_of(&a), hash_of(&b), "a written value hashes anew");
    }

    #[test]
    fn order_is_the_values() {
        let mut v = [Shared::new(3), Shared::new(1), Shared::new(2)];
        v.sort();
        assert_eq!(v.map(|s| *s), [1, 2, 3]);
    }
}
