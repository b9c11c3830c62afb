#!/usr/bin/env bash
# bench/msrp.sh: messages/s and MB/s relayed through cpmd's MSRP media path, against a
# plain TCP loopback forwarder in the same run (the baseline), for 100-byte and 4 KiB
# messages.
#
# The load generator is `msrp_bench` (tests/src/bin/msrp_bench.rs): SESSIONS concurrent
# 1-to-1 sessions, each a sender and a receiver terminal, one SEND per message (CPIM
# around SIZE bytes of text), at most WINDOW SENDs unanswered per sender, the receiver
# answering every SEND with 200. Through cpmd all terminals are a=setup:passive: sipp
# sets up each 1-to-1 (tests/sipp/msrp_a_call.xml from alice, msrp_answer.xml as bobN)
# with their a=path, cpmd connects to both and binds, then every sender pumps its share
# of COUNT messages at once; cpmd stores each one and answers 200 once it is durable,
# and relays it to the receiver. Baseline: the same terminals with `msrp_bench
# forwarder` (a thread pair copying bytes per session) in place of cpmd.
#
# Each size runs against two stores, both on disk (fsync'd, group commit):
#   durable:    the default, every message stored with its body;
#   bodies-off: `store_messages = false`, each message's metadata stored, not its body
#               (specs/store.md, BODIES-1); still answered 200 only once durable.
#
# Environment: COUNT (messages per run, over all sessions, default 20000), SESSIONS
# (concurrent 1-to-1 sessions, default 16; SESSIONS=1 is the single session of the
# runs before session 8), WINDOW (SENDs in flight per sender, default 128), SIZES
# (default "100 4096"),
# CPMD_BIN / BENCH_BIN (default: cargo build --release), RUST_LOG (cpmd's log filter,
# default warn; the log goes to a file), KEEP=1 keeps the work directory, PROFILE=1
# records a `perf record -g` profile of each cpmd run (kept as <work>/<store>-<size>/
# perf.data, with KEEP=1; build with frame pointers, see bench/README.md), STORES
# (default "bodies-off durable"), CHUNK (cpmd's `[msrp] chunk_size`, default 8192),
# INSTR=1 runs each cpmd under valgrind's callgrind
# and prints cpmd's instructions per message over the load (load-independent; the
# rates of such a run mean nothing), THREADS=1 prints the CPU of each thread (by name)
# of cpmd and of msrp_bench per message and as a share of the run (bench/threads.py):
# which thread saturates first, how much of it is the kernel's (sys), and its read- and
# write-like system calls and bytes written per message (/proc/PID/task/TID/io).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

COUNT=${COUNT:-20000}
SESSIONS=${SESSIONS:-16}
WINDOW=${WINDOW:-128}
SIZES=${SIZES:-"100 4096"}
STORES=${STORES:-"bodies-off durable"}
export RUST_LOG=${RUST_LOG:-warn}

