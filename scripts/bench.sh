#!/usr/bin/env bash
# bench.sh: `make bench`. Runs the lonc and the ipsynd figures, each beside its baseline in the
# same run, BENCH_REPS times (default 3; the parts alternate, so a load change hits both),
# then writes the report (medians, spread, ratios within a repetition, a target line per
# figure: scripts/bench-report.py) to BENCH_RESULTS, default scripts/bench-results.md, and
# prints it. The machine's load (/proc/loadavg) is taken before and after.
#
# BENCH_QUICK=1: one repetition of short runs (1 s measurements, 1,000 transmissions,
# backlogs of 500 and 2,000), for iterating on the bench itself; its report goes to
# ${TMPDIR:-/tmp}/bench-results.quick.md unless BENCH_RESULTS says otherwise, so a quick run
# never replaces the recorded results. The full run takes about 5 minutes on 2 CPUs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  : "${BENCH_REPS:=1}" "${BENCH_SECS:=1}" "${BENCH_DRAIN_N:=1000}" "${BENCH_WAITING:=500 2000}"
  : "${BENCH_IDLE:=2}" "${BENCH_NEW:=20}" "${BENCH_REAPS:=10}" "${BENCH_LAT_N:=100}"
  : "${BENCH_RESULTS:=${TMPDIR:-/tmp}/bench-results.quick.md}"
fi
: "${BENCH_REPS:=3}" "${BENCH_SECS:=2}" "${BENCH_DRAIN_N:=10000}" "${BENCH_WAITING:=2000 10000}"
: "${BENCH_IDLE:=5}" "${BENCH_NEW:=50}" "${BENCH_REAPS:=30}" "${BENCH_LAT_N:=200}"
: "${BENCH_RESULTS:=$here/bench-results.md}"
# Adjacent pairs of the minimal relay and lonc for the 64-client figure, per repetition.
: "${BENCH_PAIRS:=3}"
# lonc's regression figures: idle clients connected at once, kills of a child, fleet size.
: "${BENCH_IDLE_CLIENTS:=1000}" "${BENCH_KILLS:=20}" "${BENCH_FLEET:=1000}"
export BENCH_SECS BENCH_DRAIN_N BENCH_WAITING BENCH_IDLE BENCH_NEW BENCH_REAPS BENCH_LAT_N
export BENCH_PAIRS BENCH_IDLE_CLIENTS BENCH_KILLS BENCH_FLEET

work=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
ipsynd_mnt=
cleanup() {
  if [ -n "$ipsynd_mnt" ]; then umount "$ipsynd_mnt" 2>/dev/null || umount -l "$ipsynd_mnt" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ipsynd's FIP trees go where a FIP site's spool is: a journaled filesystem. An ext4 without
# a journal (this machine's root is one) makes the kernel scan past every inode deleted in
# the last half minute for each new file (ext4's recently_deleted check, made only without a
# journal): a draining queue deletes two files per transmission and creates two, so that
# scan, not ipsynd, would be the figure. Then, as root, the ipsynd parts run on a
# loop-mounted journaled ext4 image made here; BENCH_IPSYND_FS=tmpdir keeps TMPDIR.
fs_of() { df -T "$1" | awk 'NR == 2 { print $2 }'; }
has_journal() {
  local dev
  [ "$(fs_of "$1")" = ext4 ] || return 0
  dev=$(findmnt -no SOURCE -T "$1")
  ls /proc/fs/jbd2/ 2>/dev/null | grep -q "^$(basename "$dev")-"
}
ipsynd_tmp=${TMPDIR:-/tmp}
ipsynd_fs_note="$(fs_of "$ipsynd_tmp") (TMPDIR)"
if [ "${BENCH_IPSYND_FS:-}" != tmpdir ] && ! has_journal "$ipsynd_tmp"; then
  if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
    truncate -s 2G "$work/ipsynd-fs.img"
    mkfs.ext4 -q -F "$work/ipsynd-fs.img"
    mkdir -p "$work/ipsynd-fs"
    mount -o loop "$work/ipsynd-fs.img" "$work/ipsynd-fs"
    ipsynd_mnt=$work/ipsynd-fs
    ipsynd_tmp=$ipsynd_mnt
    ipsynd_fs_note="a journaled ext4 (a loop-mounted image: TMPDIR's $(fs_of "${TMPDIR:-/tmp}") has no journal, where each new file costs a scan of the recently deleted inodes)"
  else
    ipsynd_fs_note="$ipsynd_fs_note, WITHOUT a journal (not root: no image mounted), so file creation dominates"
  fi
fi
raw=$work/raw.tsv
meta=$work/meta
: >"$raw"

start=$(date +%s)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit + uncommitted changes"
fi
links_note=
if ! grep -q loncLinks "$root/target/release/lonc" 2>/dev/null; then
  links_note="This lonc has no \`loncLinks\` (the key is ignored): both columns are one link."
fi
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M')"
  echo "commit=$commit"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "load_before=$(cat /proc/loadavg)"
  echo "quick=${BENCH_QUICK:-0}"
  echo "secs=$BENCH_SECS"
  echo "drain_n=$BENCH_DRAIN_N"
  echo "waiting=$BENCH_WAITING"
  echo "idle=$BENCH_IDLE"
  echo "idle_clients=$BENCH_IDLE_CLIENTS"
  echo "kills=$BENCH_KILLS"
  echo "fleet=$BENCH_FLEET"
  echo "pairs=$BENCH_PAIRS"
  echo "fs=$(fs_of "${TMPDIR:-/tmp}")"
  echo "ipsynd_fs=$ipsynd_fs_note"
  echo "links_note=$links_note"
} >"$meta"
echo "bench: $BENCH_REPS repetitions, load $(cat /proc/loadavg), $(nproc) CPUs" >&2

for rep in $(seq "$BENCH_REPS"); do
  bash "$here/bench-lonc.sh" "$rep" "$raw"
  TMPDIR=$ipsynd_tmp bash "$here/bench-ipsynd.sh" "$rep" "$raw"
done

{
  echo "load_after=$(cat /proc/loadavg)"
  echo "duration=$(($(date +%s) - start))"
} >>"$meta"
python3 "$here/bench-report.py" "$raw" "$meta" >"$work/report.md"
cp "$work/report.md" "$BENCH_RESULTS"
cat "$work/report.md"
echo "bench: written to $BENCH_RESULTS" >&2
# The README quotes the recorded run only (tests/it/readme_figures.rs): refresh its figures
# section when this run replaced scripts/bench-results.md.
if [ "$BENCH_RESULTS" = "$here/bench-results.md" ]; then
  python3 "$here/bench-readme.py" "$BENCH_RESULTS" "$root/README.md" >&2
fi
