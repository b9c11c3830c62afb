#!/usr/bin/env bash
# bench/ab.sh OLD_BIN NEW_BIN: cpmd's CPU time per 1-to-1 session for two builds,
# measured alternately (old, new, old, new, ...) at one fixed rate in the same run, so
# a change's effect is read as a ratio while the machine's load drifts. Each round
# starts a fresh cpmd (UDP, default configuration, SQLite store in a temp dir),
# registers bob (bench/uas.xml) and alice, runs bench/uac.xml at RATE calls/s for
# COUNT calls, and reads utime+stime from /proc/PID/stat.
#
# Environment: RATE (default 300), COUNT (default 6000), ROUNDS (default 3),
# BASE_PORT (default random). Prints one line per run and the median ratio new/old.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
old=${1:?usage: bench/ab.sh OLD_BIN NEW_BIN}
new=${2:?usage: bench/ab.sh OLD_BIN NEW_BIN}
RATE=${RATE:-300}
COUNT=${COUNT:-6000}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-$((20000 + RANDOM % 20000))}
ip=127.0.0.1
clk_tck=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# run BIN TAG N: run number N; prints "TAG cpu_us_per_session ok failed".
run() {
  local bin=$1 tag=$2 port=$((BASE_PORT + 10 * $3)) dir="$work/$2-$3"
  mkdir -p "$dir"
  "$bin" --udp "$ip:$port" --msrp "$ip:0" --imap "$ip:0" --metrics "$ip:0" --data-dir "$dir/data" \
    --ready-file "$dir/ready" \
    </dev/null >/dev/null 2>"$dir/cpmd.log" &
  local cpmd=$!
  pids+=("$cpmd")
  for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.05; done
  for who in "bob $((port + 1))" "alice $((port + 2))"; do
    set -- $who
    sipp "$ip:$port" -sf "$root/tests/sipp/register.xml" -i "$ip" -p "$2" -t u1 -s "$1" \
      -m 1 -timeout 10s -timeout_error -nostdin >/dev/null 2>&1
  done
  sipp "$ip:$port" -sf "$root/bench/uas.xml" -i "$ip" -p $((port + 1)) -t u1 -nostdin \
    >/dev/null 2>&1 &
  local uas=$!
  pids+=("$uas")
  sleep 0.2
  local c0 c1
  c0=$(cpu_ticks "$cpmd")
  sipp "$ip:$port" -sf "$root/bench/uac.xml" -i "$ip" -p $((port + 2)) -t u1 -nostdin \
    -key ruri "sip:bob@example.com" -r "$RATE" -m "$COUNT" -recv_timeout 10000 \
    -timeout 120s -trace_stat -stf "$dir/stat.csv" >/dev/null 2>&1 || true
  c1=$(cpu_ticks "$cpmd")
  kill "$uas" "$cpmd" 2>/dev/null || true
  wait "$uas" "$cpmd" 2>/dev/null || true
  local ok failed
  ok=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i; next } { v = $c } END { print v + 0 }' "$dir/stat.csv")
  failed=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i; next } { v = $c } END { print v + 0 }' "$dir/stat.csv")
  awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$ok" -v tag="$tag" -v f="$failed" \
    'BEGIN { printf "%s %.0f %d %d\n", tag, (n > 0 ? d * 1e6 / t / n : 0), n, f }'
}

echo "ab: RATE=$RATE COUNT=$COUNT ROUNDS=$ROUNDS; old=$old new=$new"
printf '%-4s %12s %8s %8s\n' run cpu_us/sess ok failed
results=()
n=0
for _ in $(seq "$ROUNDS"); do
  for pair in "old $old" "new $new"; do
    set -- $pair
    n=$((n + 1))
    line=$(run "$2" "$1" "$n")
    results+=("$line")
    printf '%-4s %12s %8s %8s\n' $line
  done
done
printf '%s\n' "${results[@]}" | awk '
  $1 == "old" { o[++no] = $2 } $1 == "new" { n[++nn] = $2 }
  END { for (i = 1; i <= no; i++) if (o[i] > 0) printf "%.3f\n", n[i] / o[i] }' |
  sort -n | awk '{ r[NR] = $1 } END {
    printf "median new/old CPU per session: %s (%d rounds)\n", r[int((NR + 1) / 2)], NR }'
