#![cfg(all(target_os = "linux", target_env = "gnu"))]
//! cpmd runs its C code (SQLite) on one glibc malloc arena: it re-executes itself
//! once with `MALLOC_ARENA_MAX=1` (runtime/src/c_arenas.rs; the soak in the README
//! saw glibc's per-thread arenas grow for the whole run without it). An operator's
//! own value is kept. Read from the running process's environment
//! (`/proc/PID/environ`), which only an `exec` can change.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cpmd_tests::cpmd_bin;

const VAR: &str = "MALLOC_ARENA_MAX";

/// Starts cpmd with `VAR` set to `value` (`None`: unset), waits for its ready line.
fn start(dir: &Path, value: Option<&str>) -> Child {
    let ready = dir.join("ready");
    let mut cmd = Command::new(cpmd_bin());
    cmd.args([
        "--udp",
        "127.0.0.1:0",
        "--imap",
        "127.0.0.1:0",
        "--no-metrics",
    ])
    .arg("--data-dir")
    .arg(dir.join("data"))
    .arg("--ready-file")
    .arg(&ready)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    match value {
        Some(v) => cmd.env(VAR, v),
        None => cmd.env_remove(VAR),
    };
    let mut child = cmd.spawn().expect("spawn cpmd");
    // A generous deadline for a loaded machine; not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&ready).is_ok_and(|t| t.ends_with('\n')) {
        let exited = child.try_wait().expect("try_wait");
        assert!(exited.is_none(), "cpmd exited early: {exited:?}");
        assert!(Instant::now() < deadline, "cpmd not ready after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `VAR`'s value in the running process's environment.
fn arena_max(child: &Child) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("MALLOC_ARENA_MAX=").map(str::to_owned))
}

#[test]
fn cpmd_runs_with_one_malloc_arena_and_keeps_an_operators_value() {
    for (given, expected) in [(None, "1"), (Some("4"), "4")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = start(dir.path(), given);
        let seen = arena_max(&child);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.as_deref(), Some(expected), "{VAR} given {given:?}");
    }
}
