#!/usr/bin/env python3
"""Runs bench/profile.sh's profiles (the lean path, then reqwest's; with BEFORE=binary, that binary's lean path
first, as a before column) and prints their components side by side. PATHS (lean,reqwest) chooses the paths;
SLACHECK another binary than target/profiling/slacheck (a release build has the symbols it needs)."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
import profile_components  # noqa: E402

BINARY = os.environ.get("SLACHECK", os.path.join(peers.ROOT, "target", "profiling", "slacheck"))
REQUESTS = int(os.environ.get("REQUESTS", "500000"))
BEFORE = os.environ.get("BEFORE")
PATHS = os.environ.get("PATHS", "lean,reqwest").split(",")
OUT = os.path.join(peers.ROOT, "target", "bench-profile")


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp()
    server, port = peers.start_nginx(work)
    try:
        load = (
            f'profile = "constant"\nrate = "{REQUESTS}/s"\nduration = "1s"\nconnections = {peers.CONNECTIONS}\n'
            f'max_in_flight = {peers.CONNECTIONS}\nlag_limit = "1h"'
        )
        path = peers.scenario(work, "profile", f"http://127.0.0.1:{port}/", load)
        runs = []
        columns = [("before: lean", BEFORE, "lean")] if BEFORE else []
        columns += [(which, BINARY, which) for which in PATHS]
        for which, binary, client in columns:
            data = os.path.join(OUT, f"{which.replace(': ', '-')}.data")
            env = dict(os.environ, SLACHECK_HTTP_CLIENT=client)
            argv = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(profile_components.FREQUENCY), "-o", data]
            argv += ["--", binary, "run", path, "--json", "--format", "json", "--out", tempfile.mkdtemp(dir=work)]
            out = subprocess.run(peers.pinned(peers.CLIENT_CPU, argv), env=env, capture_output=True, text=True)
            counts = json.loads(out.stdout)["counts"]
            runs.append((which, data, counts["total"] - counts["not_sent"]))
            print(f"{which}: {runs[-1][2]:,} requests", file=sys.stderr)
        profile_components.table(runs)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
