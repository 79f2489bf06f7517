#!/usr/bin/env bash
# bench-lonc.sh: request rate through lonc against direct TCP to the same lond stand-in, in the
# same run. Everything lives in a temporary directory with a generated config (loncUser = the
# current user, short delays, loncProbePort = the stand-in's port) and is stopped at the end.
#
#   direct TCP     N clients, each its own TCP connection to lond-standin: handshake, then
#                  `echo:bench` requests back to back (the upper bound: no lonc in the path);
#                  and the same with one client, i.e. one link used strictly one request at a
#                  time, which is what lonc does with its single TCP connection per peer
#   lonc, kept     N clients on <lonSockDir>/<host>, each one connection sending requests back
#                  to back; lonc relays them one at a time over its single TCP link
#   lonc, lonnet   N clients, one Unix connection per request, as lonnet's reply() does
#
# Environment: BENCH_CLIENTS (default 4), BENCH_SECONDS per measurement (default 4).
# Bounded: the whole run takes well under 60 s; every wait has a timeout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lonc_bin=$root/target/release/lonc
standin_bin=$root/target/release/lond-standin
clients=${BENCH_CLIENTS:-4}
seconds=${BENCH_SECONDS:-4}

if [ ! -x "$standin_bin" ]; then
  echo "bench-lonc: $standin_bin missing; run 'make standin' first" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-lonc.XXXXXX")
standin_pid=
lonc_pid=
cleanup() {
  # Stop only what this script started, by pid; KILL what does not stop within 10 s.
  for pid in $lonc_pid $standin_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $lonc_pid $standin_pid; do
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for TEST-ARGS... : up to 15 s for a file-system fact.
wait_for() {
  for _ in $(seq 150); do
    if test "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

host=benchd   # the stand-in's host id (the peer lonc serves on <lonSockDir>/benchd)
self=benchc   # lonc's own lonHostID
buildkey=48213A0ADFEB09AABCDE7C9B055021

"$standin_bin" --listen 127.0.0.1:0 --host-id "$host" --peer-id "$self" \
  --buildkey "$buildkey" --port-file "$tmp/standin.port" 2>"$tmp/standin.err" &
standin_pid=$!
wait_for -s "$tmp/standin.port" || { echo "bench-lonc: stand-in did not start" >&2; exit 1; }
port=$(cat "$tmp/standin.port")

cat >"$tmp/driver.py" <<'PY'
"""Bench clients: N processes, each counting answered requests until a common deadline."""
import multiprocessing as mp
import socket
import sys
import time


def tcp_client(target, start, stop, req):
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    s.sendall(b"init\n")
    challenge = f.readline()
    s.sendall(challenge)
    assert f.readline() == b"ok\n", "handshake refused"
    s.sendall(b"ekey\n")
    f.readline()
    return loop(lambda: ask(s, f, req), start, stop)


def unix_kept_client(path, start, stop, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rb")
    return loop(lambda: ask(s, f, req), start, stop)


def unix_lonnet_client(path, start, stop, req):
    def one():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(req)
            answer = s.makefile("rb").readline()
        return answer
    return loop(one, start, stop)


def ask(s, f, req):
    s.sendall(req)
    return f.readline()


def loop(one, start, stop):
    want = b"bench\n"
    while time.time() < start:
        time.sleep(0.001)
    n = 0
    while time.time() < stop:
        answer = one()
        if answer != want:
            raise SystemExit("unexpected answer %r" % answer)
        n += 1
    return n


def run(args):
    mode, target, start, stop = args
    fn = {"tcp": tcp_client, "kept": unix_kept_client, "lonnet": unix_lonnet_client}[mode]
    return fn(target, start, stop, b"echo:bench\n")


def main():
    mode, target, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    start = time.time() + 1.0  # every client connected and waiting before the clock starts
    stop = start + seconds
    with mp.Pool(clients) as pool:
        counts = pool.map(run, [(mode, target, start, stop)] * clients)
    print("%.0f" % (sum(counts) / seconds))


main()
PY

# measure MODE TARGET [CLIENTS]: prints requests per second.
measure() {
  timeout $((seconds + 20)) python3 "$tmp/driver.py" "$1" "$2" "${3:-$clients}" "$seconds"
}

echo "lonc bench: $clients clients, $seconds s per measurement, request 'echo:bench'"
direct=$(measure tcp "127.0.0.1:$port")
printf '  %-48s %8s req/s\n' "direct TCP, one connection per client" "$direct"
single=$(measure tcp "127.0.0.1:$port" 1)
printf '  %-48s %8s req/s\n' "direct TCP, one connection, one client" "$single"

if [ ! -x "$lonc_bin" ]; then
  echo "  lonc: $lonc_bin not built yet; only the direct-TCP half was measured"
  exit 0
fi

mkdir -p "$tmp/daemons/logs" "$tmp/tab" "$tmp/sock" "$tmp/html/lon-status"
cat >"$tmp/access.conf" <<EOF
PerlSetVar lonDaemons $tmp/daemons
PerlSetVar lonTabDir $tmp/tab
PerlSetVar lonSockDir $tmp/sock
PerlSetVar londPort $port
PerlSetVar lonHostID $self
PerlSetVar lonDocRoot $tmp/html
PerlSetVar loncUser $(id -un)
PerlSetVar loncProbePort $port
PerlSetVar loncProbeTimeout 2
PerlSetVar loncPongDelay 0
PerlSetVar loncInitTimeout 5
PerlSetVar loncReplyTimeout 10
PerlSetVar loncBackoffMin 0.1
PerlSetVar loncBackoffMax 0.2
EOF
echo "$host:bench:library:127.0.0.1:127.0.0.1" >"$tmp/tab/hosts.tab"

"$lonc_bin" -f -c "$tmp/access.conf" >"$tmp/lonc.out" 2>&1 &
lonc_pid=$!
if ! wait_for -S "$tmp/sock/$host"; then
  echo "bench-lonc: lonc did not open $tmp/sock/$host; its log:" >&2
  tail -n 20 "$tmp/daemons/logs/lonc.log" "$tmp/lonc.out" >&2 2>/dev/null || true
  exit 1
fi

kept=$(measure kept "$tmp/sock/$host")
printf '  %-48s %8s req/s\n' "through lonc, one Unix connection per client" "$kept"
lonnet=$(measure lonnet "$tmp/sock/$host")
printf '  %-48s %8s req/s\n' "through lonc, a Unix connection per request" "$lonnet"
awk -v d="$direct" -v s="$single" -v k="$kept" -v l="$lonnet" 'BEGIN {
  printf "  ratio lonc (kept) / direct (per client):  %.2f\n", k / d
  printf "  ratio lonc (kept) / direct (one link):    %.2f\n", k / s
  printf "  ratio lonc (lonnet) / direct (per client): %.2f\n", l / d }'
