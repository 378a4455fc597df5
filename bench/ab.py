#!/usr/bin/env python3
"""Two slacheck builds side by side in open loop against peers.py's loopback nginx (nginx on CPU 0, slacheck on
the last CPU), interleaved A, B, B, A, ... so that the machine's drift and pauses hit both alike. Prints, per
rate and build, each run's CPU per request, dispatch lag p99 and p99.9, and requests not sent.

    python3 bench/ab.py BINARY_A BINARY_B      (RATES=20000,50000 RUNS=6 SECONDS_PER_RUN=8)
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SECONDS_PER_RUN", "8")
import peers  # noqa: E402
a, b = sys.argv[1], sys.argv[2]
rates = [int(r) for r in os.environ.get("RATES", "20000,50000").split(",")]
runs = int(os.environ.get("RUNS", "6"))
work = tempfile.mkdtemp(prefix="ab-")
server, port = peers.start_nginx(work)
url = f"http://127.0.0.1:{port}/v1/chat/completions"
try:
    for rate in rates:
        path = peers.open_scenario(work, url, rate)
        res = {a: [], b: []}
        for i in range(runs):
            for binary in (a, b) if i % 2 == 0 else (b, a):
                peers.SLACHECK = binary
                r = peers.slacheck(work, path)
                res[binary].append(r)
        for binary in (a, b):
            rs = res[binary]
            print(f"{rate}/s {binary}: cpu us/req " + " ".join(f"{r['cpu_per_1k']*1000:.2f}" for r in rs)
                  + " | lag p99 " + " ".join(f"{r['lag']['p99']:.2f}" for r in rs)
                  + " | p99.9 " + " ".join(f"{r['lag']['p99.9']:.2f}" for r in rs)
                  + " | unsent " + " ".join(str(r['not_sent']) for r in rs))
finally:
    server.terminate(); server.wait(); shutil.rmtree(work, ignore_errors=True)
