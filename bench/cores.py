#!/usr/bin/env python3
"""slacheck on one generator core and on two, against the same loopback nginx (pinned to CPU 0), with how much
CPU nginx took in each run: on a 2-CPU machine the second generator core is nginx's core, so the figure says
what a second core buys when the target shares it. Medians of REPEATS (3) runs.
  bash bench/cores.sh"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid):
    """CPU seconds a process (nginx's master and workers: its children) used so far."""
    total = 0.0
    for p in [pid] + [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]:
        fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def run(path, cpus, server):
    before, began = process_cpu(server.pid), time.monotonic()
    argv = ["taskset", "-c", cpus, peers.SLACHECK, "run", path, "--json", "--format", "json"]
    argv += ["--out", tempfile.mkdtemp()]
    start = os.times()
    out = subprocess.run(argv, capture_output=True, text=True)
    end = os.times()
    wall = time.monotonic() - began
    s = json.loads(out.stdout)
    c = s["counts"]
    sent = c["total"] - c["not_sent"]
    cpu = (end.children_user - start.children_user) + (end.children_system - start.children_system)
    return {
        "rps": sent / s["duration_s"],
        "cores_used": cpu / wall,
        "nginx_cores": (process_cpu(server.pid) - before) / wall,
        "lag_p99": s["lag_ms"]["p99"],
        "not_sent": c["not_sent"],
    }


def main():
    work = tempfile.mkdtemp()
    server, port = peers.start_nginx(work)
    url = f"http://127.0.0.1:{port}/"
    try:
        closed = peers.scenario(
            work, "closed", url,
            f'profile = "constant"\nrate = "{peers.CLOSED_REQUESTS}/s"\nduration = "1s"\n'
            f'connections = {peers.CONNECTIONS}\nmax_in_flight = {peers.CONNECTIONS}\nlag_limit = "1h"',
        )
        print("| generator CPUs | max req/s, closed loop | slacheck's cores used | nginx's cores used |")
        print("|---|---:|---:|---:|")
        for cpus in ("1", "0,1"):
            runs = [run(closed, cpus, server) for _ in range(peers.REPEATS)]
            med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
            print(f"| {cpus} | {med('rps'):,.0f} | {med('cores_used'):.2f} | {med('nginx_cores'):.2f} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
