#!/usr/bin/env bash
# bench/claim.sh: flows/s of the whole claim through cpmd, and cpmd's CPU per flow.
#
# One flow (tests/src/bin/claim_bench/flow.rs) is the claim with three users: A calls B
# (a 1-to-1 with MSRP), 10 MSRP messages each way, A extends the 1-to-1 to a group with
# B and C (INVITE to the conference factory, Session-Replaces, resource list), the BYE
# handshake on the replaced 1-to-1 (B's BYE relayed to A, A's 200, the seal, B's 200),
# 10 group messages (A, B, C in turn, each delivered to the two others), then all
# three leave the group (BYE each; the last one answered once the group is sealed). A
# flow counts as ok only when every SIP final answer was 200 and every MSRP message
# and every MSRP 200 arrived. Per flow cpmd stores 30 messages and seals two sessions.
#
# The load generator is `claim_bench`: C workers, each with three users on their own
# SIP TCP connections (registered before the clock starts), each leg's MSRP
# connection opened by the terminal (a=setup:active). cpmd runs in release on
# loopback with a fresh data directory (the default SQLite store, WAL with
# synchronous=FULL: every 200 means committed), authentication off (cpmd attributes
# a request to the user registered on its connection), connection limits raised for
# the one client address.
#
# Concurrency rises through LEVELS (FLOWS flows each, against the same cpmd) until a
# level has a failed flow or its flows/s is not at least 5% above the best so far;
# printed per level: flows/s, failures, cpmd's CPU per flow (utime + stime from
# /proc/PID/stat over the level), and the highest passing flows/s. At the end cpmd is
# stopped (SIGTERM) and the store is counted with sqlite3: sealed sessions (1-1 and
# Ad-Hoc) and stored messages must equal what the passing flows had acknowledged
# (exact when no flow failed).
#
# Environment: FLOWS (per level, default 2000), LEVELS (default "8 16 32 64 128 256"),
# THREADS (generator threads, default 1), CPMD_BIN / BENCH_BIN (default: cargo build
# --release), RUST_LOG (cpmd's log filter, default warn; the log goes to a file),
# KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FLOWS=${FLOWS:-2000}
LEVELS=${LEVELS:-"8 16 32 64 128 256"}
THREADS=${THREADS:-1}
export RUST_LOG=${RUST_LOG:-warn}

command -v sqlite3 >/dev/null || { echo "bench: sqlite3 not found (apt-get install sqlite3)" >&2; exit 1; }
. "$root/bench/lib.sh"
need_cpmd
need_bench claim_bench

start_work

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }
clk_tck=$(getconf CLK_TCK)

# The generator opens 3 SIP connections per worker and 5 MSRP connections per flow,
# all from 127.0.0.1: the per-address caps must let them in.
cat >"$work/cpmd.toml" <<TOML
[limits]
max_connections = 100000
max_connections_per_ip = 100000
TOML
data="$work/data"
"$CPMD_BIN" --config "$work/cpmd.toml" --tcp 127.0.0.1:0 --msrp 127.0.0.1:0 --imap 127.0.0.1:0 \
  --data-dir "$data" --ready-file "$work/ready" </dev/null >/dev/null 2>"$work/cpmd.log" &
cpmd_pid=$!
pids+=("$cpmd_pid")
for _ in $(seq 200); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || { echo "bench: cpmd did not start" >&2; cat "$work/cpmd.log" >&2; exit 1; }
sip=$(sed -n 's/.* tcp=\([^ ]*\).*/\1/p' "$work/ready")

echo "bench: FLOWS=$FLOWS per level, LEVELS=\"$LEVELS\", THREADS=$THREADS, $(nproc) cores, $(uname -sr)"
echo "bench: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-11s %8s %8s %9s %10s %12s\n' concurrency ok failed seconds flows/s cpu_us/flow
best=0 best_c=- best_cpu=- acked_msgs=0 acked_sessions=0 any_failed=0
for c in $LEVELS; do
  c0=$(cpu_ticks "$cpmd_pid")
  line=$("$BENCH_BIN" --sip "$sip" --flows "$FLOWS" --concurrency "$c" --threads "$THREADS" \
    --tag "c${c}x" 2>"$work/bench-$c.err") || true
  c1=$(cpu_ticks "$cpmd_pid")
  [ -n "$line" ] || { echo "bench: claim_bench printed nothing (see $work/bench-$c.err)" >&2; cat "$work/bench-$c.err" >&2; KEEP=1; exit 1; }
  ok=$(field "$line" ok) failed=$(field "$line" failed) rate=$(field "$line" flows_per_s)
  acked_msgs=$((acked_msgs + $(field "$line" messages)))
  acked_sessions=$((acked_sessions + $(field "$line" sessions)))
  cpu=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", d * 1e6 / t / n; else print "-" }')
  printf '%-11s %8s %8s %9s %10s %12s\n' "$c" "$ok" "$failed" "$(field "$line" seconds)" "$rate" "$cpu"
  if [ "$failed" -gt 0 ]; then
    any_failed=1
    head -n 5 "$work/bench-$c.err" | sed 's/^/  /'
    break
  fi
  if awk -v r="$rate" -v b="$best" 'BEGIN { exit !(r < b * 1.05) }'; then
    [ "$rate" -gt "$best" ] && { best=$rate best_c=$c best_cpu=$cpu; }
    break
  fi
  best=$rate best_c=$c best_cpu=$cpu
done
echo "bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "highest passing: $best flows/s at concurrency $best_c, cpmd CPU $best_cpu us per flow (goal >= 2000 flows/s)"

kill "$cpmd_pid"
wait "$cpmd_pid" 2>/dev/null || true
q() { sqlite3 "$data/cpmd.db" "$1"; }
one=$(q "SELECT count(*) FROM sessions WHERE state = 'sealed' AND session_type = '1-1'")
groups=$(q "SELECT count(*) FROM sessions WHERE state = 'sealed' AND session_type = 'Ad-Hoc'")
msgs=$(q "SELECT count(*) FROM messages")
in_history=$(q "SELECT count(*) FROM messages WHERE in_history = 1")
echo "store: sealed 1-1 $one, sealed Ad-Hoc $groups, messages $msgs (in a sealed history: $in_history);" \
  "acknowledged by passing flows: $acked_sessions sessions, $acked_msgs messages"
if [ "$any_failed" = 0 ]; then
  [ $((one + groups)) -eq "$acked_sessions" ] && [ "$one" -eq "$groups" ] && [ "$msgs" -eq "$acked_msgs" ] &&
    [ "$in_history" -eq "$msgs" ] || { echo "store: MISMATCH" >&2; KEEP=1; exit 1; }
else
  [ $((one + groups)) -ge "$acked_sessions" ] && [ "$msgs" -ge "$acked_msgs" ] ||
    { echo "store: MISMATCH (fewer than acknowledged)" >&2; KEEP=1; exit 1; }
fi
echo "store: everything acknowledged is stored"
