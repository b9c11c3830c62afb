# bench/lib.sh: what the bench scripts share; sourced (after `root` is set to the
# repository), never run. Not a harness: each script still owns its load and its
# report.
#
#   need_cpmd           CPMD_BIN, else a release build of cpmd
#   need_bench NAME     BENCH_BIN, else a release build of cpmd-tests' binary NAME
#   start_work          `work` (a temporary directory) and `pids`: at exit every pid
#                       in `pids` is killed and `work` removed (kept with KEEP=1)
#   cpu_ticks PID       utime + stime of PID in clock ticks

target=${CARGO_TARGET_DIR:-$root/target}

need_cpmd() {
  if [ -z "${CPMD_BIN:-}" ]; then
    cargo build --release -p cpmd >&2
    CPMD_BIN=$target/release/cpmd
  fi
}

need_bench() {
  if [ -z "${BENCH_BIN:-}" ]; then
    cargo build --release -p cpmd-tests --bin "$1" >&2
    BENCH_BIN=$target/release/$1
  fi
}

start_work() {
  work=$(mktemp -d)
  pids=()
  trap cleanup EXIT
}

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}

# Fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name
# (which may hold spaces).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
