#!/usr/bin/env bash
# Builds the real gator (Gatekeeper's CLI, the reference the harness's Gatekeeper v3 engine is
# compared with) from the Go module proxy, once, and caches it outside the repository.
#
#   scripts/build-gator.sh            build (or reuse) and print the binary path on stdout (last line)
#   scripts/build-gator.sh --print    print the binary path if cached, exit 1 otherwise
#
# Exit codes: 0 ready, 1 build failed, 3 Go is not installed (nothing else needed it).
#
# Environment:
#   AKS_HARNESS_GATOR_CACHE  cache root (default: ${XDG_CACHE_HOME:-~/.cache}/aks-policy-harness/gator)
#   GATOR_BIN                an existing gator binary: checked and printed, nothing is built.
#
# Users of gator: harness/policy-engine/tests/gator_differential.rs, scripts/conformance.sh,
# scripts/bench-verify.sh (they all look at GATOR_BIN, then at this cache path).
set -euo pipefail

GATOR_VERSION=v3.23.1
MODULE=github.com/open-policy-agent/gatekeeper/v3
cache_root=${AKS_HARNESS_GATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness/gator}
bin_dir="$cache_root/$GATOR_VERSION"
bin="$bin_dir/gator"

say() { printf '[gator] %s\n' "$*" >&2; }
fail() { # step, fix
  printf '[gator] FAILED at step "%s".\n[gator] fix: %s\n' "$1" "$2" >&2
  exit 1
}
works() { "$1" --version >/dev/null 2>&1; }

if [ -n "${GATOR_BIN:-}" ]; then
  works "$GATOR_BIN" || fail "run GATOR_BIN=$GATOR_BIN --version" "point GATOR_BIN at a gator binary, or unset it to build $GATOR_VERSION"
  say "using GATOR_BIN=$GATOR_BIN"
  echo "$GATOR_BIN"; exit 0
fi

if [ "${1:-}" = "--print" ]; then
  [ -x "$bin" ] && { echo "$bin"; exit 0; }
  exit 1
fi

if [ -x "$bin" ] && works "$bin"; then
  say "cached gator $GATOR_VERSION found"
  echo "$bin"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "[gator] Go not found: install Go >= 1.26 (https://go.dev/dl) to build gator $GATOR_VERSION, or set GATOR_BIN to a gator binary" >&2
  exit 3
fi

mkdir -p "$bin_dir" || fail "create cache dir $bin_dir" "set AKS_HARNESS_GATOR_CACHE to a writable directory"
export GOWORK=off GOFLAGS=-mod=readonly
t0=$(date +%s)
say "step 1/2: resolving $MODULE@$GATOR_VERSION on the Go module proxy ($(go env GOPROXY))"
go list -m "$MODULE@$GATOR_VERSION" >/dev/null \
  || fail "go list -m $MODULE@$GATOR_VERSION" "check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
say "step 2/2: go install $MODULE/cmd/gator@$GATOR_VERSION (first run: a few minutes on 2 cores)"
# Build into a temporary GOBIN so an interrupted build never leaves a half-written binary in the cache.
tmp_bin=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp_bin"' EXIT
GOBIN="$tmp_bin" CGO_ENABLED=0 go install -trimpath "$MODULE/cmd/gator@$GATOR_VERSION" \
  || fail "go install gator" "see the compiler output above; make sure ~1 GB of disk is free for GOCACHE and GOMODCACHE"
mv "$tmp_bin/gator" "$bin"
works "$bin" || fail "run $bin --version" "delete $bin_dir and run this script again"
say "done in $(( $(date +%s) - t0 ))s: $bin"
echo "$bin"
