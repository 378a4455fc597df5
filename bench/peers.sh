#!/usr/bin/env bash
# slacheck against wrk and oha on a loopback nginx, side by side in one run: one table, also written to
# bench/results.md. Installs what is missing: wrk and nginx from Debian's packages, oha with cargo (about five
# minutes to build, once, into bench/.tools). Settings are environment variables, listed in bench/peers.py.
#   bash bench/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $sudo apt-get install -y -q "${need_apt[@]}" || { $sudo apt-get update -q && $sudo apt-get install -y -q "${need_apt[@]}"; }
fi
if ! command -v oha >/dev/null && [ ! -x bench/.tools/bin/oha ]; then
  cargo install oha --version 1.16.0 --locked --root bench/.tools
fi
cargo build --release -q -p slacheck
exec python3 bench/peers.py
