#!/usr/bin/env bash
# Where a request's CPU goes, by component, on both HTTP paths: closed loop with 64 connections against a loopback
# nginx (CPU 0), slacheck on CPU 1 under `perf record -e cpu-clock`. Prints microseconds per request per component
# (bench/profile_components.py); the perf data stays in target/bench-profile/.
#   bash bench/profile.sh            (REQUESTS, default 500000; BEFORE=binary adds its lean path as a column; PATHS)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 2; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
cargo build --profile profiling -q -p slacheck
exec python3 bench/profile_paths.py
