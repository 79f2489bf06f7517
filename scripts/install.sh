#!/usr/bin/env bash
# `make install` / `make uninstall`: scripts/install.sh install|uninstall.
#
# Installs below $DESTDIR: stripped binaries, the watchdog, man pages, example configs,
# systemd units, and under $SYSCONFDIR the init scripts, /etc/default files, logrotate and
# cron files. Paths the installed files name (@SBINDIR@, @SYSCONFDIR@, @FIP_ROOT@,
# @LIBDIR@, @BINDIR@) are filled in here. Every file and directory it creates is recorded
# in $DOCDIR/loncsyn/install-manifest (type, sha256, path), so uninstall removes exactly
# those. A $SYSCONFDIR file is a configuration file: an existing one is never overwritten
# unless it is still exactly what an earlier install put there, and uninstall keeps one
# that was edited since.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
FIP_ROOT=${FIP_ROOT:-/fip}
DESTDIR=${DESTDIR:-}
SBINDIR=${SBINDIR:-$PREFIX/sbin}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
DOCDIR=${DOCDIR:-$PREFIX/share/doc}
LIBDIR=${LIBDIR:-$PREFIX/lib/loncsyn}
SYSTEMDUNITDIR=${SYSTEMDUNITDIR:-$PREFIX/lib/systemd/system}
BUILD_DIR=${BUILD_DIR:-$here/target/release}
STRIP=${STRIP:-strip}
MANIFEST=$DOCDIR/loncsyn/install-manifest

declare -A old_sum=() # path -> sha256 recorded by an earlier install
declare -a old_dirs=()
declare -a entries=()  # the new manifest's lines
declare -A recorded=() # path -> 1, so nothing is listed twice

read_manifest() {
  [ -f "$DESTDIR$MANIFEST" ] || return 0
  local type sum path
  while IFS=$'\t' read -r type sum path; do
    case $type in
      f) old_sum[$path]=$sum ;;
      d) old_dirs+=("$path") ;;
    esac
  done <"$DESTDIR$MANIFEST"
}

record() { # TYPE SUM PATH
  [ -n "${recorded[$3]:-}" ] && return 0
  recorded[$3]=1
  entries+=("$1"$'\t'"$2"$'\t'"$3")
}

# mkdirs DIR: make DIR and its missing parents below DESTDIR, recording the ones made now
# (and keeping the ones an earlier install made).
mkdirs() {
  local d=$1 parts=() p
  while [ "$d" != / ] && [ "$d" != . ] && [ ! -d "$DESTDIR$d" ]; do
    parts=("$d" "${parts[@]}")
    d=$(dirname "$d")
  done
  for p in "${parts[@]}"; do
    install -d -m 0755 "$DESTDIR$p"
    record d - "$p"
  done
}

