#!/usr/bin/env python3
"""Instructions and system calls per request, figures that do not depend on what else the machine is doing: a
before/after measure of a change on a busy machine (wall-clock CPU per request needs a quiet one, bench/peers.sh).

slacheck runs closed loop (64 connections) against a loopback nginx, once with N1 and once with N2 requests,
under `valgrind --tool=callgrind` (user-space instructions, by component, and the allocator's calls) and under
`strace -c -f` (system calls); each figure is the difference between the two runs divided by N2 - N1, so the
start-up and the end cancel out. valgrind runs the threads one at a time, so the batching it sees is not a fast
run's: compare builds with this script, and read the wall-clock figures from bench/peers.sh.

    bash bench/instructions.sh [BINARY ...]     (N1 4000, N2 12000; OPEN_RATE: open loop at that rate instead)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

N1 = int(os.environ.get("N1", "4000"))
N2 = int(os.environ.get("N2", "12000"))
OPEN_RATE = os.environ.get("OPEN_RATE")
# Allocator entry points (mimalloc's public calls): calls into them are allocations and frees.
ALLOCS = re.compile(r"^(mi_malloc|mi_zalloc|mi_malloc_aligned|mi_zalloc_aligned|mi_realloc|mi_realloc_aligned)$")
FREES = re.compile(r"^mi_free$")


def load(work, url, n):
    if OPEN_RATE:
        rate = int(OPEN_RATE)
        return (f'profile = "constant"\nrate = "{rate}/s"\nduration = "{n / rate:.3f}s"\nmax_in_flight = 10000\n'
                f'lag_limit = "1h"')
    return (f'profile = "constant"\nrate = "{n}/s"\nduration = "1s"\nconnections = {peers.CONNECTIONS}\n'
            f'max_in_flight = {peers.CONNECTIONS}\nlag_limit = "1h"')


def callgrind(work, binary, path):
    """(total instructions, {function: self instructions}, allocator calls, frees) of one run."""
    out = os.path.join(work, "callgrind.out")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--", binary, "run", path, "--json",
            "--format", "json", "--out", tempfile.mkdtemp(dir=work)]
    subprocess.run(argv, capture_output=True, check=True)
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no", out], capture_output=True,
                          text=True, check=True).stdout
    by_fn, total = {}, 0
    for line in text.splitlines():
        if line.startswith("-- Auto-annotated"):
            break
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(?:\*\s+)?(.*)", line)
        if m and "PROGRAM TOTALS" in line:
            total = int(m.group(1).replace(",", ""))
        elif m:
            by_fn[m.group(2).strip()] = int(m.group(1).replace(",", ""))
    allocs, frees = calls(out)
    return total, by_fn, allocs, frees


def calls(path):
    """Calls into the allocator's entry points, read from callgrind's own file (cfn= then calls=)."""
    names, allocs, frees, target = {}, 0, 0, None
    for line in open(path, errors="replace"):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            target = names.get(m.group(1), "") if line.startswith("cfn=") else None
        elif line.startswith("calls=") and target is not None:
            n = int(line.split("=")[1].split()[0])
            allocs += n if ALLOCS.match(target) else 0
            frees += n if FREES.match(target) else 0
            target = None
    return allocs, frees


def syscalls(work, binary, path):
    """{system call: calls} of one run, every thread."""
    out = os.path.join(work, "strace.out")
    argv = ["strace", "-f", "-c", "-o", out, binary, "run", path, "--json", "--format", "json", "--out",
            tempfile.mkdtemp(dir=work)]
    subprocess.run(argv, capture_output=True, check=True)
    counts = {}
    for line in open(out):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def bucket(name):
    for component, rule in peers_rules():
        if re.search(rule, name):
            return component
    return "other"


def peers_rules():
    import profile_components
    return [(n, r) for n, r in profile_components.RULES if not n.startswith("kernel")]


def measure(work, url, binary):
    runs = []
    for n in (N1, N2):
        path = peers.scenario(work, f"instructions-{n}", url, load(work, url, n))
        runs.append((callgrind(work, binary, path), syscalls(work, binary, path)))
    ((t1, f1, a1, d1), s1), ((t2, f2, a2, d2), s2) = runs
    per = N2 - N1
    components = {}
    for name in set(f1) | set(f2):
        c = bucket(name)
        components[c] = components.get(c, 0) + (f2.get(name, 0) - f1.get(name, 0)) / per
    sys_calls = {k: (s2.get(k, 0) - s1.get(k, 0)) / per for k in set(s1) | set(s2)}
    return {"instructions": (t2 - t1) / per, "components": components, "allocs": (a2 - a1) / per,
            "frees": (d2 - d1) / per, "syscalls": sys_calls}


def main():
    binaries = sys.argv[1:] or [os.path.join(peers.ROOT, "target", "profiling", "slacheck")]
    work = tempfile.mkdtemp(prefix="slacheck-instructions-")
    server, port = peers.start_nginx(work)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        results = [(b, measure(work, url, b)) for b in binaries]
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    mode = f"open loop at {OPEN_RATE}/s" if OPEN_RATE else f"closed loop, {peers.CONNECTIONS} connections"
    print(f"per request, {mode}, runs of {N1:,} and {N2:,} requests differenced:\n")
    print("| per request | " + " | ".join(os.path.relpath(b, peers.ROOT) for b, _ in results) + " |")
    print("|---|" + "---:|" * len(results))
    print("| instructions (user space) | " + " | ".join(f"{r['instructions']:,.0f}" for _, r in results) + " |")
    names = sorted({c for _, r in results for c in r["components"]}, key=lambda c: -results[0][1]["components"].get(c, 0))
    for c in names:
        print(f"| · {c} | " + " | ".join(f"{r['components'].get(c, 0):,.0f}" for _, r in results) + " |")
    print("| allocations (mimalloc calls) | " + " | ".join(f"{r['allocs']:.2f}" for _, r in results) + " |")
    print("| frees | " + " | ".join(f"{r['frees']:.2f}" for _, r in results) + " |")
    calls_total = [sum(r["syscalls"].values()) for _, r in results]
    print("| system calls | " + " | ".join(f"{t:.2f}" for t in calls_total) + " |")
    names = sorted({k for _, r in results for k, v in r["syscalls"].items() if abs(v) >= 0.01},
                   key=lambda k: -results[0][1]["syscalls"].get(k, 0))
    for k in names:
        print(f"| · {k} | " + " | ".join(f"{r['syscalls'].get(k, 0):.2f}" for _, r in results) + " |")


if __name__ == "__main__":
    main()
