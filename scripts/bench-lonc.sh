#!/usr/bin/env bash
# bench-lonc.sh REP RAW: one repetition of the lonc figures (issue 10 §1 and §2), every figure
# side by side with its baseline, appended to RAW as `REP<TAB>name.metric<TAB>value` lines.
# scripts/bench.sh runs it several times and writes the report; it can run alone too.
#
# All in a temporary directory, stopped at the end (by pid):
#   bench-peer   (one poll loop) on 127.0.0.1:P and a Unix socket: answers at once
#   bench-peer   on 127.0.0.2:P (the same port, as lonc has one londPort): 1 ms per request
#   bench-relay  the minimal relay to the first peer (no handshake: the peer serves a
#                connection that does not start with `init` plain lines)
#   lonc         loncLinks 1 (its default; 1.29's one link per peer), both peers in hosts.tab
#   lonc         the same with `loncLinks 4`, for issue 10 §2's figures
# and bench-load (one process) drives each path: 1 client on a kept connection, 1 client
# with a new Unix connection per request (as lonnet does), 64 clients. Then issue 10's
# regression figures, by bench-lonc-ops: a lonc with the first peer only (idle clients'
# and a child's memory, a killed child serving again), and a lonc of BENCH_FLEET hosts
# (default 1,000) on loopback addresses 127.250.x.y, all served by one more bench-peer
# listening on each, timed from its start until every socket has answered. Environment:
# BENCH_SECS per measurement (default 2), BENCH_BIN (default target/release),
# BENCH_IDLE_CLIENTS (1,000), BENCH_KILLS (20), BENCH_FLEET (1,000), BENCH_PAIRS (3: the
# 64-client figure's pairs, below), BENCH_CPUS (below).
#
# CPU placement. Three processes are busy in a relay row (bench-load, the relay under test,
# bench-peer); left to the scheduler on 2 CPUs, whether it puts the relay and the peer (which
# hand every request to each other over the one link) on one CPU or on two moved each of the
# minimal relay and lonc between about 63k and 37k requests/s from run to run, so their ratio
# said more about placement than about lonc. So every process of the relay rows is pinned
# (taskset), the same for the baselines, the minimal relay and lonc: bench-load on the first
# CPU of this script's affinity; the bench-peers, bench-relay and both loncs (started under
# taskset: the children inherit it) on the second. BENCH_CPUS="LOAD RELAY" picks the two
# CPUs, BENCH_CPUS=off pins nothing; with one CPU nothing is pinned. The regression figures
# (bench-lonc-ops' lonc and the fleet) are not pinned. The placement is written to RAW
# (`placement.load_cpu`, `placement.relay_cpu`) for the report.
set -euo pipefail

rep=${1:?usage: bench-lonc.sh REP RAW}
raw=${2:?usage: bench-lonc.sh REP RAW}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/target/release}
secs=${BENCH_SECS:-2}
idle_clients=${BENCH_IDLE_CLIENTS:-1000}
kills=${BENCH_KILLS:-20}
pairs=${BENCH_PAIRS:-3}
fleet=${BENCH_FLEET:-1000}
for b in lonc bench-peer bench-relay bench-load bench-lonc-ops; do
  [ -x "$bin/$b" ] || { echo "bench-lonc: $bin/$b missing (make bench builds it)" >&2; exit 1; }
done

# The CPUs this script may run on, one a line (Cpus_allowed_list: "0-3,6").
allowed_cpus() {
  local r
  for r in $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' ' '); do
    seq "${r%-*}" "${r#*-}"
  done
}
on_load=()
on_relay=()
case ${BENCH_CPUS:-auto} in
  off) ;;
  auto)
    mapfile -t cpus < <(allowed_cpus)
    if [ "${#cpus[@]}" -ge 2 ]; then
      on_load=(taskset -c "${cpus[0]}")
      on_relay=(taskset -c "${cpus[1]}")
    fi
    ;;
  *)
    read -r load_cpu relay_cpu <<<"$BENCH_CPUS"
    on_load=(taskset -c "$load_cpu")
    on_relay=(taskset -c "${relay_cpu:?BENCH_CPUS: LOAD RELAY, two CPU numbers, or off}")
    ;;
