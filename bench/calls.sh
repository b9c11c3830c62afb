#!/usr/bin/env bash
# bench/calls.sh: the highest rate of 1-to-1 sessions (INVITE / 200 / ACK / BYE / 200)
# cpmd relays with < 0.1% failures, against two baselines measured in the same run:
# the same sipp scenario run caller -> callee directly (what sipp itself sustains on
# this machine) and caller -> Kamailio -> callee (Kamailio as a stateful proxy, tm +
# record-route: the anchor the issue compares cpmd with).
#
# Through cpmd each session is two SIP legs (A's and B's), the BYE handshake (relay,
# answer, the seal of the history committed to the SQLite store, then the 200 to A), with the
# default configuration (history on). Both terminals REGISTER from the sockets they
# then use (cpmd authenticates an out-of-dialog INVITE by its source address).
#
# Each series finds its own ceiling: it runs the rates of RATES (ascending) for
# DURATION seconds each, then keeps raising the rate by half (up to MAX_RATE) until a
# run fails (>= 0.1% failed calls, or sipp could not hold the rate: the run took
# longer than 1.25 x DURATION + 3 s). Printed: each highest passing rate, the ratios
# to the direct baseline, CPU time per session (utime+stime from /proc/PID/stat) of
# cpmd and of Kamailio (all its processes), and cpmd's RSS.
#
# Environment: DURATION (s, default 30), RATES (calls/s, default "200 400 800 1600"),
# MAX_RATE (default 64000), CPMD_BIN (default: cargo build --release -p cpmd),
# BASE_PORT (default random), RUST_LOG (cpmd's log filter, default info; the log
# goes to a file), KAMAILIO=0 skips the Kamailio series, KEEP=1 keeps the work
# directory, RSS_EVERY (s, default 5) how often cpmd's RSS is sampled during its runs.
# STORE_PG (else CPMD_TEST_PG), a PostgreSQL URL of a role that may create
# databases: one more cpmd series with `--store` a fresh database there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${DURATION:-30}
RATES=${RATES:-"200 400 800 1600"}
MAX_RATE=${MAX_RATE:-64000}
RSS_EVERY=${RSS_EVERY:-5}
KAMAILIO=${KAMAILIO:-1}
BASE_PORT=${BASE_PORT:-$((20000 + RANDOM % 20000))}
export RUST_LOG=${RUST_LOG:-info}

