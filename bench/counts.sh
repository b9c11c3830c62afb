#!/usr/bin/env bash
# bench/counts.sh: load-independent counts of what one 1-to-1 session costs cpmd
# (the calls.sh scenario, bench/uac.xml against bench/uas.xml through cpmd over UDP,
# default configuration) at a low fixed RATE for COUNT calls, per thread:
#
#   MODE=strace     syscalls per session, by thread and by syscall (`strace -f`,
#                   attached after the REGISTERs, detached after the last call)
#   MODE=callgrind  user-space instructions per session, by thread (valgrind
#                   callgrind, counters zeroed after the REGISTERs and dumped after
#                   the last call), and the loop thread's inclusive share of
#                   `Server::handle_bytes` (what the runtime adds around the core)
#   MODE=perf       at full speed (no tool in cpmd's way): user and system CPU per
#                   session by thread (/proc/PID/task/TID/stat), and syscalls and
#                   context switches per session by thread (`perf stat`, counting
#                   only); meant for high rates (RATE=3000), where the kernel's
#                   per-datagram path shows
#   MODE=perftrace  syscalls per session by thread and by syscall at full speed
#                   (`perf trace -s`; slows each syscall a little, unlike `strace`
#                   many times)
#
# Unlike CPU time the strace and callgrind counts do not move with the machine's
# load, so they decide a step on a shared machine; cpmd is slowed down many times
# by either tool, so they are not a rate. MODE=perf's CPU times do move with the
# load (compare builds in one run); its counts move with the rate only.
#
# Environment: CPMD_BIN (default target/release/cpmd), MODE (strace|callgrind|perf|
# perftrace, default callgrind), RATE (default 10), COUNT (default 200), BASE_PORT,
# KEEP=1, WARM (MODE=perf: seconds of the run before counting starts, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CPMD_BIN=${CPMD_BIN:-$root/target/release/cpmd}
MODE=${MODE:-callgrind}
RATE=${RATE:-10}
COUNT=${COUNT:-200}
BASE_PORT=${BASE_PORT:-$((20000 + RANDOM % 20000))}
ip=127.0.0.1
port=$BASE_PORT
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "counts: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# cpmd re-executes itself unless MALLOC_ARENA_MAX is set (runtime/src/c_arenas.rs),
# and valgrind does not follow an exec: set it, to the value cpmd would.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1}
case $MODE in
callgrind)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg.out.%p" \
    "$CPMD_BIN" --udp "$ip:$port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$work/data" \
    --ready-file "$work/ready" </dev/null >/dev/null 2>"$work/cpmd.log" &
  ;;
strace | perf | perftrace)
  "$CPMD_BIN" --udp "$ip:$port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$work/data" \
    --ready-file "$work/ready" </dev/null >/dev/null 2>"$work/cpmd.log" &
  ;;
*) echo "counts: MODE is strace, callgrind, perf or perftrace" >&2; exit 2 ;;
esac
cpmd=$!
pids+=("$cpmd")
for _ in $(seq 600); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || { echo "counts: cpmd not ready" >&2; cat "$work/cpmd.log" >&2; exit 1; }
for who in "bob $((port + 1))" "alice $((port + 2))"; do
  set -- $who
  sipp "$ip:$port" -sf "$root/tests/sipp/register.xml" -i "$ip" -p "$2" -t u1 -s "$1" \
    -m 1 -timeout 30s -timeout_error -nostdin >/dev/null 2>&1
done
sipp "$ip:$port" -sf "$root/bench/uas.xml" -i "$ip" -p $((port + 1)) -t u1 -nostdin \
  >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

