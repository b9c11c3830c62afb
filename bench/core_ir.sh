#!/usr/bin/env bash
# bench/core_ir.sh: instructions cpmd-core executes per 1-to-1 session, a figure that
# does not depend on the machine's load. Runs the driver core/examples/session_cost.rs
# (the sipp sessions of bench/calls.sh pushed through cpmd_core::Server as bytes, every
# output encoded, the seal answered) under callgrind for N and for 2N sessions,
# counting only inside the driver's `core_*` functions (what the runtime's event loop
# does with the core: handle_bytes / handle_timeout / handle_store_result /
# handle_closed, poll_*, encode_message, dropping the outputs), not the terminals'
# side. (Ir(2N) - Ir(N)) / N is the cost of one session with the warm-up (start,
# registrations, the tables' first growth) subtracted. Prints that, the driver's
# count of the core's allocations per session, and the functions of the difference
# (self and inclusive instructions per session).
#
# Environment: N (default 1000), RATE (virtual sessions/s, default 25: 40 s for N, so
# the second N run past the 32 s a finished transaction lingers and expiries are in
# the figure), TOP (functions listed, default 30), BIN (default the release build of
# the example, built first unless SKIP_BUILD=1), KEEP=1 keeps the callgrind files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
RATE=${RATE:-25}
TOP=${TOP:-30}
BIN=${BIN:-target/release/examples/session_cost}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p cpmd-core --example session_cost
fi
work=$(mktemp -d)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "core_ir: files in $work"; fi

# run SESSIONS: the instructions collected inside the driver's core steps.
run() {
  valgrind --tool=callgrind --toggle-collect='*Driver::core_*' \
    --callgrind-out-file="$work/cl.$1" "$BIN" "$1" "$RATE" >"$work/out.$1" 2>"$work/vg.$1"
  awk '/Collected *:/ { gsub(",", "", $NF); print $NF }' "$work/vg.$1"
}

# functions FILE yes|no: "instructions<TAB>function" per function of a callgrind file.
functions() {
  callgrind_annotate --inclusive="$2" --threshold=100 "$1" 2>/dev/null |
    awk '/file:function/ { on = 1; next }
      on && /^ *[0-9,]+ / {
        v = $1; gsub(",", "", v); $1 = ""; sub(/^ +/, ""); sub(/^\([^)]*\) +/, ""); sub(/ \[[^]]*\]$/, "")
        print v "\t" $0 }'
}

# diff_top yes|no: the functions of the 2N run minus the N run, per session, largest first.
diff_top() {
  functions "$work/cl.$N" "$1" >"$work/f1"
  functions "$work/cl.$((2 * N))" "$1" >"$work/f2"
  awk -F'\t' -v n="$N" 'NR == FNR { a[$2] = $1; next } { d = ($1 - a[$2]) / n; if (d >= 1) printf "%10.0f  %s\n", d, $2 }' \
    "$work/f1" "$work/f2" | sort -rn | awk -v top="$TOP" 'NR <= top' 
}

ir1=$(run "$N")
ir2=$(run $((2 * N)))
echo "core_ir: N=$N RATE=$RATE bin=$BIN"
sed 's/^/core_ir: /' "$work/out.$((2 * N))"
awk -v a="$ir1" -v b="$ir2" -v n="$N" 'BEGIN {
  printf "core_ir: Ir(%d) = %.0f, Ir(%d) = %.0f\n", n, a, 2 * n, b
  printf "core_ir: instructions per session: %.0f\n", (b - a) / n }'
echo "core_ir: self instructions per session, by function"
diff_top no
echo "core_ir: inclusive instructions per session, by function"
diff_top yes
