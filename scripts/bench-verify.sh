#!/usr/bin/env bash
# Times `harness policy verify` against the real `gator verify` on the same suites (by default our
# policy library, harness/policy-library/templates/...), in one run, and prints on the last line
#
#   verify-bench: harness_ms=<median ms> gator_ms=<median ms> ratio=<gator/harness>
#
# The goal is ratio >= 5 (the harness at least five times faster than gator).
#
#   scripts/bench-verify.sh [--runs N] [PATH/...]
#
# Both commands must pass the suites (exit 0) or the benchmark stops: timing a failing run says
# nothing. hyperfine is used when it is installed (`apt-get install hyperfine`), else a loop of N
# timed runs after one warm-up run each; the median is reported either way.
#
# Environment:
#   HARNESS_BIN   the harness binary (default: build and use $CARGO_TARGET_DIR/debug/harness)
#   GATOR_BIN     the gator binary (default: scripts/build-gator.sh, which reuses its cache)
#   RUNS          timed runs per command (default 5; --runs overrides)
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${RUNS:-5}
target=harness/policy-library/templates/...
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) target=$1; shift ;;
  esac
done
say() { printf '[bench-verify] %s\n' "$*" >&2; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness/target}
if [ -z "${HARNESS_BIN:-}" ]; then
  say "building harness (debug profile; regorus is optimised in it)"
  cargo build -q -p harness --bin harness
  HARNESS_BIN=$CARGO_TARGET_DIR/debug/harness
fi
if [ -z "${GATOR_BIN:-}" ]; then
  GATOR_BIN=$(bash scripts/build-gator.sh) || { echo "bench-verify: gator is not available (scripts/build-gator.sh needs Go)" >&2; exit 3; }
fi

harness_cmd=("$HARNESS_BIN" policy verify "$target")
gator_cmd=("$GATOR_BIN" verify "$target")

# Both must pass before they are timed.
for cmd in harness gator; do
  if [ "$cmd" = harness ]; then c=("${harness_cmd[@]}"); else c=("${gator_cmd[@]}"); fi
  if ! out=$("${c[@]}" 2>&1); then
    printf '%s\n' "$out" | tail -n 20 >&2
    echo "bench-verify: '${c[*]}' failed; fix the suites or the engine first" >&2
    exit 1
  fi
done
say "harness: $(printf '%s\n' "$("${harness_cmd[@]}" 2>&1)" | tail -n 1)"

median_ms() { # a list of nanosecond durations on stdin -> median in ms (integer)
  sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%d\n", m / 1000000}'
}

time_loop() { # command... -> median ms over $runs runs after a warm-up
  "$@" >/dev/null 2>&1 || true
  local i t0 t1
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $((t1 - t0))
  done | median_ms
}

if command -v hyperfine >/dev/null 2>&1; then
  say "timing with hyperfine ($runs runs each, 1 warm-up)"
  json=$(mktemp)
  trap 'rm -f "$json"' EXIT
  q() { printf '%q ' "$@"; }
  hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$json" \
    -n harness "$(q "${harness_cmd[@]}")" -n gator "$(q "${gator_cmd[@]}")" >&2
  read -r harness_ms gator_ms < <(python3 -c '
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(int(r["harness"] * 1000), int(r["gator"] * 1000))' "$json")
else
  say "timing with a loop ($runs runs each, 1 warm-up; install hyperfine for more detail)"
  harness_ms=$(time_loop "${harness_cmd[@]}")
  gator_ms=$(time_loop "${gator_cmd[@]}")
fi

ratio=$(awk -v h="$harness_ms" -v g="$gator_ms" 'BEGIN { if (h < 1) h = 1; printf "%.1f", g / h }')
echo "verify-bench: harness_ms=$harness_ms gator_ms=$gator_ms ratio=$ratio"
