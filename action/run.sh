#!/usr/bin/env bash
# The GitHub Action's run step (action.yml), kept here so that a test can run it locally with the GITHUB_*
# files pointing at temporary files. Runs one scenario and, whatever happens, appends summary.md (and
# compare/compare.md) to $GITHUB_STEP_SUMMARY, writes the outputs exit-code, verdict and results-dir to
# $GITHUB_OUTPUT, and ends with slacheck's own exit code.
#
# Inputs (environment): INPUT_SCENARIO (required), INPUT_ARGS (extra flags, split on spaces), INPUT_BASELINE,
# INPUT_MAX_REGRESSION, INPUT_RESULTS_DIR (default slacheck-results). SLACHECK: the binary (default: on PATH).
set -uo pipefail

slacheck="${SLACHECK:-slacheck}"
scenario="${INPUT_SCENARIO:-}"
out="${INPUT_RESULTS_DIR:-slacheck-results}"
summary_file="${GITHUB_STEP_SUMMARY:-/dev/null}"
output_file="${GITHUB_OUTPUT:-/dev/null}"

args=(run "$scenario" --out "$out")
[ -n "${INPUT_BASELINE:-}" ] && args+=(--baseline "$INPUT_BASELINE")
[ -n "${INPUT_MAX_REGRESSION:-}" ] && args+=(--max-regression "$INPUT_MAX_REGRESSION")
read -r -a extra <<< "${INPUT_ARGS:-}"

if [ -z "$scenario" ]; then
  echo "error: the action needs a scenario (with: scenario: path/to/scenario.toml)" >&2
  code=2
else
  "$slacheck" "${args[@]}" "${extra[@]}"
  code=$?
fi

# What the exit code says, in the words of README "Exit codes": exit 1 is fail or undecided, and exit 3
# generator-bound or no-verdict, as summary.json's "outcome" tells (a regression against the baseline, exit 1
# after a passing verdict, is a fail).
outcome=""
if [ -f "$out/summary.json" ]; then
  outcome="$(sed -n 's/^  "outcome": "\([a-z-]*\)",\{0,1\}$/\1/p' "$out/summary.json" | head -n 1)"
fi
case "$code" in
  0) verdict=pass ;;
  1) if [ "$outcome" = undecided ]; then verdict=undecided; else verdict=fail; fi ;;
  2) verdict=usage ;;
  3) if [ "$outcome" = generator-bound ]; then verdict=generator-bound; else verdict=no-verdict; fi ;;
  129|130|143) verdict=interrupted ;;
  *) verdict=error ;;
esac

{
  if [ -f "$out/summary.md" ]; then
    cat "$out/summary.md"
  else
    echo "### slacheck: no summary (exit $code, $verdict)"
    echo
    echo "The run wrote no summary.md; the job's log says why."
  fi
  if [ -f "$out/compare/compare.md" ]; then
    echo
    cat "$out/compare/compare.md"
  fi
} >> "$summary_file"

results_dir=""
[ -d "$out" ] && results_dir="$(cd "$out" && pwd)"
{
  echo "exit-code=$code"
  echo "verdict=$verdict"
  echo "results-dir=$results_dir"
} >> "$output_file"

exit "$code"
