#!/usr/bin/env bash
# bench/tls.sh: the TLS handshake cost on cpmd's SIP listeners: connections/s each
# answered one SIP OPTIONS, on the SIP TLS listener (full handshake first) against the
# SIP TCP listener (plain), in the same run, against the same release cpmd.
#
# The load generator is `tls_bench` (tests/src/bin/tls_bench.rs): it makes a CA and a
# certificate for 127.0.0.1 (ECDSA P-256, rcgen), starts cpmd with them, then opens
# COUNT connections to each listener from THREADS threads: TCP connect + OPTIONS +
# its 200 + close, then TCP connect + full TLS handshake (rustls client, verified,
# resumption off) + OPTIONS + its 200 + close_notify + close. Client and server share
# the machine's cores.
#
# Environment: COUNT (connections per listener, default 5000), THREADS (default 4),
# CPMD_BIN / BENCH_BIN (default: cargo build --release), RUST_LOG (cpmd's log filter,
# default warn).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

COUNT=${COUNT:-5000}
THREADS=${THREADS:-4}
export RUST_LOG=${RUST_LOG:-warn}

. "$root/bench/lib.sh"
need_cpmd
need_bench tls_bench
export CPMD_BIN
"$BENCH_BIN" --count "$COUNT" --threads "$THREADS"
