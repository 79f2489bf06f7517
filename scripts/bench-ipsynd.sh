#!/usr/bin/env bash
# Dispatch latency of ipsynd: control record created -> transmitter started, over N records
# (default 200) created 10 ms apart, each for its own client. Two baselines run in the same
# invocation on the same records:
#   direct  - the driver starts the same transmitter itself at the moment it creates the
#             record (the floor: fork/exec + bash start-up, no daemon at all);
#   polling - a scanner that looks at spool/syn/control once a second, as the original's
#             timed scan would.
# The transmitter stamps its own start with bash's $EPOCHREALTIME (no fork), so the driver's
# own timing does not matter. A second part measures the cost of one event (a new record, an
# edited client file) while W records (default 2000) wait for a port that is held: what a
# turn of the loop costs per waiting record. Bounded: about 15 s in all. TMPDIR chooses the
# filesystem of the FIP trees (default /tmp).
set -euo pipefail
N=${N:-200}
W=${W:-2000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin="$top/target/release"
[ -x "$bin/ipsynd" ] || (cd "$top" && cargo build --release --bins -q)

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-ipsynd.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

cat > "$T/stamp" <<'SH'
#!/bin/bash
now=$EPOCHREALTIME
while [ $# -gt 0 ]; do
  case "$1" in -c) c=$2 ;; -r) r=$2 ;; -z) z=$2 ;; esac
  shift
done
echo "$now" > "$OUT/$c"
rm -f "$z" "$r"
SH
chmod +x "$T/stamp"

cat > "$T/driver.py" <<'PY'
import os, subprocess, sys, time
mode, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctrl, out, stamp = f"{root}/spool/syn/control", os.environ["OUT"], sys.argv[4]
t0 = {}
for i in range(n):
    c = f"B{i:03d}"
    t0[c] = time.time()
    if mode == "direct":
        subprocess.Popen([stamp, "-c", c, "-q", c.lower(), "-l", "/dev/null",
                          "-r", "/dev/null/none", "-z", f"{ctrl}/{c}"])
    else:
        open(f"{ctrl}/{c}", "w").close()
    time.sleep(0.01)
deadline = time.time() + 30
while time.time() < deadline and len(os.listdir(out)) < n:
    time.sleep(0.05)
lat = sorted((float(open(f"{out}/{c}").read()) - t0[c]) * 1000 for c in t0 if os.path.exists(f"{out}/{c}"))
if len(lat) < n:
    print(f"{mode}: only {len(lat)} of {n} started", file=sys.stderr); sys.exit(1)
print(f"{lat[len(lat)//2]:.3f} {lat[min(len(lat)-1, int(len(lat)*0.99))]:.3f}")
PY

tree() { # a fresh FIP tree with N client files
  local r="$T/$1"
  mkdir -p "$r/spool/syn/control" "$r/tables/syn/client" "$r/x" "$r/log/syn" "$r/out"
  printf 'ipsyn:%s\nrescan:5\n' "$T/stamp" > "$r/tables/syn/IPSYND"
  for i in $(seq 0 $((N-1))); do : > "$r/tables/syn/client/$(printf 'B%03d' "$i")"; done
  echo "$r"
}

# 1. direct start (floor)
r=$(tree direct)
read -r d_med d_p99 < <(OUT="$r/out" python3 "$T/driver.py" direct "$r" "$N" "$T/stamp")

# 2. ipsynd
r=$(tree ipsynd)
OUT="$r/out" "$bin/ipsynd" -q -r "$r" 2>"$r/stderr" &
pids+=($!)
for _ in $(seq 100); do grep -q started "$r/log/ipsynd.log" 2>/dev/null && break; sleep 0.05; done
read -r i_med i_p99 < <(OUT="$r/out" python3 "$T/driver.py" ipsynd "$r" "$N" "$T/stamp")
ipsynd_cpu=$(awk '{printf "%.0f", ($14 + $15) * 1000 / 100}' "/proc/${pids[-1]}/stat")
kill -TERM "${pids[-1]}"

# 3. a 1-second polling scanner
r=$(tree polling)
(
  cd "$r"
  while :; do
    for f in spool/syn/control/*; do
      [ -e "$f" ] || continue
      c=${f##*/}
      OUT="$r/out" "$T/stamp" -c "$c" -q "${c,,}" -l /dev/null -r /dev/null/none -z "$r/$f" &
    done
    sleep 1
  done
) &
pids+=($!)
read -r p_med p_p99 < <(OUT="$r/out" python3 "$T/driver.py" polling "$r" "$N" "$T/stamp")

