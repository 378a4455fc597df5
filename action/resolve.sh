#!/usr/bin/env bash
# The action's first step (action.yml): which slacheck to install, and the cache key for it. Writes to
# $GITHUB_OUTPUT:
#   version    the release to download: the `version` input, or the action's own ref when that is a release tag
#              (v0.1.0); empty when the action runs from a branch or a commit
#   source     the action's own checkout, to build from when no archive exists for that ref (empty with an
#              explicit `version` input, whose fallback is crates.io)
#   cache-key  release-v0.1.0, or source-<SHA-256 of the sources it would build>: never the caller's commit
#
# Inputs (environment): INPUT_VERSION; ACTION_REF (github.action_ref, which is empty in composite actions on
# some runners, actions/runner#2473), else the ref read from GITHUB_ACTION_PATH (…/_actions/OWNER/REPO/REF).
set -euo pipefail

output_file="${GITHUB_OUTPUT:-/dev/null}"
action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
is_release() { [[ "$1" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]]; }

version="" source=""
ref="${ACTION_REF:-}"
if [ -z "$ref" ] && [[ "$action_path" == */_actions/*/*/* ]]; then
  ref="${action_path#*/_actions/*/*/}"
fi

if [ -n "${INPUT_VERSION:-}" ]; then
  is_release "$INPUT_VERSION" \
    || { echo "error: version: '$INPUT_VERSION' is not a release version such as 0.1.0 (for a commit, use the action at that commit: uses: slacheck/slacheck@SHA)" >&2; exit 2; }
  version="${INPUT_VERSION#v}"
  echo "slacheck: installing release v$version (the version input)"
elif is_release "$ref"; then
  version="${ref#v}" source="$action_path"
  echo "slacheck: installing release v$version (the action's own tag)"
else
  source="$action_path"
  echo "slacheck: the action runs at ${ref:-a local path}, not a release tag: it will be built from its own source"
fi

digest() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
if [ -n "$version" ]; then
  key="release-v$version"
else
  # What `cargo install --path` would build, by content: the manifests, the lock file, sources and assets.
  files="$(cd "$source" && find Cargo.toml Cargo.lock src common mock-upstream assets -type f -not -path '*/tests/*' \
    \( -name '*.rs' -o -name '*.toml' -o -name '*.lock' -o -path 'assets/*' \) | LC_ALL=C sort)"
  key="source-$(cd "$source" && for f in $files; do digest "$f"; done | digest | cut -c1-16)"
fi

{
  echo "version=$version"
  echo "source=$source"
  echo "cache-key=$key"
} >> "$output_file"
