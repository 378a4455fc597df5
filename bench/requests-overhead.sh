#!/usr/bin/env bash
# What requests.parquet costs in CPU per request: open loop at 20,000/s on a loopback nginx, with and without
# the file, alternating. Installs nginx from Debian's packages if missing. Settings: see bench/requests_overhead.py.
#   bash bench/requests-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] || ! command -v taskset >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $sudo apt-get install -y -q nginx-light util-linux || { $sudo apt-get update -q && $sudo apt-get install -y -q nginx-light util-linux; }
fi
cargo build --release -q -p slacheck
exec python3 bench/requests_overhead.py