esac
if [ "${#on_load[@]}" -gt 0 ]; then
  command -v taskset >/dev/null || {
    echo "bench-lonc: taskset missing (util-linux; scripts/setup.sh installs it)" >&2
    exit 1
  }
  printf '%s\tplacement.load_cpu\t%s\n%s\tplacement.relay_cpu\t%s\n' \
    "$rep" "${on_load[2]}" "$rep" "${on_relay[2]}" >>"$raw"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-lonc.XXXXXX")
pids=()
cleanup() {
  # Stop only what this script started, by pid; KILL what does not stop within 10 s.
  local pid
  # The fleet's lonc is bench-lonc-ops' child, which stops it; should that tool have been cut
  # short, its pid file names it.
  if [ -s "$tmp/fleet/daemons/logs/lonc.pid" ]; then
    pids+=("$(cat "$tmp/fleet/daemons/logs/lonc.pid")")
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for TEST-ARGS... : up to 20 s for a file-system fact.
wait_for() {
  for _ in $(seq 200); do
    if test "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

"${on_relay[@]}" "$bin/bench-peer" --listen 127.0.0.1:0 --unix "$tmp/peer.sock" \
  --port-file "$tmp/port" --host-id benchd --peer-id benchc 2>"$tmp/peer.err" &
pids+=($!)
wait_for -s "$tmp/port" || { echo "bench-lonc: bench-peer did not start" >&2; exit 1; }
port=$(cat "$tmp/port")
"${on_relay[@]}" "$bin/bench-peer" --listen "127.0.0.2:$port" --port-file "$tmp/port2" \
  --delay-ms 1 --host-id slowd --peer-id benchc 2>"$tmp/peer2.err" &
pids+=($!)
wait_for -s "$tmp/port2" || { echo "bench-lonc: the 1 ms bench-peer did not start" >&2; exit 1; }
"${on_relay[@]}" "$bin/bench-relay" --unix "$tmp/relay.sock" --connect "127.0.0.1:$port" \
  --ready-file "$tmp/relay.ready" 2>"$tmp/relay.err" &
relay_pid=$!
pids+=($relay_pid)
wait_for -s "$tmp/relay.ready" || { echo "bench-lonc: bench-relay did not start" >&2; exit 1; }

# write_lonc NAME LINKS: a lonc installation under $tmp/NAME (both peers in hosts.tab).
write_lonc() {
  local d=$tmp/$1
  mkdir -p "$d/daemons/logs" "$d/tab" "$d/sock" "$d/html/lon-status"
  cat >"$d/access.conf" <<EOF
PerlSetVar lonDaemons $d/daemons
PerlSetVar lonTabDir $d/tab
PerlSetVar lonSockDir $d/sock
PerlSetVar londPort $port
PerlSetVar lonHostID benchc
PerlSetVar lonDocRoot $d/html
PerlSetVar loncUser $(id -un)
PerlSetVar loncProbePort $port
PerlSetVar loncProbeTimeout 2
PerlSetVar loncPongDelay 0
PerlSetVar loncInitTimeout 5
PerlSetVar loncReplyTimeout 30
PerlSetVar loncBackoffMin 0.1
PerlSetVar loncBackoffMax 0.2
PerlSetVar loncLinks $2
EOF
  printf 'benchd:bench:library:127.0.0.1:127.0.0.1\nslowd:bench:library:127.0.0.2:127.0.0.2\n' \
    >"$d/tab/hosts.tab"
}

# start_lonc NAME LINKS: write_lonc, then start it; sets lonc_pid.
start_lonc() {
  local d=$tmp/$1
  write_lonc "$1" "$2"
  "${on_relay[@]}" "$bin/lonc" -f -c "$d/access.conf" >"$d/lonc.out" 2>&1 &
  lonc_pid=$!
  pids+=($lonc_pid)
  if ! wait_for -S "$d/sock/benchd" || ! wait_for -S "$d/sock/slowd"; then
    echo "bench-lonc: lonc ($1) did not open its sockets; its log:" >&2
    tail -n 20 "$d/daemons/logs/lonc.log" "$d/lonc.out" >&2 2>/dev/null || true
    exit 1
  fi
}
start_lonc lonc1 1
lonc1_pid=$lonc_pid
start_lonc lonc4 4

# lonc's processes (the parent and its children), for CPU per request.
lonc_cpu_pids() {
  local p
  printf -- '--cpu-pid %s ' "$lonc1_pid"
  for p in $(pgrep -P "$lonc1_pid"); do printf -- '--cpu-pid %s ' "$p"; done
}

# measure NAME ARGS...: one bench-load run; its key=value output becomes RAW lines.
measure() {
  local name=$1 out kv
  shift
  out=$(timeout 120 "${on_load[@]}" "$bin/bench-load" --secs "$secs" "$@") || {
    echo "bench-lonc: $name failed" >&2
    exit 1
  }
  for kv in $out; do
    printf '%s\t%s.%s\t%s\n' "$rep" "$name" "${kv%%=*}" "${kv#*=}" >>"$raw"
  done
  echo "  rep $rep $name: $out" >&2
}

# Passes through lonc first, until one is answered, so every link has done its handshake
# before the clock runs (on a loaded machine a socket can exist well before its link is up).
warm() {
  local i out
  for i in $(seq 50); do
    out=$("${on_load[@]}" "$bin/bench-load" --secs 0.2 --warmup 0 "$@") || true
    case " $out " in
      *" n=0 "* | "  ") sleep 0.1 ;;
      *) return 0 ;;
    esac
  done
  echo "bench-lonc: no answer through $* after $i tries" >&2
  exit 1
}
warm --target "$tmp/lonc1/sock/benchd"
warm --target "$tmp/lonc1/sock/slowd"
warm --target "$tmp/lonc4/sock/slowd"

