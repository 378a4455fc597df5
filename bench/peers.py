#!/usr/bin/env python3
"""slacheck against wrk and oha, side by side in one run, on a loopback nginx.

Run through `bash bench/peers.sh`, which installs the peers and builds slacheck. Every contender is pinned to the
same CPU (the last one) and nginx to another (CPU 0). Each figure is the median of REPEATS runs; ratios compare
figures measured in this run only. CPU time is the contender's own (user + system, from wait4), so a server on
another core does not count. Loopback only.

Environment: REPEATS (3), SECONDS_PER_RUN (10), RSS_REQUESTS (10,000,000: RSS is read after a tenth of it and after
all of it), OPEN_RATES (20000,30000,40000,50000), COMPARED_RATES (10000,20000: open-loop CPU against oha), OHA,
WRK, NGINX (paths).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLACHECK = os.path.join(ROOT, "target", "release", "slacheck")
REPEATS = int(os.environ.get("REPEATS", "3"))
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "10"))
RSS_REQUESTS = int(os.environ.get("RSS_REQUESTS", "10000000"))
OPEN_RATES = [int(r) for r in os.environ.get("OPEN_RATES", "20000,30000,40000,50000").split(",")]
FIXED_RATE = 20000
# Open-loop rates at which slacheck's CPU per request is compared with oha's (FIXED_RATE among them).
COMPARED_RATES = [int(r) for r in os.environ.get("COMPARED_RATES", "10000,20000").split(",")]
if FIXED_RATE not in COMPARED_RATES:
    COMPARED_RATES.append(FIXED_RATE)
# A closed-loop slacheck run sends a fixed number of requests as fast as it can, not for a fixed time.
CLOSED_REQUESTS = int(os.environ.get("CLOSED_REQUESTS", str(40000 * SECONDS)))
CONNECTIONS = 64
OHA = os.environ.get("OHA", shutil.which("oha") or os.path.join(ROOT, "bench", ".tools", "bin", "oha"))
WRK = os.environ.get("WRK", shutil.which("wrk") or "wrk")
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
CPUS = os.cpu_count() or 1
CLIENT_CPU = str(CPUS - 1)
SERVER_CPU = "0"


def pinned(cpu, argv):
    return (["taskset", "-c", cpu] + argv) if CPUS >= 2 and shutil.which("taskset") else argv


def with_usage(argv, timeout):
    """Runs a contender; returns (stdout, its CPU seconds, its peak RSS in kB), read from wait4 for that process."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(pinned(CLIENT_CPU, argv), stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"timed out after {timeout}s: {' '.join(argv)}")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"exit {proc.returncode}: {' '.join(argv)}\n{err.read()}")
        return out.read(), usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(work, tls=False, http2=False):
    """nginx on CPU 0 answering `ok`; with tls, https with the test certificate of tests/fixtures/tls; with http2,
    HTTP/2 only (h2c with prior knowledge, or ALPN h2 over TLS)."""
    port = free_port()
    fixtures = os.path.join(ROOT, "tests", "fixtures", "tls")
    h2 = " http2" if http2 else ""
    listen = (
        f"listen 127.0.0.1:{port} ssl{h2}; ssl_certificate {fixtures}/cert.pem; ssl_certificate_key {fixtures}/key.pem;"
        if tls
        else f"listen 127.0.0.1:{port}{h2};"
    )
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
  uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  server {{ {listen} location / {{ return 200 'ok'; }} }}
}}
"""
        )
    proc = subprocess.Popen(pinned(SERVER_CPU, [NGINX, "-c", conf, "-p", work]), stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not start")


def scenario(work, name, url, load, target=""):
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(
            f"""name = "{name}"
