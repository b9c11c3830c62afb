#!/usr/bin/env bash
# bench/profile.sh: a `perf` profile of cpmd under the calls.sh load (bench/uac.xml
# against bench/uas.xml through cpmd, UDP, default configuration) at one fixed RATE
# for COUNT calls. Prints the flat profile (self time per symbol, all threads), the
# split by thread, and the top call chains of the event-loop thread; keeps
# perf.data in the work directory with KEEP=1.
#
# Build cpmd with line tables and frame pointers first, or the call graphs are
# useless:
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only RUSTFLAGS="-C force-frame-pointers=yes" \
#     cargo build --release -p cpmd
#
# Environment: CPMD_BIN (default target/release/cpmd), RATE (default 300), COUNT
# (default 6000), FREQ (samples/s, default 999), TOP (lines, default 40), BASE_PORT,
# WARM (seconds into the run before sampling starts, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CPMD_BIN=${CPMD_BIN:-$root/target/release/cpmd}
RATE=${RATE:-300}
COUNT=${COUNT:-6000}
FREQ=${FREQ:-999}
TOP=${TOP:-40}
WARM=${WARM:-0}
BASE_PORT=${BASE_PORT:-$((20000 + RANDOM % 20000))}
ip=127.0.0.1
port=$BASE_PORT
command -v perf >/dev/null || { echo "profile: perf not found (apt-get install linux-perf)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "profile: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$CPMD_BIN" --udp "$ip:$port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$work/data" --ready-file "$work/ready" \
  </dev/null >/dev/null 2>"$work/cpmd.log" &
cpmd=$!
pids+=("$cpmd")
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.05; done
for who in "bob $((port + 1))" "alice $((port + 2))"; do
  set -- $who
  sipp "$ip:$port" -sf "$root/tests/sipp/register.xml" -i "$ip" -p "$2" -t u1 -s "$1" \
    -m 1 -timeout 10s -timeout_error -nostdin >/dev/null 2>&1
done
sipp "$ip:$port" -sf "$root/bench/uas.xml" -i "$ip" -p $((port + 1)) -t u1 -nostdin \
  >/dev/null 2>&1 &
pids+=($!)
sleep 0.2
start_perf() {
  perf record -F "$FREQ" -g -p "$cpmd" -o "$work/perf.data" >"$work/perf.out" 2>&1 &
  perf=$!
  sleep 0.5
}
[ "$WARM" -gt 0 ] || start_perf
sipp "$ip:$port" -sf "$root/bench/uac.xml" -i "$ip" -p $((port + 2)) -t u1 -nostdin \
  -key ruri "sip:bob@example.com" -r "$RATE" -m "$COUNT" -recv_timeout 10000 \
  -timeout $((COUNT / RATE + 120))s >/dev/null 2>&1 &
uac=$!
pids+=("$uac")
# WARM: sampled from WARM seconds into the run on (steady state: past the first
# 32 s, while finished transactions pile up before the first of them expires).
if [ "$WARM" -gt 0 ]; then
  sleep "$WARM"
  start_perf
fi
wait "$uac" || true
kill -INT "$perf"
wait "$perf" 2>/dev/null || true

# `head` ends a report early: perf then dies of SIGPIPE, which pipefail would make
# the script's exit status (the `|| true`s below).
echo "== profile: RATE=$RATE COUNT=$COUNT, $CPMD_BIN"
echo "== samples by thread"
perf report -i "$work/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -10 || true
echo "== flat: self time by symbol, all threads (top $TOP)"
perf report -i "$work/perf.data" --no-children --sort comm,dso,symbol --stdio -g none \
  --percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' | head -"$TOP" || true
# The event-loop thread carries the process's name (15 characters at most).
comm=$(basename "$CPMD_BIN" | cut -c1-15)
echo "== inclusive time by symbol, event-loop thread ($comm), top $TOP"
perf report -i "$work/perf.data" --children --comm "$comm" --sort symbol --stdio -g none \
  --percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -"$TOP" || true
