#!/usr/bin/env bash
# Benchmarks of both daemons, each printing ratios against a baseline measured in the same run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/bench-lonc.sh"
echo
bash "$here/bench-ipsynd.sh"
