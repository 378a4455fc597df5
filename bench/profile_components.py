#!/usr/bin/env python3
"""Buckets a `perf record -e cpu-clock` profile's self time by component: the kernel's network stack, its page
faults, its scheduling and the rest; tokio; hyper; reqwest and its layers; slacheck's own code (router, recorder,
engine); the histograms; the allocator and memory copies; the clock. Used by bench/profile.sh.
  python3 bench/profile_components.py NAME=perf.data:REQUESTS [...]
"""

import re
import subprocess
import sys

# (component, test on the "dso symbol" text), first match wins.
RULES = [
    ("kernel: page faults, zeroing", r"\[k\] .*(clear_page|page_fault|handle_mm|do_anonymous|alloc_pages|folio|lru|zap_|unmap|memcg|mmap|rmqueue)"),
    ("kernel: network stack", r"\[k\] .*(tcp|ip_|_ip|inet|sock|skb|net_|netif|loopback|napi|dev_|__dev|bbr|sk_|csum|nf_|ep_|epoll|process_backlog|copy_to_iter|copy_from_iter|_copy_)"),
    ("kernel: scheduling, wake-ups, futex", r"\[k\] .*(sched|wake|futex|spin|switch|enqueue|dequeue|update_|pick_|hrtimer|select_task|ttwu|irq|rcu|finish_task)"),
    ("kernel: other (syscall entry, vfs)", r"\[k\] "),
    ("clock (vdso)", r"\[vdso\]|clock_gettime|read_tsc"),
    ("allocator, memcpy", r"_mi_|\bmi_|mimalloc|malloc|free|memmove|memcpy|memset|realloc|alloc::"),
    ("histograms (hdrhistogram)", r"hdrhistogram"),
    ("slacheck: recorder, episodes, timeline", r"slacheck::(measure|run|hlog|requests|report)"),
    ("slacheck: router, attempt, body", r"slacheck::(router|sse|prompt)"),
    ("slacheck: engine (pacer, connections)", r"slacheck::engine"),
    ("reqwest, tower, hyper-util", r"reqwest|tower|hyper_util|url::"),
    ("hyper, httparse, http", r"hyper::|httparse|\bhttp::|h2::"),
    ("tokio (scheduler, I/O driver, channels)", r"tokio|mio::"),
    ("bytes", r"bytes::"),
    ("slacheck: other", r"slacheck::"),
]


# Samples per second of CPU time (`perf record -F`).
FREQUENCY = 2000


def buckets(path):
    """CPU seconds by component."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", "dso,sym", "--stdio", "-n"],
        capture_output=True, text=True, check=True,
    ).stdout
    totals = {}
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(.*)", line)
        if not m:
            continue
        samples, rest = int(m.group(1)), m.group(2)
        name = next((n for n, rule in RULES if re.search(rule, rest)), "other")
        totals[name] = totals.get(name, 0.0) + samples / FREQUENCY
    return totals


def table(runs):
    """runs: (name, perf data, requests). Prints µs of CPU per request by component, and each one's share."""
    tables = [(name, buckets(data), requests) for name, data, requests in runs]
    names = [n for n, _ in RULES] + ["other"]
    print("| component | " + " | ".join(f"{name}: µs/request (share)" for name, _, _ in tables) + " |")
    print("|---|" + "---:|" * len(tables))
    for n in names + ["total"]:
        cells = []
        for _, t, requests in tables:
            total = sum(t.values())
            s = total if n == "total" else t.get(n, 0.0)
            cells.append(f"{s / requests * 1e6:.2f} ({s / total * 100:.0f}%)")
        if n == "total" or any(t.get(n, 0.0) / sum(t.values()) >= 0.0005 for _, t, _ in tables):
            print(f"| {n} | " + " | ".join(cells) + " |")


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        data, requests = rest.rsplit(":", 1)
        runs.append((name, data, int(requests)))
    table(runs)


if __name__ == "__main__":
    main()
