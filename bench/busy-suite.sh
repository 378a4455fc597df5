#!/usr/bin/env bash
# The test suite on a busy machine: `cargo test --workspace` three times in a row while `stress-ng --cpu 2`
# keeps both cores busy beside it (as a laptop with a build running, or a shared CI runner). Every run must pass.
# Needs stress-ng (Debian package `stress-ng`). Prints each run's failures, if any, and its exit code.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v stress-ng >/dev/null || { echo "stress-ng is not installed (apt-get install stress-ng)"; exit 2; }
cargo test --workspace --no-run >/dev/null 2>&1
stress-ng --cpu 2 --timeout 3600s >/dev/null 2>&1 &
stress=$!
trap 'kill $stress 2>/dev/null' EXIT
failed=0
for i in 1 2 3; do
  echo "== run $i $(date +%T)"
  cargo test --workspace 2>&1 | grep -E "FAILED|panicked|^---- " 
  code=${PIPESTATUS[0]}
  echo "== run $i exit $code $(date +%T)"
  [ "$code" -eq 0 ] || failed=1
done
exit $failed
