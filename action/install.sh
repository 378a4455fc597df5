#!/bin/sh
# Installs slacheck and mock-upstream from a release archive (built by cargo-dist, see .github/workflows/release.yml)
# for this machine's OS and architecture, after checking the archive's SHA-256 against the release's sha256.sum.
# The GitHub Action (action.yml) runs it; it also works on its own:
#
#   curl -fsSL https://raw.githubusercontent.com/slacheck/slacheck/main/action/install.sh | sh
#   curl -fsSL …/install.sh | sh -s -- --version 0.1.0 --to /usr/local
#
# Options:
#   --version X   the release to install (0.1.0 or v0.1.0); default: the latest release
#   --to DIR      installs into DIR/bin (default: ~/.slacheck)
#   --source DIR  a slacheck source tree to build with `cargo install --path` when no archive exists for this
#                 machine or this ref (the action passes its own checkout); without it the fallback is crates.io
# Environment:
#   SLACHECK_RELEASES  the releases' base URL (default https://github.com/slacheck/slacheck/releases)
#   SLACHECK_OS, SLACHECK_ARCH  what `uname -s` and `uname -m` would say (to fetch another machine's archive)
#   CARGO  the cargo the fallback runs (default: cargo on PATH)
#
# It builds from source (cargo install --locked, several minutes) only when no archive exists for the ref: no
# version was given with a source tree (a branch or commit), the release has no archive for this OS and
# architecture, or (with --source) the release does not exist. An explicit --version that was never released, a
# download that fails and a checksum that does not match are errors: nothing is installed. Exit 0 installed,
# 1 could not install, 2 bad usage.
set -eu

releases="${SLACHECK_RELEASES:-https://github.com/slacheck/slacheck/releases}"
cargo="${CARGO:-cargo}"
version=""
to="${HOME}/.slacheck"
source_dir=""

say() { echo "slacheck install: $*" >&2; }
fail() {
  echo "slacheck install: error: $*" >&2
  exit 1
}
usage() {
  echo "slacheck install: $*" >&2
  echo "usage: install.sh [--version X] [--to DIR] [--source DIR]" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || usage "--version needs a value"; version="${2#v}"; shift 2 ;;
    --to) [ $# -ge 2 ] || usage "--to needs a directory"; to="$2"; shift 2 ;;
    --source) [ $# -ge 2 ] || usage "--source needs a directory"; source_dir="$2"; shift 2 ;;
    -h | --help)
      echo "usage: install.sh [--version X] [--to DIR] [--source DIR]: installs slacheck and mock-upstream into DIR/bin"
      exit 0
      ;;
    *) usage "unknown argument: $1" ;;
  esac
done

# The archive cargo-dist builds for this OS and architecture (dist-workspace.toml's targets), or none.
os="${SLACHECK_OS:-$(uname -s)}"
arch="${SLACHECK_ARCH:-$(uname -m)}"
case "$os/$arch" in
  Linux/x86_64 | Linux/amd64) target=x86_64-unknown-linux-musl ;;
  Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
  Darwin/x86_64) target=x86_64-apple-darwin ;;
  Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
  *) target="" ;;
esac

# Builds from source: the given tree, or the crate from crates.io (both commands are in the slacheck package).
build_from_source() {
  command -v "$cargo" >/dev/null 2>&1 \
    || fail "$1, and building from source needs a Rust toolchain (cargo; https://rustup.rs)"
  if [ -n "$source_dir" ]; then
    say "$1: building from source instead: cargo install --locked --path $source_dir (several minutes)"
    "$cargo" install --locked --root "$to" --path "$source_dir"
  elif [ -n "$version" ]; then
    say "$1: building from source instead: cargo install --locked slacheck --version $version (several minutes)"
    "$cargo" install --locked --root "$to" slacheck --version "$version"
  else
    say "$1: building from source instead: cargo install --locked slacheck (several minutes)"
    "$cargo" install --locked --root "$to" slacheck
  fi
  say "installed $to/bin/slacheck and $to/bin/mock-upstream (built from source)"
  exit 0
}

if [ -z "$version" ] && [ -n "$source_dir" ]; then
  build_from_source "no release archive for this ref (a branch or a commit, not a release tag)"
fi

command -v curl >/dev/null 2>&1 || fail "curl is needed to download the release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Downloads $1 to $2 and prints the HTTP status (000: no answer).
fetch() {
  curl -sSL --retry 2 --connect-timeout 20 -o "$2" -w '%{http_code}' "$1" 2>"$work/curl.err" || true
}

if [ -n "$version" ]; then
  base="$releases/download/v$version"
  release="release v$version"
else
  base="$releases/latest/download"
  release="the latest release"
fi

status="$(fetch "$base/sha256.sum" "$work/sha256.sum")"
case "$status" in
  200) ;;
  404)
    [ -n "$source_dir" ] && build_from_source "$release does not exist at $releases"
    if [ -n "$version" ]; then
      fail "there is no release v$version ($base/sha256.sum: HTTP 404); the releases are listed at $releases"
    fi
    fail "no release has been published yet ($base/sha256.sum: HTTP 404)"
    ;;
  000) fail "cannot reach $base/sha256.sum: $(cat "$work/curl.err")" ;;
  *) fail "$base/sha256.sum: HTTP $status" ;;
esac

[ -n "$target" ] || build_from_source "no release archive is built for $os/$arch"
asset="slacheck-$target.tar.gz"
# sha256.sum lines are "<hex>  <file>" (or "<hex> *<file>", binary mode).
expected="$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "$work/sha256.sum")"
[ -n "$expected" ] || build_from_source "$release has no archive for $os/$arch ($asset)"

status="$(fetch "$base/$asset" "$work/$asset")"
[ "$status" = 200 ] || fail "$base/$asset: HTTP $status $(cat "$work/curl.err")"

if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$work/$asset" | awk '{ print $1 }')"
elif command -v shasum >/dev/null 2>&1; then
  actual="$(shasum -a 256 "$work/$asset" | awk '{ print $1 }')"
else
  fail "neither sha256sum nor shasum is here to check $asset"
fi
[ "$actual" = "$expected" ] \
  || fail "checksum mismatch for $asset: sha256.sum says $expected, the download is $actual; nothing installed"

tar -xzf "$work/$asset" -C "$work"
mkdir -p "$to/bin"
for bin in slacheck mock-upstream; do
  [ -f "$work/slacheck-$target/$bin" ] || fail "$asset has no slacheck-$target/$bin"
  cp "$work/slacheck-$target/$bin" "$to/bin/$bin.new"
  chmod 755 "$to/bin/$bin.new"
  mv -f "$to/bin/$bin.new" "$to/bin/$bin"
done
say "installed $to/bin/slacheck and $to/bin/mock-upstream from $asset of $release (SHA-256 $actual checked)"
case ":${PATH}:" in
  *":$to/bin:"*) ;;
  *) say "add $to/bin to PATH to run them" ;;
esac
