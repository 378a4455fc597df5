#!/usr/bin/env python3
"""Writes each ```yaml block of a Markdown file to OUT_DIR as github-N.yml or gitlab-N.yml, by the `## ` heading
it sits under (a heading that names GitLab makes it a GitLab job), so CI can check what users copy."""
import pathlib
import sys

source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
heading, block, written = "", None, 0
for line in source.read_text().splitlines():
    if block is None and line.startswith("## "):
        heading = line
    elif block is None and line.strip() == "```yaml":
        block = []
    elif block is not None and line.strip() == "```":
        kind = "gitlab" if "gitlab" in heading.lower() else "github"
        written += 1
        (out / f"{kind}-{written}.yml").write_text("\n".join(block) + "\n")
        block = None
    elif block is not None:
        block.append(line)
if written == 0:
    sys.exit(f"{source}: no yaml blocks found")
print(f"{source}: {written} yaml blocks")
