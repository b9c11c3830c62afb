//! Helpers shared by the property tests of the decoders (each `tests/*.rs` file is
//! its own crate, so they include this module with `mod common;`).

pub mod mutate;
