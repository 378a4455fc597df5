#!/usr/bin/env bash
# How fast the mock upstream serves, and whether its memory stays flat.
#   bash bench/mock.sh [REQUESTS]      (default 1,000,000)
# Starts the standalone mock (one provider, no latency, trivial answers) pinned to CPU 0, drives it with
# slacheck in closed loop (64 connections, as fast as they go) pinned to CPU 1, and prints requests/s and the
# mock's RSS after 10% of the requests and after all of them. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-1000000}
cargo build --release -q -p slacheck
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cat > "$work/providers.toml" <<TOML
[[providers]]
name = "bench"
port = $port
latency = { dist = "fixed", value = "0ms" }
completion_tokens = 4
TOML
pin() { if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
pin 0 target/release/mock-upstream --config "$work/providers.toml" 2>"$work/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q "on http" "$work/mock.log" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$mock/status"; }
drive() { # $1 requests
  cat > "$work/drive.toml" <<TOML
name = "mock-bench"
[target]
url = "http://127.0.0.1:$port/v1/chat/completions"
body = '{"model": "m", "messages": [{"role": "user", "content": "ping"}]}'
[load]
profile = "constant"
rate = "$1/s"
duration = "1s"
connections = 64
max_in_flight = 64
lag_limit = "1h"
TOML
  pin 1 target/release/slacheck run "$work/drive.toml" --out "$work/out-$1" --json >"$work/summary-$1.json"
  python3 -c "
import json,sys
s=json.load(open('$work/summary-$1.json'))
c=s['counts']; print(f\"{c['total']} requests, ok {c['ok']}, in {s['duration_s']:.2f} s: {c['total']/s['duration_s']:.0f} req/s\")"
}
echo "warm-up + $((total / 10)) requests:"; drive $((total / 10)); rss_small=$(rss)
echo "$total requests:"; drive "$total"; rss_large=$(rss)
echo "mock RSS after $((total / 10)) requests: ${rss_small} kB; after a further $total: ${rss_large} kB"
python3 -c "print(f'RSS ratio (large/small): {$rss_large/$rss_small:.3f}')"
