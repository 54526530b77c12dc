#!/usr/bin/env bash
# Conformance measure: runs the public gatekeeper-library suites (open-policy-agent/gatekeeper-library,
# library/**/suite.yaml, about 270 cases) through `harness policy verify`, and through the real
# `gator verify` when gator is available, on the same tree, and prints both summaries and timings.
#
# The library is NOT part of this repository (nothing of it may be copied in): it lives in a cache.
#
#   git clone https://github.com/open-policy-agent/gatekeeper-library ~/src/gatekeeper-library
#   scripts/conformance.sh ~/src/gatekeeper-library          # any checkout (PATH/library/... is run)
#   scripts/conformance.sh --clone                           # clone into the cache, then run
#   scripts/conformance.sh                                   # run the cached tree
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/aks-policy-harness/gatekeeper-library/checkout (--clone puts it
# there; GATEKEEPER_LIBRARY_REF=<commit or tag> pins what --clone checks out). A tree without .git
# must carry a SNAPSHOT file saying where it came from; it is printed with the results.
#
# Output: first every case that the harness or gator does not pass, with the reason, then
#   snapshot: <git commit, or the SNAPSHOT file's first line> (suites=N tests=N cases=N)
#   harness: verify: suites=N tests=N cases=N passed=N failed=N skipped=N  (<ms> ms)
#   gator:   verify: cases=N passed=N failed=N skipped=N  [gator's own: PASS|FAIL]  (<ms> ms)
#   conformance: cases=N harness_passed=N gator_passed=N both_passed=N harness_only_failed=N gator_only_failed=N
# Full logs: <cache>/logs/ (harness.log, gator.log, compare.txt). Exit: 0 when the run completed (the
# figures are the result), 2 on usage or setup errors. Needs python3 with PyYAML for the per-case
# comparison.
#
# Environment: HARNESS_BIN (default: build $CARGO_TARGET_DIR/debug/harness), GATOR_BIN (default: the
# scripts/build-gator.sh cache; gator is never built here), AKS_HARNESS_LIBRARY_CACHE (cache root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${AKS_HARNESS_LIBRARY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness/gatekeeper-library}
say() { printf '[conformance] %s\n' "$*" >&2; }
die() { printf 'conformance: %s\n' "$*" >&2; exit 2; }

root=""
case "${1:-}" in
  -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  --clone)
    command -v git >/dev/null 2>&1 || die "git not found"
    root="$cache/checkout"
    if [ ! -d "$root/.git" ]; then
      mkdir -p "$cache"
      say "cloning https://github.com/open-policy-agent/gatekeeper-library into $root"
      git clone --quiet https://github.com/open-policy-agent/gatekeeper-library "$root.tmp" \
        || die "git clone failed (network?); clone it elsewhere and pass its path"
      mv "$root.tmp" "$root"
    fi
    if [ -n "${GATEKEEPER_LIBRARY_REF:-}" ]; then
      git -C "$root" -c advice.detachedHead=false checkout --quiet "$GATEKEEPER_LIBRARY_REF" \
        || die "cannot check out $GATEKEEPER_LIBRARY_REF in $root"
    fi
    ;;
  "")
    for candidate in "$cache/checkout" "$cache/snapshot"; do
      [ -d "$candidate/library" ] && { root=$candidate; break; }
    done
    [ -n "$root" ] || die "no gatekeeper-library tree in $cache; run: git clone https://github.com/open-policy-agent/gatekeeper-library <dir> && scripts/conformance.sh <dir>   (or scripts/conformance.sh --clone)"
    ;;
  *) root=$1 ;;