[target]
url = "{url}"
{target}
body = '{{"model": "m", "messages": [{{"role": "user", "content": "ping"}}]}}'
[load]
{load}
"""
        )
    return path


def slacheck(work, path, extra=()):
    out_dir = tempfile.mkdtemp(dir=work)
    argv = [SLACHECK, "run", path, "--json", "--format", "json", "--out", out_dir, *extra]
    out, cpu, rss = with_usage(argv, timeout=SECONDS * 20 + 120)
    shutil.rmtree(out_dir, ignore_errors=True)
    s = json.loads(out)
    c = s["counts"]
    sent = c["total"] - c["not_sent"]
    return {
        "rps": sent / s["duration_s"],
        "cpu_per_1k": cpu / max(sent, 1) * 1000,
        "not_sent": c["not_sent"],
        "errors": c["error"] + c["timeout"],
        "lag": s["lag_ms"],
        "rss_kb": rss,
        "requests": sent,
    }


def wrk(url):
    out, cpu, _ = with_usage([WRK, "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", url], timeout=SECONDS + 60)
    requests = int(next(l for l in out.splitlines() if "requests in" in l).split()[0])
    rps = float(next(l for l in out.splitlines() if l.startswith("Requests/sec")).split()[1])
    return {"rps": rps, "cpu_per_1k": cpu / requests * 1000}


def oha(url, rate=None):
    argv = [OHA, "--no-tui", "--output-format", "json", "-z", f"{SECONDS}s", "-c", str(CONNECTIONS), "-m", "POST"]
    argv += ["-d", '{"model": "m", "messages": [{"role": "user", "content": "ping"}]}']
    if rate:
        argv += ["-q", str(rate), "--latency-correction"]
    out, cpu, _ = with_usage(argv + [url], timeout=SECONDS + 60)
    s = json.loads(out)
    total = sum(s["statusCodeDistribution"].values())
    return {"rps": total / s["summary"]["total"], "cpu_per_1k": cpu / max(total, 1) * 1000}


# The machine's own timer, as a floor for the lag at 833/s: a loop on the same CPU that sleeps until each of the
# same instants and records how late it woke, with no HTTP and no runtime. Prints {"p99": ms, "p99.9": ms}.
TIMER_LOOP = """
import json, sys, time
interval, n = 1 / 833, int(833 * float(sys.argv[1]))
late, due = [], time.perf_counter()
for _ in range(n):
    due += interval
    wait = due - time.perf_counter()
    if wait > 0:
        time.sleep(wait)
    late.append((time.perf_counter() - due) * 1000)
