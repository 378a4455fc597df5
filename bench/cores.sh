#!/usr/bin/env bash
# slacheck on one generator core and on two against a loopback nginx, with nginx's own CPU (bench/cores.py).
#   bash bench/cores.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
cargo build --release -q -p slacheck
exec python3 bench/cores.py
