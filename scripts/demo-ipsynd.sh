#!/usr/bin/env bash
# ipsynd demo: a temporary FIP tree, a real ipsyn -> ipsyn-recv route, a script client that
# fails once and is retried, and an FTP client sending to a local pyftpdlib server with the
# system ftp client. Shows the transmissions, the status file and the logs; stops cleanly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin="$top/target/release"
[ -x "$bin/ipsynd" ] && [ -x "$bin/ipsyn" ] && [ -x "$bin/ipsyn-recv" ] ||
  (cd "$top" && cargo build --release --bins -q)

F=$(mktemp -d /tmp/demo-ipsynd.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$F"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_gone() { # wait_gone PATH SECONDS
  for _ in $(seq $(($2 * 20))); do [ -e "$1" ] || return 0; sleep 0.05; done
  echo "timed out waiting for $1 to go" >&2; return 1
}
wait_file() {
  for _ in $(seq $(($2 * 20))); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "timed out waiting for $1" >&2; return 1
}

mkdir -p "$F"/{tables/syn/client,tables/syn/route,spool/syn/control,x,log/syn,bin,local,inbox,ftphome/incoming,delivered}
ln -s "$bin/ipsyn" "$F/bin/ipsyn"

say "receivers: ipsyn-recv and a pyftpdlib FTP server on 127.0.0.1 (random ports)"
"$bin/ipsyn-recv" --listen 127.0.0.1:0 --dir "$F/inbox" --port-file "$F/recv.port" &
pids+=($!)
cat > "$F/ftpd.py" <<'PY'
import os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
import logging
config_logging(level=logging.ERROR)
a = DummyAuthorizer(); a.add_user("syn", "s3cret", sys.argv[1], perm="elradfmw")
FTPHandler.authorizer = a
from pyftpdlib.servers import FTPServer
s = FTPServer(("127.0.0.1", 0), FTPHandler)
open(sys.argv[2] + ".tmp", "w").write(str(s.socket.getsockname()[1])); os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
python3 "$F/ftpd.py" "$F/ftphome" "$F/ftp.port" 2>/dev/null &
pids+=($!)
wait_file "$F/recv.port" 10; wait_file "$F/ftp.port" 10
RP=$(cat "$F/recv.port"); FP=$(cat "$F/ftp.port")
echo "ipsyn-recv on 127.0.0.1:$RP, ftp on 127.0.0.1:$FP"

say "tables"
cat > "$F/tables/syn/PORTS" <<EOT
; route        host        port
route:wire     host:127.0.0.1 port:$RP multi:2
route:ftpbox   host:127.0.0.1 port:$FP
EOT
printf 'route:wire\nprior:10\n' > "$F/tables/syn/client/PAPER"
cat > "$F/tables/syn/client/SCRIPTY" <<EOT
; a site script: fails on its first go, then delivers; \\C1 is a FipSeq field
C1:demo-field
timeout:1
retry:3
script:$F/local/deliver "\\C1" seq=\\\$S
EOT
cat > "$F/tables/syn/client/FTPCLIENT" <<'EOT'
route:ftpbox
useftp:
ftpline:user syn,s3cret
ftpline:binary
ftpline:cd incoming
EOT
cat > "$F/local/deliver" <<'SH'
#!/bin/bash
# args: "demo-field" seq=NNN -c CLIENT -q queue -l LOG -r FLAG -z CTRL
words=("$@")
while [ $# -gt 0 ]; do case "$1" in -q) q=$2;; -l) l=$2;; -r) r=$2;; -z) z=$2;; esac; shift; done
root=${l%/log/syn/*}
echo "deliver: called with: ${words[*]:0:2}" >> "$l"
if [ ! -e "$root/local/.second" ]; then
  touch "$root/local/.second"; echo "deliver: pretend the line is down" >> "$l"; rm -f "$r"; exit 1
fi
mv "$root/spool/syn/$q"/* "$root/delivered/" && rm -f "$z"
rm -f "$r"
SH
chmod +x "$F/local/deliver"
head -50 "$F/tables/syn/PORTS" "$F"/tables/syn/client/*

say "check the tables and directories (ipsynd -n; starts nothing)"
FIP_ROOT="$F" "$bin/ipsynd" -n || true

say "queue files"
for c in paper scripty ftpclient; do
  mkdir -p "$F/spool/syn/$c"
  for i in 1 2 3; do echo "$c story $i, $(date)" > "$F/spool/syn/$c/$c-$i.txt"; done
done
ls -R "$F/spool/syn" | sed 's/^/  /'

say "start ipsynd (FIP_ROOT=$F)"
FIP_ROOT="$F" "$bin/ipsynd" -q &
IPSYND=$!
pids+=($IPSYND)
for _ in $(seq 100); do grep -q started "$F/log/ipsynd.log" 2>/dev/null && break; sleep 0.05; done
"$bin/ipsynd" -v

say "drop control records"
for r in SYN_PAPER SYN_SCRIPTY SYN_FTPCLIENT; do : > "$F/spool/syn/control/$r"; echo "  $r"; done
for _ in $(seq 200); do grep -q "SCRIPTY attempt 1/3 failed" "$F/log/ipsynd.log" && break; sleep 0.05; done
say "the queue while SCRIPTY waits for its retry (ipsynd -s: asks the daemon for a fresh status)"
FIP_ROOT="$F" "$bin/ipsynd" -s
echo "log/syn/ipsynd.status:"
cat "$F/log/syn/ipsynd.status"
for r in SYN_PAPER SYN_FTPCLIENT SYN_SCRIPTY; do wait_gone "$F/spool/syn/control/$r" 15; done

say "delivered"
echo "ipsyn-recv inbox:";   ls "$F/inbox" | sed 's/^/  /'
echo "script deliveries:";  ls "$F/delivered" | sed 's/^/  /'
echo "ftp server:";         ls "$F/ftphome/incoming" | sed 's/^/  /'
left=$(find "$F/spool/syn" -type f)
echo "left in the queues: ${left:-(none)}"

say "status (ipsynd -s --json)"
FIP_ROOT="$F" "$bin/ipsynd" -s --json
say "per-attempt logs (first lines)"
for l in "$F"/log/syn/*.*.*.*; do echo "--- ${l##*/}"; head -3 "$l" | cut -c1-160; done
say "log/ipsynd.log"
cut -c1-170 "$F/log/ipsynd.log"

say "stop (SIGTERM)"
kill -TERM $IPSYND
rc=0; wait $IPSYND || rc=$?
echo "ipsynd exited with status $rc"
tail -1 "$F/log/ipsynd.log"
FIP_ROOT="$F" "$bin/ipsynd" -s || echo "ipsynd -s: exit $?"
