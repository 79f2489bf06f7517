#!/usr/bin/env bash
# bench-ipsynd.sh REP RAW: one repetition of the ipsynd figures (issue 9), each beside its
# baseline, appended to RAW as `REP<TAB>name.metric<TAB>value` lines. scripts/bench.sh runs it
# several times and writes the report; it can run alone too.
#
# The transmitter is bench-transmit (compiled: it stamps its exec time on the monotonic clock,
# deletes its record and flag, exits 0), the records come from bench-ipsynd, which also runs
# the baselines (bare fork+execv of the same transmitter) and reads ipsynd's CPU time,
# context switches and VmRSS from /proc. Each part has a fresh FIP tree in a temporary
# directory (TMPDIR chooses its filesystem; make bench points it at a journaled ext4, as a
# FIP site's spool is: scripts/bench.sh) and its own ipsynd, stopped by pid at the end of
# the part:
#   latency  record created -> transmitter exec'd, BENCH_LAT_N (200) records 10 ms apart,
#            each for its own client; baseline: fork+exec of the transmitter at those moments
#   drain    BENCH_DRAIN_N (10000) trivial transmissions on a `multi:50` port, 100 records
#            outstanding; baseline: the same records and transmitter, 50 at a time, run by
#            bench-ipsynd itself (fork+exec+wait, no daemon)
#   backlog  BENCH_WAITING ("2000 10000") records waiting for a busy port (its holder runs
#            until released): ipsynd CPU per new record, per reaped transmitter (on another,
#            free port), idle CPU and wake-ups over BENCH_IDLE (5) s, VmRSS. `rescan:` is
#            3600 there, so any wake-up in the idle window is one the rescan does not explain.
#   oneclient the largest of BENCH_WAITING records of ONE client, one running (held), the
#            others waiting for the client: ipsynd CPU per reaped transmitter (each reap
#            starts the client's next record).
set -euo pipefail

rep=${1:?usage: bench-ipsynd.sh REP RAW}
raw=${2:?usage: bench-ipsynd.sh REP RAW}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/target/release}
lat_n=${BENCH_LAT_N:-200}
drain_n=${BENCH_DRAIN_N:-10000}
waiting=${BENCH_WAITING:-2000 10000}
idle=${BENCH_IDLE:-5}
new=${BENCH_NEW:-50}
reaps=${BENCH_REAPS:-30}
for b in ipsynd bench-transmit bench-ipsynd; do
  [ -x "$bin/$b" ] || { echo "bench-ipsynd: $bin/$b missing (make bench builds it)" >&2; exit 1; }
done
tx=$bin/bench-transmit

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-ipsynd.XXXXXX")
ipsynd_pid=
stop_ipsynd() {
  [ -n "$ipsynd_pid" ] || return 0
  kill -TERM "$ipsynd_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$ipsynd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$ipsynd_pid" 2>/dev/null || true
  wait "$ipsynd_pid" 2>/dev/null || true
  ipsynd_pid=
}
cleanup() {
  stop_ipsynd
  # Removing the tree ends every held transmitter (they watch their hold directory).
  rm -rf "$tmp"
}
trap cleanup EXIT

# record NAME OUTPUT: key=value words as RAW lines name.key.
record() {
  local kv
  for kv in $2; do
    printf '%s\t%s.%s\t%s\n' "$rep" "$1" "${kv%%=*}" "${kv#*=}" >>"$raw"
  done
  echo "  rep $rep $1: $2" >&2
}

# start_ipsynd ROOT: ipsynd on ROOT with the bench's environment; waits for its start line.
start_ipsynd() {
  BENCH_STAMPS=$1/stamps BENCH_HOLD=$1/hold "$bin/ipsynd" -q -r "$1" 2>"$1/ipsynd.err" &
  ipsynd_pid=$!
  for _ in $(seq 600); do
    grep -q started "$1/log/ipsynd.log" 2>/dev/null && return 0
    kill -0 "$ipsynd_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench-ipsynd: ipsynd on $1 did not start:" >&2
  tail -n 5 "$1/ipsynd.err" "$1/log/ipsynd.log" >&2 2>/dev/null || true
  exit 1
}

step() { timeout 600 "$bin/bench-ipsynd" "$@"; }

# Latency: baseline first, then ipsynd on a fresh tree.
r=$tmp/lat-base
step prepare --root "$r" --kind latency --n 0 --transmitter "$tx" >/dev/null
record forkexec "$(BENCH_STAMPS=$r/stamps step latency --root "$r" --n "$lat_n" --gap-ms 10 \
  --stamps "$r/stamps" --baseline "$tx")"
r=$tmp/lat
step prepare --root "$r" --kind latency --n "$lat_n" --transmitter "$tx" >/dev/null
start_ipsynd "$r"
record dispatch "$(step latency --root "$r" --n "$lat_n" --gap-ms 10 --stamps "$r/stamps")"
stop_ipsynd

# Drain: baseline, then ipsynd.
r=$tmp/drain-base
step prepare --root "$r" --kind drain --transmitter "$tx" >/dev/null
record drain_base "$(step drain --root "$r" --n "$drain_n" --baseline "$tx" --parallel 50)"
r=$tmp/drain
step prepare --root "$r" --kind drain --transmitter "$tx" >/dev/null
start_ipsynd "$r"
record drain "$(step drain --root "$r" --n "$drain_n")"
stop_ipsynd
rm -rf "$tmp/drain" "$tmp/drain-base"

# Backlogs.
for w in $waiting; do
  r=$tmp/backlog$w
  step prepare --root "$r" --kind backlog --n "$w" --transmitter "$tx" --rescan 3600 >/dev/null
  mkdir -p "$r/hold"
  start_ipsynd "$r"
  record "backlog$w" "$(step backlog --root "$r" --pid "$ipsynd_pid" --stamps "$r/stamps" \
    --hold "$r/hold" --new "$new" --reaps "$reaps" --idle "$idle")"
  stop_ipsynd
  rm -rf "$r"
done

# One client's backlog.
w=$(printf '%s\n' $waiting | sort -n | tail -n 1)
r=$tmp/oneclient
step prepare --root "$r" --kind oneclient --n "$w" --transmitter "$tx" --rescan 3600 >/dev/null
mkdir -p "$r/hold"
start_ipsynd "$r"
record oneclient "$(step oneclient --root "$r" --pid "$ipsynd_pid" --stamps "$r/stamps" \
  --hold "$r/hold" --reaps "$reaps")"
stop_ipsynd
rm -rf "$r"
