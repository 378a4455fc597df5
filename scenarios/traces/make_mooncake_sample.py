#!/usr/bin/env python3
"""Writes mooncake-sample.jsonl: a small trace in Mooncake's format (timestamp ms, input_length, output_length,
hash_ids), synthetic and seeded, so that anyone can make it again: 20 s of multi-turn conversations at about
10 requests per second. Each conversation keeps its blocks of 512 tokens from turn to turn (a prompt cache's
case), and one of three long system prompts is shared by every conversation that uses it."""
import json
import random

rng = random.Random(42)
BLOCK = 512
rows, next_block = [], 1000
system_prompts = [[1, 2], [3, 4, 5], [6]]  # blocks shared across conversations
for conversation in range(40):
    start_ms = rng.uniform(0, 16_000)
    blocks = list(rng.choice(system_prompts))
    length = len(blocks) * BLOCK
    t = start_ms
    for turn in range(rng.randint(2, 7)):
        length += rng.randint(50, 900)  # the user's new message, and the last answer
        while len(blocks) < (length + BLOCK - 1) // BLOCK - 1:
            blocks.append(next_block)
            next_block += 1
        out = max(1, int(rng.lognormvariate(4.5, 0.6)))
        rows.append({"timestamp": int(t), "input_length": length, "output_length": out, "hash_ids": list(blocks)})
        length += out
        t += rng.uniform(800, 4000)
rows = [r for r in rows if r["timestamp"] < 20_000]
rows.sort(key=lambda r: r["timestamp"])
with open("mooncake-sample.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r, separators=(", ", ": ")) + "\n")
print(len(rows), "requests,", sum(r["input_length"] for r in rows), "input tokens")