command -v sipp >/dev/null || { echo "bench: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
. "$root/bench/lib.sh"
need_cpmd

start_work

ip=127.0.0.1
cpmd_port=$BASE_PORT
uas_port=$((BASE_PORT + 1))
uac_port=$((BASE_PORT + 2))
direct_uas_port=$((BASE_PORT + 3))
direct_uac_port=$((BASE_PORT + 4))
kam_port=$((BASE_PORT + 5))
kam_uas_port=$((BASE_PORT + 6))
kam_uac_port=$((BASE_PORT + 7))
clk_tck=$(getconf CLK_TCK)

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# stat_col FILE NAME: the value of column NAME in the last line of a sipp stat CSV.
stat_col() {
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { v = $c } END { print v + 0 }' "$1"
}

# register USER PORT: one REGISTER from ip:PORT through cpmd.
register() {
  sipp "$ip:$cpmd_port" -sf "$root/tests/sipp/register.xml" -i "$ip" -p "$2" -t u1 \
    -s "$1" -m 1 -timeout 10s -timeout_error -nostdin >"$work/register-$1.out" 2>&1 ||
    { echo "bench: REGISTER $1 failed" >&2; cat "$work/register-$1.out" >&2; exit 1; }
}

# start_uas PORT TARGET: the callee, answering every call until killed.
start_uas() {
  sipp "$2" -sf "$root/bench/uas.xml" -i "$ip" -p "$1" -t u1 -nostdin \
    >"$work/uas-$1.out" 2>&1 &
  pids+=($!)
}

# run_calls MODE RATE TARGET RURI PORT: one load run; sets ok, failed, secs.
run_calls() {
  local mode=$1 rate=$2 target=$3 ruri=$4 port=$5
  local total=$((rate * DURATION)) stat="$work/$mode-$rate.csv" t0 t1
  t0=$(date +%s.%N)
  sipp "$target" -sf "$root/bench/uac.xml" -i "$ip" -p "$port" -t u1 -nostdin \
    -key ruri "$ruri" -r "$rate" -m "$total" -recv_timeout 10000 \
    -timeout $((DURATION * 3 + 30))s -trace_stat -stf "$stat" -fd 1 \
    >"$work/uac-$mode-$rate.out" 2>&1 || true
  t1=$(date +%s.%N)
  ok=0 failed=0
  if [ -s "$stat" ]; then
    ok=$(stat_col "$stat" "SuccessfulCall(C)")
    failed=$(stat_col "$stat" "FailedCall(C)")
  fi
  # Calls that never ended (sipp stopped by its global timeout) count as failed.
  if [ $((total - ok - failed)) -gt 0 ]; then failed=$((total - ok)); fi
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

# rates: RATES, then each next rate half as high again, up to MAX_RATE.
rates() {
  local top=0
  for r in $RATES; do echo "$r"; top=$r; done
  while :; do
    top=$((top + top / 2))
    [ "$top" -le "$MAX_RATE" ] || break
    echo "$top"
  done
}

# passes RATE: < 0.1% failures and the rate was held.
passes() {
  awk -v ok="$ok" -v f="$failed" -v s="$secs" -v d="$DURATION" \
    'BEGIN { exit !((f * 1000 < ok + f) && ok > 0 && s <= d * 1.25 + 3) }'
}

echo "bench: DURATION=${DURATION}s RATES=\"$RATES\" on $(nproc) cores, $(uname -sr)"
echo "bench: cpmd $CPMD_BIN, work directory $work"

# --- through cpmd -----------------------------------------------------------------
"$CPMD_BIN" --udp "$ip:$cpmd_port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$work/data" --ready-file "$work/ready" \
  </dev/null >/dev/null 2>"$work/cpmd.log" &
cpmd_pid=$!
pids+=("$cpmd_pid")
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || { echo "bench: cpmd did not start" >&2; cat "$work/cpmd.log" >&2; exit 1; }

register bob "$uas_port"
start_uas "$uas_port" "$ip:$cpmd_port"
sleep 0.2

# sample_rss FILE: cpmd's VmRSS every RSS_EVERY seconds ("seconds kB" lines) until
# killed; the RSS over a run, to see whether it stays flat once the lingering
# transactions of the first 64·T1 = 32 s are replaced as fast as they are made.
sample_rss() {
  local t=0
  while kill -0 "$cpmd_pid" 2>/dev/null; do
    echo "$t $(rss_kb "$cpmd_pid")"
    sleep "$RSS_EVERY"
    t=$((t + RSS_EVERY))
  done >"$1"
}

# rss_flat FILE: the samples, and the growth from the first sample at or after 40 s
# (past the 32 s of lingering) to the last one.
rss_flat() {
  awk -v every="$RSS_EVERY" '
    { t[NR] = $1; r[NR] = $2; line = line " " $2 }
    $1 >= 40 && !from { from = NR }
    END {
      printf "  rss every %ss (kB):%s\n", every, line
      if (from && from < NR)
        printf "  rss from %ds to %ds: %d -> %d kB (%+.1f%%)\n", t[from], t[NR], r[from], r[NR], (r[NR] - r[from]) * 100 / r[from]
      else
        print "  rss: run too short to judge flatness (needs samples past 40 s)"
    }' "$1"
}

best_cpmd=0 cpu_us=- rss=- rss_series=
printf '%-8s %8s %8s %8s %8s %10s %10s\n' mode rate ok failed secs "cpu_us/call" "rss_kB"
for rate in $(rates); do
  register alice "$uac_port"
  c0=$(cpu_ticks "$cpmd_pid")
  sample_rss "$work/rss-$rate.txt" &
  sampler=$!
  run_calls cpmd "$rate" "$ip:$cpmd_port" "sip:bob@example.com" "$uac_port"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  c1=$(cpu_ticks "$cpmd_pid")
  per=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$ok" \
    'BEGIN { if (n > 0) printf "%.0f", d * 1e6 / t / n; else print "-" }')
  r=$(rss_kb "$cpmd_pid")
  printf '%-8s %8s %8s %8s %8s %10s %10s\n' cpmd "$rate" "$ok" "$failed" "$secs" "$per" "$r"
  if passes; then
    best_cpmd=$rate cpu_us=$per rss=$r rss_series="$work/rss-$rate.txt"
  else
    break
  fi
done
hwm=$(hwm_kb "$cpmd_pid")
sealed=$(sqlite3 "$work/data/cpmd.db" "SELECT count(*) FROM sessions WHERE state = 'sealed'" 2>/dev/null || echo "?")
# cpmd logs its lingering transactions (count, bytes) at shutdown (LIM-16): stop it
# now, with the last series' transactions still lingering, so the baselines run alone.
kill -TERM "$cpmd_pid" 2>/dev/null || true
wait "$cpmd_pid" 2>/dev/null || true
linger=$(grep 'transactions at shutdown' "$work/cpmd.log" | tail -1 |
  sed -n 's/.*lingering=\([0-9]*\) lingering_bytes=\([0-9]*\) bytes_each=\([0-9]*\).*/\1 finished transactions lingering, \2 bytes, \3 bytes each/p')

# --- through cpmd on PostgreSQL (STORE_PG, else CPMD_TEST_PG) ------------------------
# The same series with `--store` a fresh database on that server (made and dropped
# here; the URL's role may create databases), so the scale-out store's cost per
# session shows next to SQLite's.
best_pg=- pg_cpu_us=- pg_sealed=-
pg_admin=${STORE_PG:-${CPMD_TEST_PG:-}}
if [ -n "$pg_admin" ]; then
  command -v psql >/dev/null || { echo "bench: psql not found (apt-get install postgresql-client)" >&2; exit 1; }
  pg_db=cpmd_calls_$$
  pg_url="${pg_admin%/*}/$pg_db"
  psql "$pg_admin" -qc "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $pg_db" \
    -c "CREATE DATABASE $pg_db" >/dev/null
  drop_pg() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; }
  trap 'drop_pg; cleanup' EXIT
  pg_port=$((BASE_PORT + 8)) pg_uas_port=$((BASE_PORT + 9)) pg_uac_port=$((BASE_PORT + 10))
  cpmd_port=$pg_port # register() sends to $cpmd_port
  "$CPMD_BIN" --udp "$ip:$pg_port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$work/data-pg" \
    --store "$pg_url" --ready-file "$work/ready-pg" </dev/null >/dev/null 2>"$work/cpmd-pg.log" &
  pg_pid=$!
  pids+=("$pg_pid")
  for _ in $(seq 200); do [ -s "$work/ready-pg" ] && break; sleep 0.05; done
  [ -s "$work/ready-pg" ] || { echo "bench: cpmd on PostgreSQL did not start" >&2; cat "$work/cpmd-pg.log" >&2; exit 1; }
  register bob "$pg_uas_port"
  start_uas "$pg_uas_port" "$ip:$pg_port"
  sleep 0.2
  best_pg=0
  for rate in $(rates); do
    register alice "$pg_uac_port"
    c0=$(cpu_ticks "$pg_pid")
    run_calls cpmd-pg "$rate" "$ip:$pg_port" "sip:bob@example.com" "$pg_uac_port"
    c1=$(cpu_ticks "$pg_pid")
    per=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$ok" \
      'BEGIN { if (n > 0) printf "%.0f", d * 1e6 / t / n; else print "-" }')
    printf '%-8s %8s %8s %8s %8s %10s %10s\n' cpmd-pg "$rate" "$ok" "$failed" "$secs" "$per" "$(rss_kb "$pg_pid")"
    if passes; then best_pg=$rate pg_cpu_us=$per; else break; fi
  done
  kill -TERM "$pg_pid" 2>/dev/null || true
  wait "$pg_pid" 2>/dev/null || true
  pg_sealed=$(psql "$pg_url" -Atc "SELECT count(*) FROM sessions WHERE state = 'sealed'" 2>/dev/null || echo "?")
  drop_pg
fi

# --- baseline: caller -> callee directly ---------------------------------------------
start_uas "$direct_uas_port" "$ip:$direct_uac_port"
sleep 0.2
best_direct=0
for rate in $(rates); do
  run_calls direct "$rate" "$ip:$direct_uas_port" "sip:bob@$ip:$direct_uas_port" "$direct_uac_port"
  printf '%-8s %8s %8s %8s %8s %10s %10s\n' direct "$rate" "$ok" "$failed" "$secs" - -
  if passes; then best_direct=$rate; else break; fi
done

# --- anchor: caller -> Kamailio (stateful proxy) -> callee ----------------------------
best_kam=0 kam_cpu_us=-
if [ "$KAMAILIO" = 1 ]; then
  command -v kamailio >/dev/null || { echo "bench: kamailio not found (apt-get install kamailio)" >&2; exit 1; }
  sed -e "s/@IP@/$ip/g" -e "s/@PORT@/$kam_port/g" -e "s/@UAS_PORT@/$kam_uas_port/g" \
    "$root/bench/kamailio-proxy.cfg" >"$work/kamailio.cfg"
  # tlsf: Debian's default memory manager (q_malloc) is built with debugging, which
  # costs several times the CPU per call; 512 MB shared, 32 MB per process, so the
  # transactions lingering at the highest rates fit.
  kamailio -f "$work/kamailio.cfg" -DD -E -w "$work" -P "$work/kamailio.pid" \
    -m 512 -M 32 -x tlsf >"$work/kamailio.log" 2>&1 &
  kam_main=$!
  pids+=("$kam_main")
  sleep 1
  kill -0 "$kam_main" 2>/dev/null || { echo "bench: kamailio did not start" >&2; cat "$work/kamailio.log" >&2; exit 1; }
  # Kamailio forks workers: its CPU is the sum over the process group of the main one.
  kam_ticks() {
    local t=0 p
    for p in $(pgrep -g "$(ps -o pgid= "$kam_main" | tr -d ' ')" -x kamailio); do
      t=$((t + $(cpu_ticks "$p")))
    done
    echo "$t"
  }
  start_uas "$kam_uas_port" "$ip:$kam_port"
  sleep 0.2
  for rate in $(rates); do
    c0=$(kam_ticks)
    run_calls kamailio "$rate" "$ip:$kam_port" "sip:bob@$ip:$kam_uas_port" "$kam_uac_port"
    c1=$(kam_ticks)
    per=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$ok" \
      'BEGIN { if (n > 0) printf "%.0f", d * 1e6 / t / n; else print "-" }')
    printf '%-8s %8s %8s %8s %8s %10s %10s\n' kamailio "$rate" "$ok" "$failed" "$secs" "$per" -
    if passes; then best_kam=$rate kam_cpu_us=$per; else break; fi
  done
fi

ratio() { awk -v a="$1" -v b="$best_direct" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "highest rate with < 0.1% failures over ${DURATION}s (each series up to its own ceiling, MAX_RATE=$MAX_RATE):"
echo "  through cpmd    : $best_cpmd sessions/s"
echo "  through kamailio: $best_kam sessions/s"
echo "  direct (sipp)   : $best_direct sessions/s"
echo "  cpmd/direct     : $(ratio "$best_cpmd")"
if [ "$best_pg" != - ]; then
  echo "  cpmd, PostgreSQL: $best_pg sessions/s ($(ratio "$best_pg") of direct, $pg_cpu_us us cpmd CPU per session, $pg_sealed sealed)"
fi
echo "  kamailio/direct : $(ratio "$best_kam")"
echo "  cpmd CPU        : $cpu_us us per session (at $best_cpmd/s)"
echo "  kamailio CPU    : $kam_cpu_us us per call (at $best_kam/s, all processes)"
echo "  cpmd RSS        : $rss kB after the run at $best_cpmd/s, peak $hwm kB"
echo "  sealed          : $sealed sessions sealed in cpmd.db"
echo "  lingering       : ${linger:-?} (at shutdown, after the last cpmd run)"
if [ -n "$rss_series" ]; then
  echo "  cpmd RSS over the run at $best_cpmd/s:"
  rss_flat "$rss_series"
fi