is_conf() { case $1 in "$SYSCONFDIR"/*) return 0 ;; esac; return 1; }

subst() {
  sed -e "s|@SBINDIR@|$SBINDIR|g" -e "s|@BINDIR@|$BINDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
    -e "s|@FIP_ROOT@|$FIP_ROOT|g" -e "s|@LIBDIR@|$LIBDIR|g" "$1"
}

# put MODE SRC DEST [subst|strip]
put() {
  local mode=$1 src=$2 dest=$3 how=${4:-} tmp sum
  mkdirs "$(dirname "$dest")"
  tmp=$(mktemp)
  case $how in
    subst) subst "$src" >"$tmp" ;;
    strip) cp "$src" "$tmp" && "$STRIP" "$tmp" ;;
    *) cp "$src" "$tmp" ;;
  esac
  sum=$(sha256sum <"$tmp" | cut -d' ' -f1)
  if is_conf "$dest" && [ -e "$DESTDIR$dest" ]; then
    local have
    have=$(sha256sum <"$DESTDIR$dest" | cut -d' ' -f1)
    if [ "$have" = "$sum" ]; then
      # Already this version; ours if an earlier install recorded it.
      [ -n "${old_sum[$dest]:-}" ] && record f "$sum" "$dest"
      rm -f "$tmp"
      return 0
    fi
    if [ -z "${old_sum[$dest]:-}" ]; then
      echo "install: kept $DESTDIR$dest (it was there before); the new version is $src"
      rm -f "$tmp"
      return 0
    fi
    if [ "${old_sum[$dest]}" != "$have" ]; then
      echo "install: kept $DESTDIR$dest (edited since it was installed); the new version is $src"
      record f "${old_sum[$dest]}" "$dest"
      rm -f "$tmp"
      return 0
    fi
  fi
  install -m "$mode" "$tmp" "$DESTDIR$dest"
  rm -f "$tmp"
  record f "$sum" "$dest"
}

do_install() {
  read_manifest
  local b
  for b in lonc ipsynd ipsyn ipsyn-recv; do
    [ -x "$BUILD_DIR/$b" ] || { echo "install: $BUILD_DIR/$b missing (cargo build --release)" >&2; exit 1; }
  done
  put 0755 "$BUILD_DIR/lonc" "$SBINDIR/lonc" strip
  put 0755 "$BUILD_DIR/ipsynd" "$SBINDIR/ipsynd" strip
  put 0755 "$BUILD_DIR/ipsyn" "$FIP_ROOT/bin/ipsyn" strip
  put 0755 "$BUILD_DIR/ipsyn-recv" "$BINDIR/ipsyn-recv" strip
  put 0755 "$here/scripts/loncsyn-watchdog" "$SBINDIR/loncsyn-watchdog" subst
  put 0644 "$here/scripts/init-functions.sh" "$LIBDIR/init-functions" subst
  local f rel
  for f in "$here"/etc/man/*.[1-9]; do
    put 0644 "$f" "$MANDIR/man${f##*.}/$(basename "$f")"
  done
  put 0644 "$here/etc/lonc/access.conf" "$DOCDIR/lonc/examples/access.conf"
  put 0644 "$here/etc/lonc/hosts.tab" "$DOCDIR/lonc/examples/hosts.tab"
  while IFS= read -r f; do
    rel=${f#"$here/etc/ipsynd/"}
    put 0644 "$f" "$DOCDIR/ipsynd/examples/$rel"
  done < <(find "$here/etc/ipsynd" -type f | sort)
  for f in lonc.service ipsynd.service; do
    put 0644 "$here/etc/systemd/$f" "$SYSTEMDUNITDIR/$f" subst
  done
  for f in lonc ipsynd; do
    put 0755 "$here/etc/init.d/$f" "$SYSCONFDIR/init.d/$f" subst
    put 0644 "$here/etc/default/$f" "$SYSCONFDIR/default/$f" subst
    put 0644 "$here/etc/logrotate.d/$f" "$SYSCONFDIR/logrotate.d/$f" subst
  done
  put 0644 "$here/etc/cron.d/loncsyn-watchdog" "$SYSCONFDIR/cron.d/loncsyn-watchdog" subst
  # Directories an earlier install made stay ours.
  for f in "${old_dirs[@]}"; do
    [ -d "$DESTDIR$f" ] && record d - "$f"
  done
  mkdirs "$(dirname "$MANIFEST")"
  local tmp
  tmp=$(mktemp)
  printf '%s\n' "${entries[@]}" >"$tmp"
  install -m 0644 "$tmp" "$DESTDIR$MANIFEST"
  rm -f "$tmp"
  echo "install: $(grep -c '^f' "$DESTDIR$MANIFEST") files below ${DESTDIR:-/}; list in $DESTDIR$MANIFEST"
}

do_uninstall() {
  if [ ! -f "$DESTDIR$MANIFEST" ]; then
    echo "uninstall: no $DESTDIR$MANIFEST; nothing was installed with these settings" >&2
    exit 1
  fi
  local type sum path dirs=() n=0
  while IFS=$'\t' read -r type sum path; do
    case $type in
      f)
        [ -e "$DESTDIR$path" ] || [ -L "$DESTDIR$path" ] || continue
        if is_conf "$path" && [ "$(sha256sum <"$DESTDIR$path" | cut -d' ' -f1)" != "$sum" ]; then
          echo "uninstall: kept $DESTDIR$path (changed since it was installed)"
          continue
        fi
        rm -f "$DESTDIR$path"
        n=$((n + 1))
        ;;
      d) dirs=("$path" "${dirs[@]}") ;;
    esac
  done <"$DESTDIR$MANIFEST"
  rm -f "$DESTDIR$MANIFEST"
  # Deepest first; a directory that still holds something not ours stays.
  while IFS= read -r path; do
    [ -n "$path" ] && rmdir "$DESTDIR$path" 2>/dev/null || true
  done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
  echo "uninstall: removed $n files below ${DESTDIR:-/}"
}

case ${1:-} in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *)
    echo "usage: scripts/install.sh install|uninstall (settings: PREFIX SYSCONFDIR FIP_ROOT DESTDIR ...)" >&2
    exit 2
    ;;
esac
