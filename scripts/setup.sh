#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine of this kind (Debian, root):
# the system ftp client (/usr/bin/ftp, ipsynd's default `useftp:` program) and a real FTP
# server for ipsynd's FTP mode (pyftpdlib from PyPI). Idempotent and quick when everything is
# already there. Verified on Debian 12 with Python 3.11: `ftp` (tnftp) + pyftpdlib 2.x.
set -euo pipefail

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: please install: $* (needs root and apt-get)" >&2
    return 1
  fi
}

need_apt=()
[ -x /usr/bin/ftp ] || need_apt+=(ftp)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v rsyslogd >/dev/null 2>&1 || need_apt+=(rsyslog)
command -v mandoc >/dev/null 2>&1 || need_apt+=(mandoc)
command -v logrotate >/dev/null 2>&1 || need_apt+=(logrotate)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# make bench runs ipsynd on a journaled ext4 image when TMPDIR's has no journal (bench.sh).
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
# make bench pins its processes to CPUs (scripts/bench-lonc.sh).
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt_install "${need_apt[@]}"
fi

if ! python3 -c 'import pyftpdlib' >/dev/null 2>&1; then
  # PyPI first; a Debian-managed Python refuses plain pip (PEP 668), so fall back to
  # --break-system-packages, then to Debian's own package.
  python3 -m pip install --quiet --disable-pip-version-check pyftpdlib 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyftpdlib 2>/dev/null ||
    apt_install python3-pyftpdlib
fi

python3 -c 'import pyftpdlib' || { echo "setup: pyftpdlib is still missing" >&2; exit 1; }
[ -x /usr/bin/ftp ] || { echo "setup: /usr/bin/ftp is still missing" >&2; exit 1; }
