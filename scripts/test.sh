#!/usr/bin/env bash
# The README's test command: every unit and integration test, then the Gherkin scenarios, then one
# summary line `harness: N passed, N failed` over all of them.
#
# The control plane is built (or taken from the cache) first, so the first run prints build progress
# instead of failing inside a test. Extra arguments go to the scenario runner (e.g. --tags @opt-in).
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== prerequisites"
bash scripts/prerequisites.sh || { echo "harness: 0 passed, 1 failed (prerequisites)"; exit 1; }

echo "== control plane binaries"
bash scripts/build-control-plane.sh >/dev/null || exit 1

echo "== unit and integration tests"
cargo build --workspace --all-targets --quiet || { echo "harness: 0 passed, 1 failed (build)"; exit 1; }
# Every command selects --workspace, so cargo resolves one feature set and builds each crate once.
# The cucumber target takes no libtest flags, so it sits this pass out and runs on its own, last.
# --no-fail-fast: one failing test binary must not hide the results of the others.
HARNESS_SKIP_SCENARIOS=1 cargo test --workspace --no-fail-fast --lib --bins --tests 2>&1 | tee "$log"
unit_rc=${PIPESTATUS[0]}

unit_passed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
unit_failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
[ "$unit_rc" -ne 0 ] && [ "$unit_failed" -eq 0 ] && unit_failed=1

# The policy library's gator suites, through the CLI users run (one count per case).
echo "== policy library suites"
cargo run --quiet -p harness -- policy verify harness/policy-library/templates/... 2>&1 | tee "$log"
verify_rc=${PIPESTATUS[0]}
vline=$(grep -E '^verify: ' "$log" | tail -n 1)
verify_passed=$(echo "$vline" | grep -oE 'passed=[0-9]+' | cut -d= -f2); verify_passed=${verify_passed:-0}
verify_failed=$(echo "$vline" | grep -oE 'failed=[0-9]+' | cut -d= -f2); verify_failed=${verify_failed:-0}
verify_skipped=$(echo "$vline" | grep -oE 'skipped=[0-9]+' | cut -d= -f2); verify_skipped=${verify_skipped:-0}
[ "$verify_rc" -ne 0 ] && [ "$verify_failed" -eq 0 ] && verify_failed=1

scen_passed=0; scen_failed=0; scen_skipped=0; bdd_rc=0
if [ -f harness/harness/tests/bdd.rs ]; then
  echo "== scenarios"
  cargo test --workspace --test bdd -- "$@" 2>&1 | tee "$log"
  bdd_rc=${PIPESTATUS[0]}
  line=$(grep -E '^harness: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    scen_passed=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    scen_failed=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    scen_skipped=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
  elif [ "$bdd_rc" -ne 0 ]; then
    scen_failed=1
  fi
fi

echo "== summary: tests ${unit_passed} passed, ${unit_failed} failed; policy suite cases ${verify_passed} passed, ${verify_failed} failed, ${verify_skipped} skipped; scenarios ${scen_passed} passed, ${scen_failed} failed, ${scen_skipped} skipped"
passed=$((unit_passed + verify_passed + scen_passed)); failed=$((unit_failed + verify_failed + scen_failed))
skipped=$((verify_skipped + scen_skipped))
echo "harness: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$unit_rc" -eq 0 ] && [ "$verify_rc" -eq 0 ] && [ "$bdd_rc" -eq 0 ]