echo "ipsynd dispatch latency, record created -> transmitter running, $N records 10 ms apart (ms):"
printf '  %-28s median %8.2f   p99 %8.2f\n' "direct start (floor)" "$d_med" "$d_p99"
printf '  %-28s median %8.2f   p99 %8.2f\n' "ipsynd (inotify + poll)" "$i_med" "$i_p99"
printf '  %-28s median %8.2f   p99 %8.2f\n' "1 s polling scanner" "$p_med" "$p_p99"
awk -v i="$i_med" -v p="$p_med" -v d="$d_med" -v ip="$i_p99" -v pp="$p_p99" 'BEGIN {
  printf "  ratio polling/ipsynd: median %.0fx, p99 %.0fx; ipsynd overhead over direct start: %+.2f ms median\n", p/i, pp/ip, i-d }'
echo "  ipsynd CPU time for the $N records: ${ipsynd_cpu} ms"
# ipsynd creates two files before each spawn (the in-use flag, O_EXCL, and the attempt log):
# their cost on this filesystem explains most of the overhead over a direct start.
python3 - "$T" <<'PY'
import os, sys, time
d = sys.argv[1]; n = 200
t = time.perf_counter()
for i in range(n):
    os.close(os.open(f"{d}/c{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
dt = (time.perf_counter() - t) / n * 1e6
for i in range(n):
    os.unlink(f"{d}/c{i}")
print(f"  file creation on {d}'s filesystem: {dt:.0f} us each (try TMPDIR=/dev/shm)")
PY

# Per-event cost with W records waiting (a held port): ipsynd's CPU time for 100 new records
# created 10 ms apart, for 10 edits of one client file, and for 3 idle seconds.
r="$T/many"
mkdir -p "$r/spool/syn/control" "$r/tables/syn/client" "$r/x" "$r/log/syn"
# The holder runs in its own session (ipsynd leaves transmitters running when it stops), so
# it must end by itself: on release, when the bench's directory is gone, or after 60 s.
cat > "$T/hold" <<SH
#!/bin/bash
n=0
while [ -d "$T" ] && [ ! -e "$T/release" ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n + 1)); done
while [ \$# -gt 0 ]; do case "\$1" in -r) f=\$2 ;; -z) z=\$2 ;; esac; shift; done
rm -f "\$z" "\$f"
SH
chmod +x "$T/hold"
printf 'ipsyn:%s\nrescan:5\n' "$T/hold" > "$r/tables/syn/IPSYND"
echo "route:one host:h port:1" > "$r/tables/syn/PORTS"
for i in $(seq -w 0 $((W + 99))); do echo "route:one" > "$r/tables/syn/client/C$i"; done
echo "route:one" > "$r/tables/syn/client/HOG"
"$bin/ipsynd" -q -r "$r" 2>"$r/stderr" &
pids+=($!)
mpid=$!
cpu() { awk '{print ($14 + $15) * 10}' "/proc/$mpid/stat"; } # ticks of 10 ms
for _ in $(seq 100); do grep -q started "$r/log/ipsynd.log" 2>/dev/null && break; sleep 0.05; done
: > "$r/spool/syn/control/HOG"
for _ in $(seq 100); do [ -n "$(ls "$r/x")" ] && break; sleep 0.05; done
for i in $(seq -w 0 $((W - 1))); do : > "$r/spool/syn/control/C$i"; done
for _ in $(seq 300); do
  [ "$(grep -c waiting-port "$r/log/syn/ipsynd.status" 2>/dev/null)" -ge "$W" ] && break
  sleep 0.1
done
sleep 0.5
c0=$(cpu)
for i in $(seq 0 99); do : > "$r/spool/syn/control/C$((W + i))"; sleep 0.01; done
sleep 0.5
c1=$(cpu)
for i in $(seq 0 9); do
  printf 'route:one\n; edit %s\n' "$i" > "$r/tables/syn/client/.C0000.tmp"
  mv "$r/tables/syn/client/.C0000.tmp" "$r/tables/syn/client/C0000"
  sleep 0.05
done
sleep 0.5
c2=$(cpu)
sleep 3
c3=$(cpu)
touch "$T/release"
for _ in $(seq 100); do [ -e "$r/spool/syn/control/HOG" ] || break; sleep 0.05; done
echo
echo "ipsynd per-event cost with $W records waiting for a held port (ipsynd CPU time):"
awk -v a="$((c1 - c0))" -v b="$((c2 - c1))" -v c="$((c3 - c2))" -v w="$W" 'BEGIN {
  printf "  new record:             %6.2f ms each (%.2f us per waiting record)\n", a / 100, a / 100 * 1000 / w
  printf "  edit of one client file: %5.2f ms each\n", b / 10
  printf "  idle:                   %6.0f ms in 3 s\n", c }'
