#!/usr/bin/env bash
# bench/model.sh: model-checker throughput of an old revision against the working tree,
# measured in the same run.
#
#   bench/model.sh [OLD_REV]          # default OLD_REV: a594d87 (before the speed-ups)
#
# Builds `cpmd-model` in release twice: OLD_REV (exported with `git archive` into a
# scratch directory under target/, built with its own target directory, kept and reused
# on the next run) and the working tree. Then, for each configuration of CONFIGS
# (default "ci extension"), runs `cpmd-model check bfs --config X --threads THREADS`
# with the old binary, then the new one, ROUNDS times alternately (default 1), then
# `check dfs` with the new one (what `cargo test -p cpmd-model` runs) and the old one
# (with THREADS=1 the new binary's DFS is the model's own, model/src/dfs.rs), and prints unique
# states, states/s and time to exhaust of each, and the ratios new/old (states/s and
# time of BFS and of DFS; time to exhaust of old BFS over new DFS). The unique-state counts of the two must agree (the speed-ups
# must not change what is explored); the script says so when they do not.
#
# Environment: CONFIGS, THREADS (default 2), ROUNDS (default 1), SETS (extra
# `--set field=value` arguments for both, e.g. "--set msgs=1"), OLD_BIN / NEW_BIN
# (skip the builds), POR (non-empty: also `check dfs --set por=true` with the new
# binary, the partial-order reduction, whose state count is smaller by design),
# TIMED (e.g. "combined:60": `check dfs --config combined --progress` with the old
# binary, then the new one, each stopped after 60 s, ROUNDS times; prints the states,
# unique states and states/s of each at its last progress line, and the ratio of
# states/s: for a configuration too large to exhaust, whose counts after a fixed time
# are what can be compared). It is a script, not a test: the figures depend on the machine's
# load; the ratio of two binaries in one run is what to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

OLD_REV=${1:-a594d87}
CONFIGS=${CONFIGS:-"ci extension"}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
SETS=${SETS:-}
target=${CARGO_TARGET_DIR:-$root/target}

if [ -z "${OLD_BIN:-}" ]; then
  rev=$(git rev-parse --short "$OLD_REV")
  src=$target/model-bench/$rev/src
  OLD_BIN=$target/model-bench/$rev/target/release/cpmd-model
  if [ ! -x "$OLD_BIN" ]; then
    rm -rf "$src"
    mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
    (cd "$src" && CARGO_TARGET_DIR=$target/model-bench/$rev/target \
      cargo build --release -p cpmd-model --bin cpmd-model >&2)
  fi
fi
if [ -z "${NEW_BIN:-}" ]; then
  cargo build --release -p cpmd-model --bin cpmd-model >&2
  NEW_BIN=$target/release/cpmd-model
fi

# run BIN CONFIG [bfs|dfs]: prints "UNIQUE SECONDS STATES_PER_S" of one exhaustive search.
run() {
  local out
  # shellcheck disable=SC2086
  out=$("$1" check "${3:-bfs}" --config "$2" --threads "$THREADS" $SETS)
  out=$(echo "$out" | head -1)
  # "config ci, mutation None: 84725 unique states, 250000 states, depth 40, 2.9 s, 86000 states/s"
  echo "$out" | sed -E 's/.*: ([0-9]+) unique states, [0-9]+ states, depth [0-9]+, ([0-9.]+) s, ([0-9]+) states\/s.*/\1 \2 \3/'
}