command -v sipp >/dev/null || { echo "bench: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
. "$root/bench/lib.sh"
need_cpmd
need_bench msrp_bench

start_work

ip=127.0.0.1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# through_cpmd SIZE STORE_DIR TAG: one run (TAG bodies-off sets store_messages = false) through a fresh cpmd; sets `line` to
# msrp_bench's result (run in this shell, not a subshell, so `pids` and `exit` work).
through_cpmd() {
  local size=$1 data=$2 tag=$3
  local run="$work/$tag-$size"
  mkdir -p "$run"
  if [ "$tag" = bodies-off ]; then echo "store_messages = false" >"$run/cpmd.toml"; else : >"$run/cpmd.toml"; fi
  # CHUNK: cpmd's relayed chunk size (`[msrp] chunk_size`, default 8192: a 4 KiB
  # message reaches the receiver as one SEND, as through the forwarder; 2048, the
  # default before session 12, makes it three, each answered).
  [ -n "${CHUNK:-}" ] && printf '[msrp]\nchunk_size = %s\n' "$CHUNK" >>"$run/cpmd.toml"
  local under=()
  # INSTR=1: under callgrind, counters zeroed when the load starts and dumped when it
  # ends, so the instructions per message leave out start-up and the SIP set-ups.
  # MALLOC_ARENA_MAX set: cpmd would otherwise re-execute itself to set it
  # (runtime/src/c_arenas.rs), out from under valgrind.
  [ "${INSTR:-}" = 1 ] &&
    under=(env MALLOC_ARENA_MAX=1 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$run/callgrind.out")
  # THREADS=1 also reads the store's batch sizes from /metrics (metrics off otherwise:
  # they cost a little per message).
  local metrics=()
  [ "${THREADS:-}" = 1 ] && metrics=(--metrics "$ip:0")
  "${under[@]}" "$CPMD_BIN" --config "$run/cpmd.toml" --udp "$ip:0" --msrp "$ip:0" --data-dir "$data" \
    --imap "$ip:0" "${metrics[@]}" --ready-file "$run/ready" </dev/null >/dev/null 2>"$run/cpmd.log" &
  local cpmd_pid=$!
  pids+=("$cpmd_pid")
  for _ in $(seq 1200); do [ -s "$run/ready" ] && break; sleep 0.05; done
  [ -s "$run/ready" ] || { echo "bench: cpmd did not start" >&2; cat "$run/cpmd.log" >&2; exit 1; }
  local sip
  sip=$(sed -n 's/.* udp=\([^ ]*\).*/\1/p' "$run/ready")

  "$BENCH_BIN" cpmd --size "$size" --count "$COUNT" --sessions "$SESSIONS" --window "$WINDOW" \
    --paths "$run/paths" >"$run/result" 2>"$run/bench.err" &
  local bench_pid=$!
  pids+=("$bench_pid")
  for _ in $(seq 100); do [ -s "$run/paths" ] && break; sleep 0.05; done
  [ -s "$run/paths" ] || { echo "bench: msrp_bench wrote no paths" >&2; cat "$run/bench.err" >&2; exit 1; }
  port_of() { echo "$1" | sed 's|msrp://[^:]*:\([0-9]*\)/.*|\1|'; }

  # One 1-to-1 per session, set up one after the other: alice (always from the same
  # SIP port, so one binding) calls bobN, each callee registered from its own port.
  local a_port i
  a_port=$(free_port)
  for i in $(seq "$SESSIONS"); do
    local a_path b_path b_port b_sipp
    a_path=$(sed -n "$((2 * i - 1))p" "$run/paths")
    b_path=$(sed -n "$((2 * i))p" "$run/paths")
    b_port=$(free_port)
    local keys=(-key conv "bench-conv-$i" -key contrib1 "bench-$tag-$size-$i" -key callee "bob$i"
      -key msrp_proto TCP/MSRP)
    sipp "$sip" -sf "$root/tests/sipp/register.xml" -i $ip -p "$b_port" -t u1 -s "bob$i" -m 1 \
      -timeout 10s -nostdin >"$run/register-$i.out" 2>&1
    sipp "$sip" -sf "$root/tests/sipp/msrp_answer.xml" -i $ip -p "$b_port" -t u1 -s "bob$i" -m 1 \
      "${keys[@]}" -key msrp_path "$b_path" -key msrp_port "$(port_of "$b_path")" \
      -key msrp_setup passive -timeout 20s -nostdin >"$run/b-$i.out" 2>&1 &
    b_sipp=$!
    sleep 0.2
    sipp "$sip" -sf "$root/tests/sipp/msrp_a_call.xml" -i $ip -p "$a_port" -t u1 -m 1 \
      "${keys[@]}" -key msrp_path "$a_path" -key msrp_port "$(port_of "$a_path")" \
      -key msrp_setup passive -timeout 20s -nostdin >"$run/a-$i.out" 2>&1 ||
      { echo "bench: SIP setup $i failed (see $run)" >&2; KEEP=1; exit 1; }
    wait "$b_sipp" || { echo "bench: B's SIP side $i failed (see $run)" >&2; KEEP=1; exit 1; }
  done

  local c0 c1 perf_pid=
  if [ "${PROFILE:-}" = 1 ]; then
    perf record -F 999 -g -p "$cpmd_pid" -o "$run/perf.data" >"$run/perf.out" 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
  fi
  [ "${INSTR:-}" = 1 ] && callgrind_control -z "$cpmd_pid" >/dev/null 2>&1
  c0=$(cpu_ticks "$cpmd_pid")
  start_threads "$run" "$cpmd_pid" "$bench_pid"
  wait "$bench_pid" || { echo "bench: msrp_bench failed (see $run)" >&2; cat "$run/bench.err" >&2; KEEP=1; exit 1; }
  c1=$(cpu_ticks "$cpmd_pid")
  stop_threads
  if [ "${THREADS:-}" = 1 ]; then
    python3 -c 'import sys, urllib.request; print(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics").read().decode())' \
      "$(sed -n 's/.* metrics=\([^ ]*\).*/\1/p' "$run/ready")" >"$run/metrics" 2>/dev/null || true
  fi
  local instr=
  if [ "${INSTR:-}" = 1 ]; then
    callgrind_control -d "$cpmd_pid" >/dev/null 2>&1
    # One file per thread (--separate-threads): thread 1 is the event loop, 2 the
    # store's writer, 3 its sync thread; each file's last summary/totals is its count.
    awk -v n="$COUNT" 'FNR == 1 && s { printf "t%d %.0f\n", t, s / n } /^thread:/ { t = $2 }
      /^(summary|totals):/ { s = $2 } END { printf "t%d %.0f\n", t, s / n }' "$run"/callgrind.out.* >"$run/instr"
    instr=$(awk '{ s += $2 } END { print s }' "$run/instr")
  fi
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
  fi
  kill "$cpmd_pid"
  wait "$cpmd_pid" 2>/dev/null || true
  local per
  per=$(awk -v d=$((c1 - c0)) -v t="$(getconf CLK_TCK)" -v n="$COUNT" 'BEGIN { printf "%.1f", d * 1e6 / t / n }')
  sed "s/}\$/,\"store\":\"$tag\",\"cpmd_cpu_us_per_msg\":$per${instr:+,\"cpmd_instr_per_msg\":$instr}}/" \
    "$run/result" >"$run/line"
  line=$(cat "$run/line")
}

# THREADS=1: CPU per thread name of cpmd and msrp_bench over the load (bench/threads.py
# samples /proc/PID/task), printed under each run as µs per message and share of the
# run's wall time (100% = one core busy throughout).
threads_pid=
start_threads() {
  [ "${THREADS:-}" = 1 ] || return 0
  local run=$1
  shift
  python3 "$root/bench/threads.py" "$run/threads" "$@" &
  threads_pid=$!
  pids+=("$threads_pid")
  # Its signal handler is set once the file exists (a TERM before would lose it).
  for _ in $(seq 100); do [ -e "$run/threads" ] && break; sleep 0.05; done
}
stop_threads() {
  [ -n "$threads_pid" ] || return 0
  kill -TERM "$threads_pid"
  wait "$threads_pid" 2>/dev/null || true
  threads_pid=
}
print_threads() {
  [ "${THREADS:-}" = 1 ] && [ -s "$1/threads" ] || return 0
  # Per message: CPU (of it the kernel's), read- and write-like system calls, bytes
  # written (files and sockets); share of the run's wall time.
  awk -v n="$COUNT" -v secs="$2" -v t="$(getconf CLK_TCK)" '$3 > 0 {
    printf "         %-11s %-16s %7.2f us/msg (sys %5.2f) %6.2f rd %6.2f wr %7.0f B/msg %5.0f%%\n", $1, $2,
      $3 * 1e6 / t / n, $5 * 1e6 / t / n, $6 / n, $7 / n, $8 / n, $3 * 100 / t / secs }' "$1/threads"
}

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

echo "bench: COUNT=$COUNT SESSIONS=$SESSIONS WINDOW=$WINDOW SIZES=\"$SIZES\" on $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: cpmd $CPMD_BIN, work directory $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"
printf '%-6s %-10s %10s %9s %9s %8s %10s\n' size run msg/s MB/s ratio cpu_us instr
for size in $SIZES; do
  fwd="$work/forwarder-$size"
  mkdir -p "$fwd"
  "$BENCH_BIN" forwarder --size "$size" --count "$COUNT" --sessions "$SESSIONS" --window "$WINDOW" >"$fwd/result" &
  fwd_pid=$!
  pids+=("$fwd_pid")
  start_threads "$fwd" "$fwd_pid"
  wait "$fwd_pid"
  stop_threads
  base=$(cat "$fwd/result")
  base_rate=$(field "$base" msg_per_s)
  printf '%-6s %-10s %10s %9s %9s %8s %10s\n' "$size" forwarder "$base_rate" "$(field "$base" mb_per_s)" 1.00 - -
  print_threads "$fwd" "$(field "$base" seconds)"
  for store in $STORES; do
    data="$work/data-$size-$store"
    through_cpmd "$size" "$data" "$store"
    rate=$(field "$line" msg_per_s)
    ratio=$(awk -v a="$rate" -v b="$base_rate" 'BEGIN { printf "%.2f", a / b }')
    printf '%-6s %-10s %10s %9s %9s %8s %10s\n' "$size" "cpmd-$store" "$rate" "$(field "$line" mb_per_s)" "$ratio" \
      "$(field "$line" cpmd_cpu_us_per_msg)" "$(field "$line" cpmd_instr_per_msg)"
    print_threads "$work/$store-$size" "$(field "$line" seconds)"
    [ "${THREADS:-}" = 1 ] && awk '/^cpmd_store_batch_size_sum/ { s = $2 } /^cpmd_store_batch_size_count/ { c = $2 }
      END { if (c) printf "         store batches: %d, %.1f jobs each\n", c, s / c }' "$work/$store-$size/metrics"
    [ "${INSTR:-}" = 1 ] && printf '         instructions per message by thread: %s\n' "$(tr '\n' ' ' <"$work/$store-$size/instr")"
  done
done
echo "floor: cpmd-durable >= 0.5 of the forwarder; goal: cpmd-bodies-off >= 0.8"