late.sort()
print(json.dumps({"p99": late[int(n * 0.99)], "p99.9": late[int(n * 0.999)]}))
"""
# Runs at 833/s: the lag p99.9 target holds in every one of them, or it does not hold.
RPM_REPEATS = int(os.environ.get("RPM_REPEATS", "5"))


def timer_floor():
    out = subprocess.run(pinned(CLIENT_CPU, [sys.executable, "-c", TIMER_LOOP, str(SECONDS)]), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def repeat(fn):
    return [fn() for _ in range(REPEATS)]


def version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def main():
    for tool in (SLACHECK, OHA, WRK, NGINX):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            raise SystemExit(f"missing: {tool} (bash bench/peers.sh installs it)")
    work = tempfile.mkdtemp(prefix="slacheck-bench-")
    server, port = start_nginx(work)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    rows, notes = [], []
    try:
        closed = scenario(
            work,
            "closed",
            url,
            # Far more than it can send, so the connections never wait: it runs as fast as wrk and oha do.
            f'profile = "constant"\nrate = "{CLOSED_REQUESTS}/s"\nduration = "1s"\n'
            f'connections = {CONNECTIONS}\nmax_in_flight = {CONNECTIONS}\nlag_limit = "1h"',
        )
        print(f"closed loop, {CONNECTIONS} connections, {SECONDS} s, x{REPEATS} ...", file=sys.stderr)
        s_closed = repeat(lambda: slacheck(work, closed))
        w_closed = repeat(lambda: wrk(url))
        o_closed = repeat(lambda: oha(url))
        rows.append(("max req/s, closed loop (64 conns)", s_closed, w_closed, o_closed, "rps", "higher"))
        rows.append(("CPU-s per 1,000 req, closed loop", s_closed, w_closed, o_closed, "cpu_per_1k", "lower"))

        def open_loop(rate):
            path = scenario(
                work,
                f"open-{rate}",
                url,
                f'profile = "constant"\nrate = "{rate}/s"\nduration = "{SECONDS}s"\nmax_in_flight = 10000\n'
                f'lag_limit = "1h"',
            )
            return slacheck(work, path)

        for rate in COMPARED_RATES:
            print(f"open loop at {rate}/s, against oha ...", file=sys.stderr)
            s_runs = repeat(lambda: open_loop(rate))
            o_runs = repeat(lambda: oha(url, rate))
            rows.append((f"CPU-s per 1,000 req, open loop {rate}/s", s_runs, None, o_runs, "cpu_per_1k", "lower"))
            rows.append((f"achieved req/s, open loop {rate}/s", s_runs, None, o_runs, "rps", "higher"))
            if rate == FIXED_RATE:
                s_fixed = s_runs

        ladder = []
        for rate in OPEN_RATES:
            if rate != FIXED_RATE:
                print(f"open loop at {rate}/s ...", file=sys.stderr)
            runs = s_fixed if rate == FIXED_RATE else repeat(lambda: open_loop(rate))
            ladder.append((rate, runs))
        print(f"lag at 833/s (50,000 RPM), x{RPM_REPEATS}, and the machine's own timer ...", file=sys.stderr)
        s_rpm, timer = [], []
        for _ in range(RPM_REPEATS):
            s_rpm.append(open_loop(833))
            timer.append(timer_floor())

        print(f"memory: {RSS_REQUESTS // 10:,} then {RSS_REQUESTS:,} requests ...", file=sys.stderr)

        def rss_run(n):
            path = scenario(
                work,
                f"rss-{n}",
                url,
                # n requests over 10 s of schedule (a peak above 1,000,000/s is refused); closed loop sends them as
                # fast as the connections go.
                f'profile = "constant"\nrate = "{max(n // 10, 1)}/s"\nduration = "10s"\nconnections = {CONNECTIONS}\n'
                f'max_in_flight = {CONNECTIONS}\nlag_limit = "1h"',
            )
            return slacheck(work, path)

        small, large = rss_run(RSS_REQUESTS // 10), rss_run(RSS_REQUESTS)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"# slacheck vs wrk and oha ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')})",
        "",
        f"`bash bench/peers.sh` on {CPUS} CPUs ({os.uname().release}); nginx on CPU {SERVER_CPU}, every contender on "
        f"CPU {CLIENT_CPU}; medians of {REPEATS} runs of {SECONDS} s.",
        f"{version([WRK, '--version'])}; {version([OHA, '--version'])}; {version([NGINX, '-v'])}.",
        "",
        "| measure | slacheck | wrk | oha | slacheck / wrk | slacheck / oha |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def fmt(v, key):
        return "n/a" if v is None else (f"{v:,.0f}" if key == "rps" else f"{v:.4f}")

    for name, s, w, o, key, _better in rows:
        sv, wv, ov = median(s, key), w and median(w, key), o and median(o, key)
        rw = f"{sv / wv:.2f}" if wv else "n/a"
        ro = f"{sv / ov:.2f}" if ov else "n/a"
        lines.append(f"| {name} | {fmt(sv, key)} | {fmt(wv, key)} | {fmt(ov, key)} | {rw} | {ro} |")
    lines += [
        "",
        "wrk has no open-loop mode (wrk2 is not packaged), so its closed-loop CPU per request is its best case.",
        "",
        "## slacheck open loop: what it sustains",
        "",
        "| offered req/s | achieved req/s | not sent | lag p50 ms | lag p99 ms | lag p99.9 ms | CPU-s per 1,000 |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, runs in [(833, s_rpm)] + ladder:
        lag = lambda q: statistics.median(r["lag"][q] for r in runs)  # noqa: E731
        lines.append(
            f"| {rate:,} | {median(runs, 'rps'):,.0f} | {median(runs, 'not_sent'):,.0f} | {lag('p50'):.3f} | "
            f"{lag('p99'):.3f} | {lag('p99.9'):.3f} | {median(runs, 'cpu_per_1k'):.4f} |"
        )
    sustained = [r for r, runs in ladder if median(runs, "not_sent") == 0 and median([x["lag"] for x in runs], "p99") < 5]
    lines += [
        "",
        f"Highest offered rate sustained (nothing unsent, lag p99 < 5 ms): "
        f"{max(sustained):,}/s" if sustained else "Highest offered rate sustained: none of the rates tried",
        "",
        f"Lag p99.9 at 833/s in each of {RPM_REPEATS} runs: "
        + ", ".join(f"{r['lag']['p99.9']:.3f}" for r in s_rpm)
        + " ms. The machine's own timer at the same instants on the same CPU (a sleep loop with no HTTP, "
        "TIMER_LOOP in bench/peers.py), p99.9 in each run: "
        + ", ".join(f"{t['p99.9']:.3f}" for t in timer)
        + " ms: the machine's own jitter, for scale (the loop's Python overhead included).",
        "",
        "## Memory",
        "",
        f"Peak RSS after {small['requests']:,} requests: {small['rss_kb']:,} kB; after {large['requests']:,}: "
        f"{large['rss_kb']:,} kB (ratio {large['rss_kb'] / small['rss_kb']:.3f}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    path = os.path.join(ROOT, "bench", "results.md")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
