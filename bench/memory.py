#!/usr/bin/env python3
"""Peak memory of what a scenario's prompts ask for: shared prefixes, prompts in flight against a silent target,
and a dataset line that is one long word. Each case runs under `/usr/bin/time -v` (its maximum resident set
size), with slacheck as built (SLACHECK) and, when BEFORE names another binary, with that one too.

    bash bench/memory.sh                       # this tree's release build
    SLACHECK=target/debug/slacheck BEFORE=/tmp/old-slacheck python3 bench/memory.py

Settings (environment): PREFIXES (16) prefixes of 1,048,576 tokens with 20 requests/s in flight for 2 s;
IN_FLIGHT (100) for the 1,048,576-token prompts; WORD_MB (8) for the dataset's word. The cases are sized to
stay within a few GB on a shared machine; the issue's own (4096 prefixes, 30 MB words) scale from them.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

SLACHECK = os.environ.get("SLACHECK", "target/release/slacheck")
BEFORE = os.environ.get("BEFORE")
PREFIXES = int(os.environ.get("PREFIXES", "16"))
IN_FLIGHT = int(os.environ.get("IN_FLIGHT", "100"))
WORD_MB = int(os.environ.get("WORD_MB", "8"))


def silent_target():
    """A loopback server that reads whatever comes and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)

    def drain(conn):
        with conn:
            while conn.recv(1 << 16):
                pass

    def accept():
        while True:
            conn, _ = server.accept()
            threading.Thread(target=drain, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/v1/chat/completions"


def scenario(work, name, url, class_keys, load_keys):
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(
            f'name = "{name}"\n[target]\ntimeout = "10s"\n'
            f'[[tiers]]\nname = "t"\nurl = "{url}"\nmodel = "m"\n'
            f'[[classes]]\nname = "c"\nweight = 1\ntier = "t"\n{class_keys}\n'
            f'[load]\nprofile = "constant"\nrate = "20/s"\nduration = "2s"\n{load_keys}\n'
        )
    return path


def measured(binary, args, work):
    """(exit code, peak RSS in MB, wall seconds, the first line of stderr) of one run."""
    out = tempfile.mkdtemp(dir=work)
    argv = ["/usr/bin/time", "-v", binary] + args
    if args[0] == "run":
        argv += ["--quiet", "--format", "json", "--out", out]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    shutil.rmtree(out, ignore_errors=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    said = next((line for line in p.stderr.splitlines() if line.startswith(("error", "warning"))), "")
    code = re.search(r"Exit status: (\d+)", p.stderr)
    return (int(code.group(1)) if code else p.returncode), rss, seconds, said


def main():
    work = tempfile.mkdtemp(prefix="slacheck-memory-")
    url = silent_target()
    word = os.path.join(work, "word.jsonl")
    with open(word, "w") as f:
        f.write('{"prompt": "' + "abcdefghijklmnopqrstuvwxyz" * (WORD_MB * 1_000_000 // 26) + '"}\n')
    cases = [
        (f"{PREFIXES} prefixes of 1,048,576 tokens, 40 requests in flight",
         ["run", scenario(work, "prefixes", url, f"prefix_tokens = 1048576\nprefixes = {PREFIXES}", "")]),
        ("4096 prefixes of 1,048,576 tokens (the issue's case; only a binary that checks is run)",
         ["validate", scenario(work, "prefixes4096", url, "prefix_tokens = 1048576\nprefixes = 4096", "")]),
        (f"1,048,576-token prompts, 40 in flight (max_in_flight = {IN_FLIGHT})",
         ["run", scenario(work, "inflight", url, "input_tokens = 1048576", f"max_in_flight = {IN_FLIGHT}")]),
        ("1,048,576-token prompts at the default max_in_flight (10000)",
         ["run", scenario(work, "inflight-default", url, "input_tokens = 1048576", "")]),
        (f"a dataset line of one {WORD_MB} MB word (validate: read and count)",
         ["validate", scenario(work, "word", url, f'prompts_file = "{word}"', "")]),
    ]
    binaries = [("after", SLACHECK)] + ([("before", BEFORE)] if BEFORE else [])
    print("| case | binary | exit | peak RSS MB | wall s | says |")
    print("|---|---|---:|---:|---:|---|")
    try:
        for what, args in cases:
            for name, binary in binaries:
                if name == "before" and "4096" in what:
                    print(f"| {what} | {name} | not run | | | builds 4096 × 6 MB: needs more than this machine has |")
                    continue
                code, rss, wall, said = measured(binary, args, work)
                print(f"| {what} | {name} | {code} | {rss:.0f} | {wall:.1f} | {said[:110]} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
