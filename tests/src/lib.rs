//! # cpmd-tests
//!
//! End-to-end tests that start the built `cpmd` binary and drive it with real peers.
//! Placeholder until the runtime issue lands: no end-to-end test exists yet.