# §1: one client, kept connection: raw baselines, minimal relay, lonc.
measure unix_pp --target "$tmp/peer.sock"
measure tcp_1 --target "127.0.0.1:$port"
measure relay_kept --target "$tmp/relay.sock" --cpu-pid "$relay_pid"
# shellcheck disable=SC2046
measure lonc_kept --target "$tmp/lonc1/sock/benchd" $(lonc_cpu_pids)
# One client, a new Unix connection per request.
measure relay_new --mode new --target "$tmp/relay.sock" --cpu-pid "$relay_pid"
# shellcheck disable=SC2046
measure lonc_new --mode new --target "$tmp/lonc1/sock/benchd" $(lonc_cpu_pids)
# 64 clients, one peer.
measure tcp_64 --clients 64 --target "127.0.0.1:$port"
# BENCH_PAIRS adjacent pairs of the minimal relay and lonc (the order alternating), so a load
# change on the machine (or on the pinned CPU) hits both sides of a pair: relay_64.* and
# lonc_64.* are each metric's median over the pairs, lonc_64.pair_ratio_rps the median of
# the pairs' lonc / relay requests/s.
for i in $(seq "$pairs"); do
  for side in $(if [ $((i % 2)) = 1 ]; then echo relay lonc; else echo lonc relay; fi); do
    if [ "$side" = relay ]; then
      measure "relay_64.p$i" --clients 64 --target "$tmp/relay.sock" --cpu-pid "$relay_pid"
    else
      # shellcheck disable=SC2046
      measure "lonc_64.p$i" --clients 64 --target "$tmp/lonc1/sock/benchd" $(lonc_cpu_pids)
    fi
  done
done
python3 - "$rep" "$raw" <<'PY'
import statistics, sys
rep, raw = sys.argv[1], sys.argv[2]
vals = {}
for line in open(raw):
    r, key, value = line.rstrip("\n").split("\t")
    if r == rep and key.startswith(("relay_64.p", "lonc_64.p")):
        name, pair, metric = key.split(".", 2)
        vals.setdefault((name, metric), {})[pair] = float(value)
with open(raw, "a") as out:
    for (name, metric), by_pair in sorted(vals.items()):
        out.write(f"{rep}\t{name}.{metric}\t{statistics.median(by_pair.values())}\n")
    relay, lonc = vals[("relay_64", "rps")], vals[("lonc_64", "rps")]
    ratios = [lonc[p] / relay[p] for p in relay if p in lonc and relay[p] > 0]
    out.write(f"{rep}\tlonc_64.pair_ratio_rps\t{statistics.median(ratios)}\n")
