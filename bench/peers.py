#!/usr/bin/env python3
"""slacheck against wrk and oha, side by side in one run, on a loopback nginx.

Run through `bash bench/peers.sh`, which installs the peers and builds slacheck. Every contender is pinned to the
same CPU (the last one) and nginx to another (CPU 0). The contenders of one measure run interleaved (slacheck, wrk,
oha, slacheck, wrk, oha, ...), so that a drift of the machine hits them alike; each figure is the median of
REPEATS runs with their min-max, and each ratio is taken run by run (run i of slacheck over run i of oha), then
given as the median with its min-max. CPU time is the contender's own (user + system, from wait4), so a server on
another core does not count. Loopback only.

Environment: REPEATS (3), SECONDS_PER_RUN (10), RSS_REQUESTS (10,000,000: RSS is read after a tenth of it and after
all of it), OPEN_RATES (20000,30000,40000,50000), COMPARED_RATES (10000,20000: open-loop CPU against oha),
RPM_REPEATS (5), SLACHECK, OHA, WRK, NGINX (paths). The table goes between the markers of bench/results.md
(the whole file when it has none), so the sections written by hand below it stay.
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
SLACHECK = os.environ.get("SLACHECK", os.path.join(ROOT, "target", "release", "slacheck"))
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


def interleaved(*fns):
    """REPEATS runs of each contender, taken in turn (A, B, A, B, ...); one list of runs per contender."""
    runs = [[] for _ in fns]
    for _ in range(REPEATS):
        for fn, out in zip(fns, runs):
            out.append(fn())
    return runs


def spread(values, fmt):
    """`median (min-max)` of values, each written with fmt."""
    values = list(values)
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def ratios(a, b, key):
    """Run i of a over run i of b, for each i (the runs were interleaved, so run i of each met the same machine)."""
    return [x[key] / y[key] for x, y in zip(a, b) if y[key]]


def version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def closed_scenario(work, url):
    # Far more than it can send, so the connections never wait: it runs as fast as wrk and oha do.
    return scenario(
        work,
        "closed",
        url,
        f'profile = "constant"\nrate = "{CLOSED_REQUESTS}/s"\nduration = "1s"\n'
        f'connections = {CONNECTIONS}\nmax_in_flight = {CONNECTIONS}\nlag_limit = "1h"',
    )


def open_scenario(work, url, rate):
    return scenario(
        work,
        f"open-{rate}",
        url,
        f'profile = "constant"\nrate = "{rate}/s"\nduration = "{SECONDS}s"\nmax_in_flight = 10000\nlag_limit = "1h"',
    )


def rss_scenario(work, url, n):
    # n requests over 10 s of schedule (a peak above 1,000,000/s is refused); closed loop sends them as fast as the
    # connections go.
    return scenario(
        work,
        f"rss-{n}",
        url,
        f'profile = "constant"\nrate = "{max(n // 10, 1)}/s"\nduration = "10s"\nconnections = {CONNECTIONS}\n'
        f'max_in_flight = {CONNECTIONS}\nlag_limit = "1h"',
    )


def measure(work, url):
    """Every run of the benchmark: (rows of the comparison, open-loop ladder, runs at 833/s, timer floors, RSS runs)."""
    rows = []
    closed = closed_scenario(work, url)
    print(f"closed loop, {CONNECTIONS} connections, {SECONDS} s, x{REPEATS} interleaved ...", file=sys.stderr)
    s_closed, w_closed, o_closed = interleaved(lambda: slacheck(work, closed), lambda: wrk(url), lambda: oha(url))
    rows.append(("max req/s, closed loop (64 conns)", s_closed, w_closed, o_closed, "rps"))
    rows.append(("CPU-s per 1,000 req, closed loop", s_closed, w_closed, o_closed, "cpu_per_1k"))
    by_rate = {}
    for rate in COMPARED_RATES:
        print(f"open loop at {rate}/s against oha, x{REPEATS} interleaved ...", file=sys.stderr)
        path = open_scenario(work, url, rate)
        s_runs, o_runs = interleaved(lambda: slacheck(work, path), lambda: oha(url, rate))
        rows.append((f"CPU-s per 1,000 req, open loop {rate}/s", s_runs, None, o_runs, "cpu_per_1k"))
        rows.append((f"achieved req/s, open loop {rate}/s", s_runs, None, o_runs, "rps"))
        by_rate[rate] = s_runs
    ladder = []
    for rate in OPEN_RATES:
        if rate not in by_rate:
            print(f"open loop at {rate}/s, x{REPEATS} ...", file=sys.stderr)
            path = open_scenario(work, url, rate)
            by_rate[rate] = repeat(lambda: slacheck(work, path))
        ladder.append((rate, by_rate[rate]))
    print(f"lag at 833/s (50,000 RPM), x{RPM_REPEATS}, and the machine's own timer ...", file=sys.stderr)
    rpm, timer = [], []
    rpm_path = open_scenario(work, url, 833)
    for _ in range(RPM_REPEATS):
        rpm.append(slacheck(work, rpm_path))
        timer.append(timer_floor())
    print(f"memory: {RSS_REQUESTS // 10:,} then {RSS_REQUESTS:,} requests ...", file=sys.stderr)
    rss = [slacheck(work, rss_scenario(work, url, n)) for n in (RSS_REQUESTS // 10, RSS_REQUESTS)]
    return rows, ladder, (rpm, timer), rss


def sustained(run):
    """Whether one open-loop run sustained its rate: nothing unsent and lag p99 under 5 ms."""
    return run["not_sent"] == 0 and run["lag"]["p99"] < 5


def comparison(rows):
    """The table of slacheck against wrk and oha: medians with min-max, ratios run by run."""
    lines = [
        "| measure | slacheck | wrk | oha | slacheck / wrk | slacheck / oha |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s, w, o, key in rows:
        fmt = (lambda v: f"{v:,.0f}") if key == "rps" else (lambda v: f"{v:.4f}")
        cells = [spread((r[key] for r in runs), fmt) if runs else "n/a" for runs in (s, w, o)]
        cells += [spread(ratios(s, peer, key), lambda v: f"{v:.2f}") if peer else "n/a" for peer in (w, o)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def targets(rows, ladder):
    """Issue 31's targets, each met or not, with the figures that decide it (every run's, not only the median)."""
    by_name = {name: (s, w, o, key) for name, s, w, o, key in rows}
    out = []

    def ratio_target(label, name, peer, bound, higher=False):
        s, w, o, key = by_name[name]
        r = ratios(s, w if peer == "wrk" else o, key)
        ok = statistics.median(r) >= bound if higher else statistics.median(r) <= bound
        every = all(x >= bound for x in r) if higher else all(x <= bound for x in r)
        verdict = "met" if ok else "not met"
        out.append(
            f"| {label} | {'≥' if higher else '≤'} {bound:.1f}× {peer} | {spread(r, lambda v: f'{v:.2f}')} | "
            f"{verdict}{' in every run' if every and ok else ' in the median, not in every run' if ok else ''} |"
        )

    for rate in COMPARED_RATES:
        if rate in (10000, 20000):
            ratio_target(f"CPU per request, open loop {rate:,}/s", f"CPU-s per 1,000 req, open loop {rate}/s", "oha",
                         0.8)
    ratio_target("CPU per request, closed loop", "CPU-s per 1,000 req, closed loop", "oha", 1.0)
    ratio_target("max req/s, closed loop", "max req/s, closed loop (64 conns)", "oha", 1.0, higher=True)
    ratio_target("CPU per request, closed loop", "CPU-s per 1,000 req, closed loop", "wrk", 1.5)
    for rate, runs in ladder:
        if rate == 50000:
            held = sum(sustained(r) for r in runs)
            worst = max(r["lag"]["p99"] for r in runs)
            unsent = max(r["not_sent"] for r in runs)
            out.append(
                f"| 50,000/s open loop: nothing unsent, lag p99 < 5 ms | every run | {held} of {len(runs)} runs "
                f"(worst lag p99 {worst:.2f} ms, most unsent {unsent:,}) | {'met' if held == len(runs) else 'not met'} |"
            )
        if rate == 20000:
            tails = [r["lag"]["p99.9"] for r in runs]
            verdict = "met" if max(tails) < 5 else "not met in every run" if statistics.median(tails) < 5 else "not met"
            out.append(f"| lag p99.9 at 20,000/s | < 5 ms | {spread(tails, lambda v: f'{v:.2f}')} ms | {verdict} |")
    return ["| target | bound | slacheck, median (min–max) over runs | verdict |", "|---|---|---|---|"] + out


def ladder_table(ladder, rpm):
    lines = [
        "| offered req/s | achieved req/s | not sent | lag p50 ms | lag p99 ms | lag p99.9 ms | CPU-s per 1,000 |"
        " runs sustained |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, runs in [(833, rpm)] + ladder:
        lag = lambda q: spread((r["lag"][q] for r in runs), lambda v: f"{v:.3f}")  # noqa: E731
        lines.append(
            f"| {rate:,} | {spread((r['rps'] for r in runs), lambda v: f'{v:,.0f}')} | "
            f"{spread((r['not_sent'] for r in runs), lambda v: f'{v:,.0f}')} | {lag('p50')} | {lag('p99')} | "
            f"{lag('p99.9')} | {spread((r['cpu_per_1k'] for r in runs), lambda v: f'{v:.4f}')} | "
            f"{sum(sustained(r) for r in runs)} of {len(runs)} |"
        )
    return lines


BEGIN, END = "<!-- bench/peers.sh: begin -->", "<!-- bench/peers.sh: end -->"


def write_results(text):
    """Puts text between the markers of bench/results.md, or makes it the whole file when it has none."""
    path = os.path.join(ROOT, "bench", "results.md")
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN)] + BEGIN + "\n" + text + END + old[old.index(END) + len(END):]
    else:
        text = BEGIN + "\n" + text + END + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    for tool in (SLACHECK, OHA, WRK, NGINX):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            raise SystemExit(f"missing: {tool} (bash bench/peers.sh installs it)")
    work = tempfile.mkdtemp(prefix="slacheck-bench-")
    server, port = start_nginx(work)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        rows, ladder, (rpm, timer), (small, large) = measure(work, url)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    sustained_rates = [r for r, runs in ladder if all(sustained(x) for x in runs)]
    lines = [
        f"# slacheck vs wrk and oha ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')})",
        "",
        f"`bash bench/peers.sh` on {CPUS} CPUs ({os.uname().release}); nginx on CPU {SERVER_CPU}, every contender on "
        f"CPU {CLIENT_CPU}; {REPEATS} runs of {SECONDS} s of each contender, interleaved (slacheck, wrk, oha, "
        "slacheck, ...). Each cell is the median (min–max) over the runs; a ratio is taken run by run (run i over "
        "run i), then its median (min–max).",
        f"{version([WRK, '--version'])}; {version([OHA, '--version'])}; {version([NGINX, '-v'])}.",
        "",
        *comparison(rows),
        "",
        "wrk has no open-loop mode (wrk2 is not packaged), so its closed-loop CPU per request is its best case.",
        "",
        "## Issue 31's targets",
        "",
        *targets(rows, ladder),
        "",
        "## slacheck open loop: what it sustains",
        "",
        *ladder_table(ladder, rpm),
        "",
        "Highest offered rate sustained in every run (nothing unsent, lag p99 < 5 ms): "
        + (f"{max(sustained_rates):,}/s" if sustained_rates else "none of the rates tried"),
        "",
        f"Lag p99.9 at 833/s in each of {RPM_REPEATS} runs: "
        + ", ".join(f"{r['lag']['p99.9']:.3f}" for r in rpm)
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
    write_results(text)


if __name__ == "__main__":
    main()