# perf_start: MODE=perf's first snapshot of every thread's CPU, and `perf stat`
# counting from now on.
perf_start() {
  task_ticks >"$work/ticks0"
  perf stat -x, --per-thread -e raw_syscalls:sys_enter,context-switches,page-faults \
    -p "$cpmd" -o "$work/perf.out" &
  perf_pid=$!
  pids+=("$perf_pid")
  sleep 0.5
}
# utime and stime of every thread, in clock ticks: "TID NAME UTIME STIME".
task_ticks() {
  for t in /proc/"$cpmd"/task/*; do
    awk -v tid="$(basename "$t")" -v name="$(cat "$t/comm")" \
      '{ sub(/^.*\) /, ""); print tid, name, $12, $13 }' "$t/stat"
  done
}

# stat_col FILE NAME: the value of column NAME in the last line of a sipp stat CSV.
stat_col() {
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { v = $c } END { print v + 0 }' "$1"
}

# Thread names by id (the loop thread carries the process's name).
threads() { for t in /proc/"$cpmd"/task/*; do echo "$(basename "$t") $(cat "$t/comm")"; done; }

case $MODE in
callgrind)
  callgrind_control -z "$cpmd" >/dev/null
  ;;
strace)
  strace -f -qq -p "$cpmd" -o "$work/strace.out" 2>/dev/null &
  strace_pid=$!
  pids+=("$strace_pid")
  sleep 1
  ;;
perf)
  [ "${WARM:-0}" -gt 0 ] || perf_start
  ;;
perftrace)
  perf trace -s -p "$cpmd" -o "$work/perf.out" &
  perf_pid=$!
  pids+=("$perf_pid")
  sleep 1
  ;;
esac
sipp "$ip:$port" -sf "$root/bench/uac.xml" -i "$ip" -p $((port + 2)) -t u1 -nostdin \
  -key ruri "sip:bob@example.com" -r "$RATE" -m "$COUNT" -recv_timeout 30000 \
  -timeout 600s -trace_stat -stf "$work/stat.csv" -fd 1 >/dev/null 2>&1 &
uac=$!
pids+=("$uac")
# MODE=perf with WARM: counted from WARM seconds into the run (past the growth of
# the first 32 s, while finished transactions pile up before the first expire),
# per session completed since then.
done0=0
if [ "$MODE" = perf ] && [ "${WARM:-0}" -gt 0 ]; then
  sleep "$WARM"
  done0=$(stat_col "$work/stat.csv" "SuccessfulCall(C)")
  perf_start
fi
wait "$uac" || true
sleep 1
threads >"$work/threads"
case $MODE in
callgrind)
  callgrind_control -d "$cpmd" >/dev/null
  ;;
strace)
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  ;;
perf | perftrace)
  kill -INT "$perf_pid"
  wait "$perf_pid" 2>/dev/null || true
  [ "$MODE" = perftrace ] || task_ticks >"$work/ticks1"
  ;;
esac
ok=$(stat_col "$work/stat.csv" "SuccessfulCall(C)")
failed=$(stat_col "$work/stat.csv" "FailedCall(C)")
echo "== counts: MODE=$MODE RATE=$RATE COUNT=$COUNT ok=$ok failed=$failed, $CPMD_BIN"
[ "$ok" -gt 0 ] || exit 1

case $MODE in
perf)
  # Per thread: CPU from the two tick snapshots, syscalls and switches from perf's
  # CSV ("name-tid,count,,event,...").
  awk -v n="$((ok - done0))" -v hz="$(getconf CLK_TCK)" -F'[ ,]' '
    FILENAME ~ /ticks0$/ { u0[$1] = $3; s0[$1] = $4; next }
    FILENAME ~ /ticks1$/ { name[$1] = $2; u[$1] = $3 - u0[$1]; s[$1] = $4 - s0[$1]; next }
    /raw_syscalls:sys_enter/ { t = $1; sub(/.*-/, "", t); sc[t] += $2; next }
    /context-switches/ { t = $1; sub(/.*-/, "", t); cs[t] += $2; next }
    /page-faults/ { t = $1; sub(/.*-/, "", t); pf[t] += $2; next }
    END {
      printf "%-26s %9s %9s %9s %9s %9s\n", "thread", "user_us", "sys_us", "syscalls", "switches", "faults"
      for (t in name) {
        if (u[t] + s[t] + sc[t] == 0) continue
        printf "%-26s %9.1f %9.1f %9.2f %9.2f %9.2f\n", name[t] "/" t, u[t] * 1e6 / hz / n,
          s[t] * 1e6 / hz / n, sc[t] / n, cs[t] / n, pf[t] / n
        tu += u[t]; ts += s[t]; tsc += sc[t]; tcs += cs[t]; tpf += pf[t]
      }
      printf "%-26s %9.1f %9.1f %9.2f %9.2f %9.2f   (per session, %d sessions)\n", "all threads",
        tu * 1e6 / hz / n, ts * 1e6 / hz / n, tsc / n, tcs / n, tpf / n, n
    }' "$work/ticks0" "$work/ticks1" "$work/perf.out"
  ;;
perftrace)
  # perf trace -s: a block per thread ("name (tid), N events") with a row per
  # syscall ("name calls errors total ...").
  awk -v n="$ok" '
    /^ [^ ].* \([0-9]+\), [0-9]+ events/ { th = $1 "/" $2; gsub(/[(),]/, "", th); next }
    th != "" && NF >= 7 && $2 ~ /^[0-9]+$/ { per[th " " $1] += $2; tot[th] += $2; all += $2 }
    END {
      printf "syscalls per session: %.2f\n", all / n
      for (t in tot) printf "  thread %-22s %8.2f\n", t, tot[t] / n
      for (k in per) { split(k, a, " "); printf "  %-22s %-16s %8.2f\n", a[1], a[2], per[k] / n }
    }' "$work/perf.out" | sort -k1,1 -k4,4nr
  ;;
strace)
  # Lines: "TID syscall(...) = ..." (also "<unfinished ...>" / "<... resumed>" halves:
  # count each call once, at its start).
  awk -v n="$ok" -v threads="$work/threads" '
    BEGIN { while ((getline l < threads) > 0) { split(l, a, " "); name[a[1]] = a[2] } }
    /resumed>/ || /^[0-9]+ +\+\+\+/ || /^[0-9]+ +---/ { next }
    { tid = $1; sc = $2; sub(/\(.*/, "", sc); t = (tid in name) ? name[tid] : "other";
      per[t " " sc]++; tot[t]++; all++ }
    END {
      printf "syscalls per session: %.1f\n", all / n
      for (t in tot) printf "  thread %-18s %6.1f\n", t, tot[t] / n
      for (k in per) { split(k, a, " "); printf "  %-18s %-16s %6.2f\n", a[1], a[2], per[k] / n }
    }' "$work/strace.out" | sort -k1,1 -k4,4nr
  ;;