PY
# encrypt: (regression figure): the same kept client, each request encrypted by lonc.
measure lonc_enc --target "$tmp/lonc1/sock/benchd" --request encrypt:encecho:bench

# §2: a peer that takes 1 ms per request, 64 clients, loncLinks 1 and 4; then 8 clients of
# the loncLinks 4 lonc with and without one 2-second request always in flight.
measure links1_64 --clients 64 --target "$tmp/lonc1/sock/slowd"
measure links4_64 --clients 64 --target "$tmp/lonc4/sock/slowd"
measure hol_base --clients 8 --target "$tmp/lonc4/sock/slowd"
# The window 2 s longer than the others (BENCH_SECS may be a fraction: not shell arithmetic).
measure hol_slow --clients 8 --target "$tmp/lonc4/sock/slowd" --slow slow \
  --secs "$(awk -v s="$secs" 'BEGIN { print s + 2 }')"

# Issue 10's regression figures. A lonc with the first peer only, and attempts enough for
# every kill below (each restart counts one).
write_lonc ops 1
printf 'benchd:bench:library:127.0.0.1:127.0.0.1\n' >"$tmp/ops/tab/hosts.tab"
echo "PerlSetVar loncMaxAttempts 1000000" >>"$tmp/ops/access.conf"
"$bin/lonc" -f -c "$tmp/ops/access.conf" >"$tmp/ops/lonc.out" 2>&1 &
ops_pid=$!
pids+=($ops_pid)
wait_for -S "$tmp/ops/sock/benchd" || { echo "bench-lonc: the ops lonc did not start" >&2; exit 1; }
"$bin/bench-load" --secs 0.2 --warmup 0 --target "$tmp/ops/sock/benchd" >/dev/null

# ops NAME ARGS...: one bench-lonc-ops run; its key=value output becomes RAW lines.
ops() {
  local name=$1 out kv
  shift
  out=$(timeout 300 "$bin/bench-lonc-ops" "$@") || {
    echo "bench-lonc: $name failed" >&2
    exit 1
  }
  for kv in $out; do
    printf '%s\t%s.%s\t%s\n' "$rep" "$name" "${kv%%=*}" "${kv#*=}" >>"$raw"
  done
  echo "  rep $rep $name: $out" >&2
}

# Idle clients and a child's private memory (the child before the clients connect).
ops idle idle --target "$tmp/ops/sock/benchd" --pid "$(pgrep -P "$ops_pid" | head -n 1)" \
  --clients "$idle_clients"
# A killed child serving again.
ops restart restart --target "$tmp/ops/sock/benchd" \
  --status-json "$tmp/ops/html/lon-status/loncstatus.json" --id benchd --kills "$kills"

# BENCH_FLEET hosts on 127.250.x.y (x = 0.., y = 1..250), one bench-peer listening on each
# at the shared port; bench-lonc-ops starts that lonc, times it and stops it.
write_lonc fleet 1
listen=()
: >"$tmp/fleet/tab/hosts.tab"
for i in $(seq "$fleet"); do
  a="127.250.$(((i - 1) / 250)).$(((i - 1) % 250 + 1))"
  printf 'h%04d:bench:library:%s:%s\n' "$i" "$a" "$a" >>"$tmp/fleet/tab/hosts.tab"
  if [ "$i" = 1 ]; then listen+=(--listen "$a:$port"); else listen+=(--listen "$a:0"); fi
done
"$bin/bench-peer" "${listen[@]}" --port-file "$tmp/port3" --host-id fleetd --peer-id benchc \
  2>"$tmp/peer3.err" &
fleet_peer=$!
pids+=($fleet_peer)
wait_for -s "$tmp/port3" || { echo "bench-lonc: the fleet's bench-peer did not start" >&2; exit 1; }
ops fleet fleet --lonc "$bin/lonc" --config "$tmp/fleet/access.conf" \
  --sock-dir "$tmp/fleet/sock" --hosts "$fleet"
kill -TERM "$fleet_peer" 2>/dev/null || true
