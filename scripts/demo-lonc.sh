#!/usr/bin/env bash
# lonc demo: three lond stand-ins on loopback, lonc in a temporary directory, plain and
# encrypted requests through the Unix sockets, a delayed message, the status page after USR1,
# the log, and a clean stop with TERM. Needs target/release/{lonc,lond-standin} (make build).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/target/release"
for b in lonc lond-standin; do
  [ -x "$bin/$b" ] || { echo "demo-lonc: $bin/$b missing; run: make build standin" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/lonc-demo.XXXXXX)
standins=()
cleanup() {
  if [ -f "$dir/logs/lonc.pid" ]; then kill -TERM "$(cat "$dir/logs/lonc.pid")" 2>/dev/null || true; fi
  for p in "${standins[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir"/{logs,tabs,sockets/delayed,html}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Three peers on their own loopback addresses sharing one port, as lond would on real hosts.
net="127.$((RANDOM % 200 + 20)).$((RANDOM % 250)).1"
base=${net%.*}
ids=(msul1 msua3 demo1)   # demo1 is this host (lonHostID): it gets a child too
say "starting lond stand-ins for ${ids[*]}"
"$bin/lond-standin" --listen "$base.2:0" --host-id msul1 --peer-id demo1 --port-file "$dir/port" 2>"$dir/standin-msul1.err" &
standins+=($!)
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(cat "$dir/port")
"$bin/lond-standin" --listen "$base.3:$port" --host-id msua3 --peer-id demo1 2>"$dir/standin-msua3.err" &
standins+=($!)
"$bin/lond-standin" --listen "$base.4:$port" --host-id demo1 --peer-id demo1 2>"$dir/standin-demo1.err" &
standins+=($!)
probe=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$dir/tabs/hosts.tab" <<EOF
msul1:msu:library:$base.2:$base.2
msua3:msu:access:$base.3:$base.3
demo1:msu:library:$base.4:$base.4
EOF
cat >"$dir/access.conf" <<EOF
PerlSetVar lonDaemons $dir
PerlSetVar lonTabDir $dir/tabs
PerlSetVar lonSockDir $dir/sockets
PerlSetVar londPort $port
PerlSetVar lonHostID demo1
PerlSetVar lonDocRoot $dir/html
PerlSetVar loncUser $(id -un)
PerlSetVar loncProbePort $probe
PerlSetVar loncProbeTimeout 2
PerlSetVar loncPongDelay 0.3
PerlSetVar loncBackoffMin 1
PerlSetVar loncBackoffMax 2
EOF
# A message lonnet could not deliver earlier: replayed right after the handshake.
echo "echo:delivered late" >"$dir/sockets/delayed/$(date +%s).echo.msul1"

say "lonc -n (check only)"
"$bin/lonc" -c "$dir/access.conf" -n

say "starting lonc (daemonizes; pid file $dir/logs/lonc.pid)"
"$bin/lonc" -c "$dir/access.conf"
echo "lonc parent pid $(cat "$dir/logs/lonc.pid")"

cat >"$dir/client.py" <<'EOF'
# A lonnet-style client: one request per connection, one answer line back.
import os, socket, sys, time
sockdir = sys.argv[1]
def ask(host, line, timeout=10):
    path = os.path.join(sockdir, host)
    end = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError:
            if time.time() > end: return "(no socket: con_lost)"
            time.sleep(0.05)
    s.settimeout(timeout)
    s.sendall(line.encode() + b"\n")
    ans = s.makefile("rb").readline()
    s.close()
    return ans.decode(errors="replace").rstrip("\n") if ans else "(eof)"
for arg in sys.argv[2:]:
    host, line = arg.split(" ", 1)
    print(f"  {host:6} {line!r:45} -> {ask(host, line)!r}")
EOF
say "requests through the Unix sockets"
python3 "$dir/client.py" "$dir/sockets" \
  "msul1 ping" "msua3 ping" "demo1 ping" \
  "msul1 echo:hello from lonnet" \
  "msua3 encrypt:encecho:sent encrypted, answered encrypted" \
  "msul1 encrypt:ping" \
  "msua3 empty" \
  "msul1 no_such_command"

say "USR1: status page"
kill -USR1 "$(cat "$dir/logs/lonc.pid")"
for _ in $(seq 100); do
  [ "$(grep -c $'^[0-9]*\t' "$dir/html/lon-status/loncstatus.txt" 2>/dev/null || echo 0)" -ge 4 ] && break
  sleep 0.05
done
sed 's/^/  /' "$dir/html/lon-status/loncstatus.txt"
for _ in $(seq 100); do grep -q '"last_log": "' "$dir/html/lon-status/loncstatus.json" 2>/dev/null && break; sleep 0.05; done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print("  %-6s %-9s pid %-6s attempts %s/%s" % (h["id"], h["state"], h["pid"], h["attempts"], h["max_attempts"])) for h in d["hosts"]]' "$dir/html/lon-status/loncstatus.json"

say "lonnet.perm.log"
sed 's/^/  /' "$dir/logs/lonnet.perm.log"

say "TERM: clean stop"
pid=$(cat "$dir/logs/lonc.pid")
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
echo "  lonc exited; pid file: $([ -e "$dir/logs/lonc.pid" ] && echo present || echo removed); sockets left: $(find "$dir/sockets" -type s | wc -l)"

say "lonc.log"
sed 's/^/  /' "$dir/logs/lonc.log"
