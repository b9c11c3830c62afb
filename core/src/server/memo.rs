//! [`Memo`]: a cache inside the server state that is not part of the state.
//!
//! The server state is compared and hashed (the model checker tells states apart
//! that way). A memo holds only what can be recomputed from the rest of the state
//! (a generator positioned at the next MSRP token, the last CPIM `From` a leg's
//! check passed), so two states that differ only in their memos behave alike: a memo
//! compares equal to every other and hashes to nothing, and the state space stays
//! what it was without it.
//!
//! What it is *not*: a place for anything that changes what the server does; only
//! for the result of a pure function of the state, kept to skip recomputing it.

use std::hash::{Hash, Hasher};

/// A value the state keeps only to save recomputing it: equal to every other memo,
/// not hashed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memo<T>(pub(crate) T);

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

impl<T> Hash for Memo<T> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(v: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn memos_never_tell_states_apart() {
        let (a, b) = (Memo(Some(1u8)), Memo(None));
        assert_eq!(a, b);
        assert_eq!(hash_of(&(7, a)), hash_of(&(7, b)));
    }
}