callgrind)
  name_of() { awk -v t="$1" '$1 == t { print $2 }' "$work/threads"; }
  total=0
  for f in "$work"/cg.out.*-*; do
    [ -f "$f" ] || continue
    # The dump's file name ends in -<thread number>; its header names the thread id
    # only indirectly, so identify the loop thread by its functions.
    ir=$(awk '/^summary:/ { print $2 }' "$f")
    [ -n "$ir" ] || ir=$(awk '/^totals:/ { print $2 }' "$f")
    [ -n "$ir" ] || continue
    [ "$ir" -gt 0 ] || continue
    total=$((total + ir))
    # Thread 01 is the main thread, the event loop's.
    case $f in
    *-01) what=loop ;;
    # The writer also flushes when idle (pipeline.rs): look for it first.
    *) if grep -q 'write_batch' "$f"; then what=store
      elif grep -q 'flush_and_answer' "$f"; then what=sync
      elif grep -q 'udp_send::run' "$f"; then what=send
      else what=other; fi ;;
    esac
    printf '  %-6s %12.0f instructions per session (%s)\n' "$what" "$(echo "$ir / $ok" | bc -l)" "$(basename "$f")"
    if [ "$what" = loop ]; then
      hb=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
        awk '/Server::handle_bytes/ && !h { gsub(",", "", $1); h = $1 } END { print h + 0 }' || true)
      hs=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
        awk '/Server::handle_store_result/ && !h { gsub(",", "", $1); h = $1 } END { print h + 0 }' || true)
      printf '         of which Server::handle_bytes %.0f, handle_store_result %.0f, the rest %.0f\n' \
        "$(echo "${hb:-0} / $ok" | bc -l)" "$(echo "${hs:-0} / $ok" | bc -l)" \
        "$(echo "($ir - ${hb:-0} - ${hs:-0}) / $ok" | bc -l)"
    fi
  done
  printf 'instructions per session, all threads: %.0f\n' "$(echo "$total / $ok" | bc -l)"
  ;;
esac
