#!/usr/bin/env bash
# Peak RSS of what a scenario's prompts ask for (bench/memory.py): prefixes, prompts in flight, a long word.
#   bash bench/memory.sh                          # this tree, release build
#   BEFORE=/path/to/older/slacheck bash bench/memory.sh   # and an older binary beside it
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
if [ -z "${SLACHECK:-}" ]; then
  cargo build --release -q -p slacheck
  export SLACHECK=target/release/slacheck
fi
exec python3 bench/memory.py
