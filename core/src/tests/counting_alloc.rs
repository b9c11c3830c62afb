//! The core's test binary allocates through a counting wrapper of the system
//! allocator (`stats_alloc`), so a probe can read how many bytes are live
//! (`idle_bytes.rs`). Not a measure of time; every other test of this binary
//! allocates as before, through the system allocator.

use std::alloc::System;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed, over all threads of the test binary.
pub(crate) fn live_bytes() -> usize {
    let s = GLOBAL.stats();
    // `bytes_reallocated` is the net growth through `realloc` (negative: shrunk).
    let live =
        s.bytes_allocated as i128 - s.bytes_deallocated as i128 + s.bytes_reallocated as i128;
    usize::try_from(live).unwrap_or(0)
}