esac
root=$(cd "$root" && pwd)
[ -d "$root/library" ] || die "$root has no library/ folder (expected a gatekeeper-library checkout)"
case "$root/" in "$repo"/*) die "the library must stay outside the repository ($root)" ;; esac

if [ -d "$root/.git" ]; then
  snapshot="git $(git -C "$root" rev-parse HEAD) ($(git -C "$root" log -1 --format=%cs))"
elif [ -f "$root/SNAPSHOT" ]; then
  snapshot=$(head -n 1 "$root/SNAPSHOT")
else
  snapshot="unknown (no .git, no SNAPSHOT file)"
fi
say "library: $root"
say "snapshot: $snapshot"

# Count suites, tests and cases the way gator reads them (kind Suite, test.gatekeeper.sh/v1alpha1).
count_cases() {
  python3 - "$root/library" <<'PY' 2>/dev/null || echo "suites=? tests=? cases=?"
import os, sys, yaml
suites = tests = cases = 0
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith((".yaml", ".yml")):
            continue
        try:
            docs = list(yaml.safe_load_all(open(os.path.join(d, f))))
        except Exception:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Suite" and doc.get("apiVersion") == "test.gatekeeper.sh/v1alpha1":
                suites += 1
                for t in doc.get("tests") or []:
                    tests += 1
                    cases += len(t.get("cases") or [])
print(f"suites={suites} tests={tests} cases={cases}")
PY
}
counts=$(count_cases)
say "suites in the tree: $counts"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness/target}
if [ -z "${HARNESS_BIN:-}" ]; then
  say "building harness"
  (cd "$repo" && cargo build -q -p harness --bin harness) || die "cargo build -p harness failed"
  HARNESS_BIN=$CARGO_TARGET_DIR/debug/harness
fi
if [ -z "${GATOR_BIN:-}" ]; then
  GATOR_BIN=$(bash "$here/build-gator.sh" --print 2>/dev/null) || GATOR_BIN=""
fi

logs="$cache/logs"
mkdir -p "$logs"
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# --- harness ---------------------------------------------------------------------------------
t0=$(date +%s%N)
set +e
(cd "$root" && "$HARNESS_BIN" policy verify -v library/...) >"$logs/harness.log" 2>&1
harness_rc=$?
set -e
harness_ms=$(ms_since "$t0")
harness_summary=$(grep -E '^verify: ' "$logs/harness.log" | tail -n 1 || true)
[ -n "$harness_summary" ] || harness_summary="(no summary line; exit $harness_rc; see $logs/harness.log)"

# --- gator -----------------------------------------------------------------------------------
gator_ms=0
if [ -n "$GATOR_BIN" ]; then
  t0=$(date +%s%N)
  set +e
  (cd "$root" && "$GATOR_BIN" verify -v library/...) >"$logs/gator.log" 2>&1
  set -e
  gator_ms=$(ms_since "$t0")
else
  : >"$logs/gator.log"
fi

# --- per-case comparison -----------------------------------------------------------------------
# Cases are keyed by "<category>/<template>/suite.yaml :: <test>/<case>" on both sides. The harness
# prints `ok   <suite>: <test>/<case>` and `FAIL <suite>: <test>/<case>: <why>` (a test that cannot
# run: `FAIL <suite>: <test>: <why>`); gator -v prints go-test style lines, the suite path last.
python3 - "$logs/harness.log" "$logs/gator.log" "$root/library" "${GATOR_BIN:+yes}" >"$logs/compare.txt" <<'PY' || true
import os, re, sys
import yaml

harness_log, gator_log, library, have_gator = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "yes"

def short(path):
    return "/".join(path.strip().split("/")[-3:])

# Every case of the tree, in order (what both runs should report).
expected = []
for d, _, files in sorted(os.walk(library)):
    for f in sorted(files):
        if not f.endswith((".yaml", ".yml")):
            continue
        try:
            docs = list(yaml.safe_load_all(open(os.path.join(d, f))))
        except Exception:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Suite" and doc.get("apiVersion") == "test.gatekeeper.sh/v1alpha1":
                for t in doc.get("tests") or []:
                    for c in t.get("cases") or []:
                        expected.append((short(os.path.join(d, f)), f"{t.get('name')}/{c.get('name')}"))

def harness_results():
    out, test_errors = {}, {}
    for line in open(harness_log, errors="replace"):
        m = re.match(r"^(ok  |FAIL|SKIP) (\S+): (.*)$", line.rstrip("\n"))
        if not m:
            continue
        tag, suite, rest = m.groups()
        status = {"ok  ": "PASS", "FAIL": "FAIL", "SKIP": "SKIP"}[tag]
        what, _, why = rest.partition(": ")
        if "/" in what:
            out[(short(suite), what)] = (status, why)
        else:
            test_errors[(short(suite), what)] = why
    for key in expected:  # cases of a test that could not run
        if key not in out and (key[0], key[1].split("/")[0]) in test_errors:
            out[key] = ("FAIL", test_errors[(key[0], key[1].split("/")[0])])
    return out

def gator_results():
    out, pending, test, last = {}, [], None, None
    lines = open(gator_log, errors="replace").read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^=== RUN\s+(.*)$", line)
        if m:
            test = m.group(1).strip()
            continue
        m = re.match(r"^    --- (PASS|FAIL|SKIP): (.*?)\t", line + "\t")
        if m:
            why = lines[i + 1].strip() if m.group(1) == "FAIL" and i + 1 < len(lines) else ""
            pending.append((f"{test}/{m.group(2).strip()}", m.group(1), why))
            continue
        m = re.match(r"^    === SKIP\s+(.*)$", line)
        if m:
            pending.append((f"{test}/{m.group(1).strip()}", "SKIP", ""))
            continue
        m = re.match(r"^--- FAIL: (.*?)\t", line + "\t")
        if m and i + 1 < len(lines) and lines[i + 1].startswith("    ") and not lines[i + 1].startswith("    ==="):
            pending.append((m.group(1).strip() + "/*", "FAIL", lines[i + 1].strip()))
            continue
        m = re.match(r"^(ok|FAIL)\t(\S+)", line)
        if m:
            suite = short(m.group(2))
            for what, status, why in pending:
                if what.endswith("/*"):
                    for key in expected:
                        if key[0] == suite and key[1].split("/")[0] == what[:-2] and key not in out:
                            out[key] = (status, why)
                else:
                    out[(suite, what)] = (status, why)
            pending = []
    return out

h = harness_results()
g = gator_results() if have_gator else {}
def status(results, key):
    return results.get(key, ("NOT RUN", ""))[0]
def count(results, what):
    return sum(1 for k in expected if status(results, k) == what)
for key in expected:
    hs, gs = status(h, key), (status(g, key) if have_gator else "-")
    if hs != "PASS" or (have_gator and gs != "PASS"):
        why = h.get(key, ("", ""))[1] if hs != "PASS" else g.get(key, ("", ""))[1]
        print(f"case {key[0]} {key[1]}: harness={hs} gator={gs}\n    {why[:400]}")
def summary(results):
    return (f"verify: cases={len(expected)} passed={count(results, 'PASS')} failed={count(results, 'FAIL') + count(results, 'NOT RUN')} "
            f"skipped={count(results, 'SKIP')}")
both = sum(1 for k in expected if status(h, k) == "PASS" and status(g, k) == "PASS")
h_only = sum(1 for k in expected if status(h, k) != "PASS" and status(g, k) == "PASS")
g_only = sum(1 for k in expected if status(h, k) == "PASS" and status(g, k) != "PASS")
print(f"@harness-cases {summary(h)}")
print(f"@gator-cases {summary(g) if have_gator else 'not run'}")
print(f"conformance: cases={len(expected)} harness_passed={count(h, 'PASS')} gator_passed={count(g, 'PASS') if have_gator else '-'} "
      f"both_passed={both if have_gator else '-'} harness_only_failed={h_only if have_gator else '-'} gator_only_failed={g_only if have_gator else '-'}")
PY

grep -v '^@' "$logs/compare.txt" | grep -v '^conformance:' || true
gator_summary="not run (gator not found; scripts/build-gator.sh builds it, needs Go)"
[ -n "$GATOR_BIN" ] && gator_summary="$(grep '^@gator-cases ' "$logs/compare.txt" | sed 's/^@gator-cases //')  [gator's own: $(grep -v '^[[:space:]]*$' "$logs/gator.log" | tail -n 1)]"
echo "snapshot: $snapshot ($counts)"
echo "harness: $harness_summary  (${harness_ms} ms)"
echo "gator:   $gator_summary  (${gator_ms} ms)"
grep '^conformance:' "$logs/compare.txt" || echo "conformance: (no per-case comparison; python3 with PyYAML is needed, see $logs)"
