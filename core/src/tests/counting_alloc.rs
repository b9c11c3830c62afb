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
    // `stats_alloc` already counts a `realloc`'s growth in `bytes_allocated` and its
    // shrinking in `bytes_deallocated`; `bytes_reallocated` is the same net change
    // again, so adding it would count every growth by `realloc` twice, forever.
    s.bytes_allocated.saturating_sub(s.bytes_deallocated)
}

/// Allocations made and not yet freed (a `realloc` is neither), over all threads.
pub(crate) fn live_allocations() -> usize {
    let s = GLOBAL.stats();
    s.allocations.saturating_sub(s.deallocations)
}
