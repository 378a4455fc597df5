#!/usr/bin/env bash
# Instructions (callgrind), allocations and system calls (strace) per request, closed loop against a loopback
# nginx: figures a busy machine does not change, to compare builds. Settings: see bench/instructions.py.
#   bash bench/instructions.sh [BINARY ...]       (default: target/profiling/slacheck, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind strace; do command -v $tool >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }; done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
[ $# -gt 0 ] || cargo build --profile profiling -q -p slacheck
exec python3 bench/instructions.py "$@"
