//! # cpmd-model
//!
//! Stateright models whose server is the real `cpmd_core::Server`. This crate is a
//! placeholder until the model issue lands: it only checks that the core links.
//! It is not a re-implementation of the core, and never will be.

#[cfg(test)]
mod tests {
    #[test]
    fn core_links() {
        assert_eq!(cpmd_core::Time::from_ms(5).plus_ms(5).as_ms(), 10);
    }
}
