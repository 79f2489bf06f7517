#!/usr/bin/env bash
# Demo of both daemons against local peers, each in its own temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/demo-lonc.sh"
echo
bash "$here/demo-ipsynd.sh"