printf '%-12s %-4s %10s %9s %12s\n' config bin unique seconds states/s
for config in $CONFIGS; do
  for round in $(seq "$ROUNDS"); do
    read -r ou os or < <(run "$OLD_BIN" "$config")
    printf '%-12s %-4s %10s %9s %12s\n' "$config" old "$ou" "$os" "$or"
    read -r nu ns nr < <(run "$NEW_BIN" "$config")
    printf '%-12s %-4s %10s %9s %12s\n' "$config" new "$nu" "$ns" "$nr"
    if [ "$ou" != "$nu" ]; then
      echo "  unique states differ: old $ou, new $nu (the state space changed)"
    fi
    python3 -c "print('  %s round %s: bfs: states/s new/old %.1fx, time old/new %.1fx' % ('$config', $round, $nr / max($or, 1), $os / max($ns, 0.05)))"
    read -r du ds dr < <(run "$NEW_BIN" "$config" dfs)
    printf '%-12s %-4s %10s %9s %12s\n' "$config" "new dfs" "$du" "$ds" "$dr"
    if [ "$ou" != "$du" ]; then
      echo "  unique states differ: old $ou, new dfs $du (the state space changed)"
    fi
    python3 -c "print('  %s round %s: time to exhaust, old bfs / new dfs: %.1fx' % ('$config', $round, $os / max($ds, 0.05)))"
    # The old binary's DFS too: with THREADS=1 the new one runs the model's own
    # search (model/src/dfs.rs) and the old one stateright's (or its own, if it has it).
    read -r eu es er < <(run "$OLD_BIN" "$config" dfs)
    printf '%-12s %-4s %10s %9s %12s\n' "$config" "old dfs" "$eu" "$es" "$er"
    if [ "$eu" != "$du" ]; then
      echo "  unique states differ: old dfs $eu, new dfs $du (the state space changed)"
    fi
    python3 -c "print('  %s round %s: dfs: states/s new/old %.2fx, time old/new %.2fx' % ('$config', $round, $dr / max($er, 1), $es / max($ds, 0.05)))"
    if [ -n "${POR:-}" ]; then
      # The partial-order reduction (model/src/model/por.rs): fewer states by
      # design, so only its time is compared, against the new binary's own DFS.
      # shellcheck disable=SC2086
      read -r pu ps pr < <(SETS="$SETS --set por=true" run "$NEW_BIN" "$config" dfs)
      printf '%-12s %-4s %10s %9s %12s\n' "$config" "new dfs por" "$pu" "$ps" "$pr"
      python3 -c "print('  %s round %s: por: states %d -> %d, time new dfs / new dfs por: %.1fx' % ('$config', $round, $du, $pu, $ds / max($ps, 0.05)))"
    fi
  done
done

# timed BIN CONFIG SECONDS: "UNIQUE STATES STATES_PER_S" at the last progress line of
# a DFS stopped after SECONDS.
timed() {
  local line
  # shellcheck disable=SC2086
  line=$(timeout "$(($3 + 3))" "$1" check dfs --config "$2" --threads "$THREADS" --progress $SETS 2>&1 >/dev/null |
    grep '^progress:' | tail -1 || true)
  # "progress: 288381 unique states, 559754 states, depth 40, 10 s, 55931 states/s"
  echo "$line" | sed -E 's/progress: ([0-9]+) unique states, ([0-9]+) states, depth [0-9]+, ([0-9]+) s, ([0-9]+) states\/s.*/\1 \2 \4/'
}

for spec in ${TIMED:-}; do
  config=${spec%%:*}
  secs=${spec##*:}
  for round in $(seq "$ROUNDS"); do
    read -r ou os or < <(timed "$OLD_BIN" "$config" "$secs")
    printf '%-12s %-4s %10s unique %10s states %9s states/s (%s s)\n' "$config" old "$ou" "$os" "$or" "$secs"
    read -r nu ns nr < <(timed "$NEW_BIN" "$config" "$secs")
    printf '%-12s %-4s %10s unique %10s states %9s states/s (%s s)\n' "$config" new "$nu" "$ns" "$nr" "$secs"
    python3 -c "print('  %s round %s: %s s of dfs: states/s new/old %.2fx, unique states new/old %.2fx' % ('$config', $round, $secs, $nr / max($or, 1), $nu / max($ou, 1)))"
  done
done
