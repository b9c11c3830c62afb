//! One glibc malloc arena for cpmd's C code (the binary only; not part of the
//! `cpmd` library).
//!
//! Rust code allocates with mimalloc (`main.rs`), but SQLite is C and allocates with
//! the C library's `malloc`: its page caches, statements and schema, on whichever
//! thread runs a store call (the history writer's, the IMAP reads' blocking
//! threads). glibc gives each such thread an arena of its own, and in the soak
//! (`scripts/soak`: calls, MSRP, an IMAP reader) those arenas grew for the whole
//! run, 3 MB to 13 MB in 210 s, while with one arena (`MALLOC_ARENA_MAX=1`) the C
//! heap stayed at 4.7 MB from the 30th second on: the growth was the allocator's
//! per-thread retention, not SQLite's memory (README, "Under attack: OPTIONS
//! latency, and the soak"). The store calls serialise on their connections
//! anyway, so one arena costs no parallelism worth having.
//!
//! glibc reads `MALLOC_ARENA_MAX` only when the process starts, and setting it from
//! inside (`mallopt`) needs `unsafe`, which the workspace forbids: so cpmd
//! re-executes itself once with the variable set, before anything else runs (same
//! process id, same arguments, same file descriptors). An operator's own value of
//! the variable is kept as it is.
//!
//! Not here: mimalloc serving C code too (its `override` feature): tried, and the
//! soak's RSS after 100 s was 105 MB against 68 MB with glibc for SQLite.

/// The variable glibc reads at start.
pub const VAR: &str = "MALLOC_ARENA_MAX";

/// Re-executes cpmd with `MALLOC_ARENA_MAX=1` unless the variable is already set
/// (by this function's re-execution or by the operator). Returns when it is set,
/// or when the re-execution failed (cpmd then runs with glibc's default arenas).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn one_arena() {
    use std::os::unix::process::CommandExt as _;

    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        again.arg0(arg0);
    }
    // `exec` returns only on failure.
    let error = again.args(args).env(VAR, "1").exec();
    eprintln!("cpmd: re-executing with {VAR}=1 failed ({error}); going on without it");
}

/// Other C libraries than glibc: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn one_arena() {}
