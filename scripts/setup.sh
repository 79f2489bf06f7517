#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine of this kind (Debian, root):
# the system ftp client and a real FTP server for ipsynd's FTP mode. Idempotent and quick when
# everything is already there.
set -euo pipefail

need_apt=()
command -v ftp >/dev/null 2>&1 || need_apt+=(ftp)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (needs root)" >&2
  fi
fi
if ! python3 -c 'import pyftpdlib' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check pyftpdlib
fi
