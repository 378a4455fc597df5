#!/usr/bin/env python3
"""slacheck's two HTTP client paths side by side, on a loopback nginx: the lean path (the default for http:// and
https://) and reqwest (SLACHECK_HTTP_CLIENT=reqwest). Runs alternate path by path, REPEATS times; figures are
medians with min-max, ratios lean / reqwest of the medians from this run only. nginx on CPU 0, slacheck on the
last CPU; CPU time is slacheck's own (wait4). Environment: REPEATS (5), SECONDS_PER_RUN (5), OPEN_RATES
(10000,20000), TLS (1: https with the test CA of tests/fixtures/tls, trusted through SSL_CERT_FILE), HTTP (2:
http = "2" against an HTTP/2-only nginx; the closed loop then runs 64 streams on one connection, as reqwest's one
connection per host does).
    bash bench/client-paths.sh"""

import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SECONDS_PER_RUN", "5")
import peers  # noqa: E402

REPEATS = int(os.environ.get("REPEATS", "5"))
RATES = [int(r) for r in os.environ.get("OPEN_RATES", "10000,20000").split(",")]
PATHS = ("lean", "reqwest")
TLS = os.environ.get("TLS") == "1"
HTTP2 = os.environ.get("HTTP") == "2"
CLOSED = "closed loop, 64 streams on 1 connection" if HTTP2 else "closed loop, 64 connections"


def run(work, path, which):
    if which == "reqwest":
        os.environ["SLACHECK_HTTP_CLIENT"] = "reqwest"
    else:
        os.environ.pop("SLACHECK_HTTP_CLIENT", None)
    return peers.slacheck(work, path)


def main():
    work = tempfile.mkdtemp(prefix="slacheck-paths-")
    server, port = peers.start_nginx(work, tls=TLS, http2=HTTP2)
    url = f"{'https' if TLS else 'http'}://127.0.0.1:{port}/v1/chat/completions"
    os.environ["SSL_CERT_FILE"] = os.path.join(peers.ROOT, "tests", "fixtures", "tls", "ca.pem")
    loads = {
        CLOSED: f'profile = "constant"\nrate = "{peers.CLOSED_REQUESTS}/s"\nduration = "1s"\n'
        f'connections = 64\nmax_in_flight = 64\nlag_limit = "1h"' + ("\nstreams_per_connection = 64" if HTTP2 else ""),
    }
    for rate in RATES:
        loads[f"open loop, {rate:,}/s"] = (
            f'profile = "constant"\nrate = "{rate}/s"\nduration = "{peers.SECONDS}s"\nmax_in_flight = 10000\n'
            f'lag_limit = "1h"'
        )
    results = {}
    try:
        for name, load in loads.items():
            name_ = name.split(",")[0].replace(" ", "-") + str(len(results))
            path = peers.scenario(work, name_, url, load, 'http = "2"' if HTTP2 else "")
            runs = {which: [] for which in PATHS}
            for _ in range(REPEATS):
                for which in PATHS:
                    runs[which].append(run(work, path, which))
            results[name] = runs
            print(f"{name}: done", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    over = " over HTTP/2" if HTTP2 else ""
    over += " over https" if TLS else ""
    print(f"slacheck's client paths{over}, nginx on CPU 0, slacheck on CPU {peers.CLIENT_CPU}, medians (min-max) of {REPEATS}:\n")
    print("| load | measure | lean | reqwest | lean / reqwest |")
    print("|---|---|---:|---:|---:|")
    for name, runs in results.items():
        for key, label in (("cpu_per_1k", "CPU-s per 1,000 requests"), ("rps", "requests/s sent")):
            a, b = med(runs["lean"], key), med(runs["reqwest"], key)
            fmt = (lambda v: f"{v:,.0f}") if key == "rps" else (lambda v: f"{v:.4f}")
            spread = lambda which: f"{fmt(min(r[key] for r in runs[which]))}–{fmt(max(r[key] for r in runs[which]))}"  # noqa: E731
            print(f"| {name} | {label} | {fmt(a)} ({spread('lean')}) | {fmt(b)} ({spread('reqwest')}) | {a / b:.2f} |")
        errors = lambda which: sum(r["errors"] for r in runs[which])  # noqa: E731
        print(f"| {name} | errors and timeouts, all runs | {errors('lean'):,} | {errors('reqwest'):,} | |")
        if not name.startswith("closed"):
            lag = lambda which, q: statistics.median(r["lag"][q] for r in runs[which])  # noqa: E731
            print(f"| {name} | lag p99 ms | {lag('lean', 'p99'):.2f} | {lag('reqwest', 'p99'):.2f} | |")
            unsent = lambda which: statistics.median(r["not_sent"] for r in runs[which])  # noqa: E731
            print(f"| {name} | not sent | {unsent('lean'):,.0f} | {unsent('reqwest'):,.0f} | |")


if __name__ == "__main__":
    main()
