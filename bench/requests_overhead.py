#!/usr/bin/env python3
"""What requests.parquet costs: CPU per request with and without it, open loop at 20,000 req/s on a loopback
nginx, the two runs alternating so they see the same machine. Uses peers.py's nginx, pinning and wait4 timing.

    bash bench/requests-overhead.sh         # settings: REPEATS (5), SECONDS_PER_RUN (10), RATE (20000)
"""
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

REPEATS = int(os.environ.get("REPEATS", "5"))
RATE = int(os.environ.get("RATE", "20000"))


def run(work, path, formats):
    out_dir = tempfile.mkdtemp(dir=work)
    argv = [peers.SLACHECK, "run", path, "--json", "--format", formats, "--out", out_dir]
    out, cpu, rss = peers.with_usage(argv, timeout=peers.SECONDS * 20 + 120)
    size = os.path.getsize(os.path.join(out_dir, "requests.parquet")) if "parquet" in formats else 0
    shutil.rmtree(out_dir, ignore_errors=True)
    s = peers.json.loads(out)
    sent = s["counts"]["total"] - s["counts"]["not_sent"]
    return {"cpu_per_1k": cpu / max(sent, 1) * 1000, "rss_mb": rss / 1024, "sent": sent, "bytes": size,
            "not_sent": s["counts"]["not_sent"], "lag_p99": s["lag_ms"]["p99"]}


def main():
    work = tempfile.mkdtemp(prefix="slacheck-overhead-")
    server, port = peers.start_nginx(work)
    try:
        path = peers.scenario(work, "overhead", f"http://127.0.0.1:{port}/",
                              f'profile = "constant"\nrate = "{RATE}/s"\nduration = "{peers.SECONDS}s"')
        without, with_file = [], []
        for i in range(REPEATS):
            without.append(run(work, path, "json"))
            with_file.append(run(work, path, "json,parquet"))
            print(f"round {i + 1}: without {without[-1]['cpu_per_1k']:.4f}, with {with_file[-1]['cpu_per_1k']:.4f} "
                  f"CPU-s per 1,000 requests", file=sys.stderr)
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)
    med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
    a, b = med(without, "cpu_per_1k"), med(with_file, "cpu_per_1k")
    print(f"open loop at {RATE}/s for {peers.SECONDS} s, {REPEATS} alternating rounds, medians "
          f"(slacheck on CPU {peers.CLIENT_CPU}, nginx on CPU {peers.SERVER_CPU}):")
    print("| | CPU-s per 1,000 requests | peak RSS MB | not sent | lag p99 ms | requests.parquet |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in (("--format json", without), ("--format json,parquet", with_file)):
        size = med(runs, "bytes") / 1e6
        print(f"| {name} | {med(runs, 'cpu_per_1k'):.4f} | {med(runs, 'rss_mb'):.0f} | {med(runs, 'not_sent'):.0f} "
              f"| {med(runs, 'lag_p99'):.2f} | {f'{size:.1f} MB' if size else '-'} |")
    ratios = sorted(w["cpu_per_1k"] / o["cpu_per_1k"] for o, w in zip(without, with_file))
    print(f"with / without: {b / a:.3f} (medians); per round: {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
