#!/usr/bin/env bash
# slacheck's lean path against its reqwest path, side by side on a loopback nginx (bench/client_paths.py).
#   bash bench/client-paths.sh          # HTTP/1.1
#   HTTP=2 bash bench/client-paths.sh   # HTTP/2 (h2c; TLS=1 for h2 over TLS)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
cargo build --release -q -p slacheck
exec python3 bench/client_paths.py
