//! # cpmd-model
//!
//! A stateright model whose server **is** `cpmd_core::Server`: the same value, driven
//! through the same `handle_*` / `expire` / `poll_*` API the runtime uses. Terminals,
//! the network, the store and an attacker are small nondeterministic actors around
//! it ([`model`]); the properties, one per numbered invariant of `specs/`, are in
//! [`properties`]; counterexamples print as message-sequence charts ([`msc`]).
//! Nothing here re-implements the core. [`replay`] feeds a trace recorded by the
//! runtime (`--trace-input`) through a fresh core as a regression test.

pub mod configs;
pub mod dfs;
pub mod group_races;
pub mod model;
pub mod msc;
pub mod msrp;
pub mod properties;
pub mod replay;
pub mod shape;
pub mod sleep;
pub mod terminal;

pub use model::{CpmModel, Setup};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod eager_ack_tests;

#[cfg(test)]
mod por_tests;

/// The unit tests run the pinned checks: the same allocator as the binary.
#[cfg(test)]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
