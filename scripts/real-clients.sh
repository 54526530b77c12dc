#!/usr/bin/env bash
# First contact with the real clients: the README's walk-throughs, end to end, against the sandbox
# (`harness up`) with the real `az` (azure-cli from PyPI) and the real `kubectl`. Two sandboxes run
# one after the other: today's add-on (`harness up`, Gatekeeper v3 driven by a built-in assigned by
# its GUID) and the 2019 preview (`harness up --addon-generation preview`).
#
#   scripts/real-clients.sh
#
# azure-cli is installed once into a venv at ${XDG_CACHE_HOME:-~/.cache}/aks-policy-harness/az-venv;
# when it is missing and PyPI cannot be reached, the check prints one line saying so and exits 0.
# Every step prints `ok <step> (<seconds>s)` or `FAIL <step>: <reason>` with the command's output,
# and the last line is `real-clients: N passed, N failed` (exit 1 on any failure). The user's az
# configuration is untouched (a temporary AZURE_CONFIG_DIR); the sandbox is stopped on exit.
#
# Environment: CARGO_TARGET_DIR (as cargo), HARNESS_BIN (a harness binary to use instead of building
# one: CI passes the one the tests built), REAL_CLIENTS_START_TIMEOUT (seconds to wait for the
# sandbox, default 900: a cold first run builds the control plane).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache=${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness
venv=$cache/az-venv
sandbox_log=$cache/real-clients-harness-up.log
fixture=fixtures/denials/privileged-pod.yaml
rg=real-clients-rg
cluster=real-clients-aks
location=westus2
# "[Limited Preview]: Do not allow privileged containers in AKS" (policy-engine's CONTAINER_NO_PRIVILEGE).
no_privileged=7ce7ac02-a5c6-45d6-8d1b-844feb1c1531
# "Kubernetes cluster containers should only use allowed images" (azure-sim's
# builtins/kubernetes/ContainerAllowedImages.json) and a pod whose image it does not allow.
allowed_images=febd0533-8e55-448f-b837-bd0e06f16469
disallowed_image_pod=fixtures/real-clients/disallowed-image-pod.yaml
generation=current

passed=0
failed=0
why=""           # a step's own failure reason, when it has a better one than its exit status
sandbox_pid=""
work=""
started=$(date +%s.%N)

# ---- output and timing -------------------------------------------------------------------------

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }
exceeds() { awk -v t="$1" -v l="$2" 'BEGIN { exit !(t > l) }'; }
indent() { sed 's/^/    /' "$@"; }

# summary: the closing line; exit 1 if anything failed.
summary() {
  echo "total: $(since "$started")s"
  echo "real-clients: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# step NAME [--within SECS] [--show] COMMAND...: runs COMMAND in this shell (so it can set
# variables), output to a file; prints `ok NAME (Ts)` (and the output with --show), or
# `FAIL NAME: reason` and the output. Returns COMMAND's status (1 if it took longer than SECS).
step() {
  local name=$1 limit="" show="" out start elapsed rc=0
  shift
  while :; do
    case ${1:-} in
      --within) limit=$2; shift 2 ;;
      --show) show=1; shift ;;
      *) break ;;
    esac
  done
  out=$(mktemp)
  why=""
  start=$(now)
  "$@" >"$out" 2>&1 || rc=$?
  elapsed=$(since "$start")
  if [ "$rc" -eq 0 ] && [ -n "$limit" ] && exceeds "$elapsed" "$limit"; then
    rc=1
    why="took ${elapsed}s, more than ${limit}s"
  fi
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok $name (${elapsed}s)"
    [ -z "$show" ] || indent "$out"
  else
    failed=$((failed + 1))
    echo "FAIL $name: ${why:-exit status $rc} (${elapsed}s)"
    indent "$out"
  fi
  rm -f "$out"
  return "$rc"
}

# fatal: after a step nothing else can run without; prints the summary and exits.
fatal() {
  summary || true
  exit 1
}

# poll SECS COMMAND...: runs COMMAND until it succeeds or SECS have passed; prints its last output.
poll() {
  local deadline out rc
  deadline=$(awk -v s="$(now)" -v d="$1" 'BEGIN { printf "%.3f", s + d }')
  shift
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
      [ -z "$out" ] || echo "$out"
      return 0
    fi
    if exceeds "$(now)" "$deadline"; then
      echo "$out"
      return "$rc"
    fi
    sleep 0.5
  done
}

# ---- the clients -------------------------------------------------------------------------------

az() {
  AZURE_CONFIG_DIR=$work/az AZURE_CORE_COLLECT_TELEMETRY=no REQUESTS_CA_BUNDLE=$ca "$venv/bin/az" "$@"
}

kc() {
  kubectl --kubeconfig "$kubeconfig" "$@"
}

az_works() {
  [ -x "$venv/bin/az" ] && "$venv/bin/az" version --output none >/dev/null 2>&1
}

# install_az: a fresh venv with azure-cli from PyPI.
install_az() {
  "$venv/bin/python" -m pip install --quiet azure-cli && az_works
}

# ensure_az: installs azure-cli when the venv lacks it; skips the whole check (exit 0) when it is
# missing and PyPI cannot be reached.
ensure_az() {
  local probe
  if az_works; then
    echo "azure-cli $("$venv/bin/az" version --query '"azure-cli"' --output tsv 2>/dev/null) (cached in $venv)"
    return 0
  fi
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv" || { echo "FAIL install-az: python3 -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
  if ! probe=$("$venv/bin/python" -m pip index versions azure-cli --timeout 20 --retries 1 2>&1); then
    rm -rf "$venv"
    echo "real-clients: skipped: azure-cli is not installed and PyPI cannot be reached ($(tail -n 1 <<<"$probe"))"
    exit 0
  fi
  step install-az install_az || fatal
  echo "azure-cli $("$venv/bin/az" version --query '"azure-cli"' --output tsv 2>/dev/null) installed in $venv"
}

# ---- the sandbox -------------------------------------------------------------------------------

target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    echo "$CARGO_TARGET_DIR"
  else
    cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
  fi
}

build() {
  if [ -n "${HARNESS_BIN:-}" ]; then
    [ -x "$HARNESS_BIN" ] || { why="HARNESS_BIN=$HARNESS_BIN is not an executable"; return 1; }
    echo "using HARNESS_BIN=$HARNESS_BIN"
    return
  fi
  cargo build -p harness
}

# start_sandbox: `harness up` in the background, until it prints `ready (Ctrl-C to stop)`.
start_sandbox() {
  local deadline=$(($(date +%s) + ${REAL_CLIENTS_START_TIMEOUT:-900}))
  mkdir -p "$cache"
  "$harness" up --addon-generation "$generation" --refresh-interval 2s --audit-interval 1h </dev/null >"$sandbox_log" 2>&1 &
  sandbox_pid=$!
  until grep -q '^ready (Ctrl-C to stop)' "$sandbox_log"; do
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then
      why="harness up exited (log: $sandbox_log)"
    elif [ "$(date +%s)" -ge "$deadline" ]; then
      why="no 'ready (Ctrl-C to stop)' from harness up within ${REAL_CLIENTS_START_TIMEOUT:-900}s (log: $sandbox_log)"
    else
      sleep 0.2
      continue
    fi
    tail -n 30 "$sandbox_log"
    return 1
  done
}

# key NAME: a `NAME: value` line the sandbox printed.
key() {
  sed -n "s/^$1: //p" "$sandbox_log" | head -n 1
}

# stop_sandbox: Ctrl-C (the sandbox removes the add-on and stops), then SIGKILL after 20 s.
stop_sandbox() {
  [ -n "$sandbox_pid" ] || return 0
  kill -INT "$sandbox_pid" 2>/dev/null || return 0
  for _ in $(seq 40); do
    kill -0 "$sandbox_pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$sandbox_pid" 2>/dev/null || true
  sandbox_pid=""
}

cleanup() {
  stop_sandbox
  [ -z "$work" ] || rm -rf "$work"
}

# ---- the checks --------------------------------------------------------------------------------

# login TENANT: a service-principal login, then the tenant the CLI recorded must be the sandbox's.
login() {
  local got
  az login --service-principal -u "$client_id" -p "$client_secret" --tenant "$1" --output none || return 1
  got=$(az account show --query tenantId --output tsv) || return 1
  [ "$got" = "$tenant" ] || { why="logged in to tenant '$got', expected '$tenant'"; return 1; }
}

select_subscription() {
  az account set --subscription "$subscription" &&
    [ "$(az account show --query id --output tsv)" = "$subscription" ]
}

register_providers() {
  az provider register --namespace Microsoft.ContainerService &&
    az provider register --namespace Microsoft.PolicyInsights
}

# register_feature NAMESPACE NAME: the sandbox approves at once, so the state must be Registered.
register_feature() {
  local state
  state=$(az feature register --namespace "$1" --name "$2" --query properties.state --output tsv) || return 1
  [ "$state" = Registered ] || { why="feature state '$state', expected 'Registered'"; return 1; }
}

create_cluster() {
  az group create --name "$rg" --location "$location" --output none &&
    az aks create --resource-group "$rg" --name "$cluster" --no-ssh-key --output none &&
    cluster_id=$(az aks show --resource-group "$rg" --name "$cluster" --query id --output tsv)
}

# addon_enabled BOOL: what `az aks show` reports for the add-on.
addon_enabled() {
  local got
  got=$(az aks show --resource-group "$rg" --name "$cluster" --query addonProfiles.azurepolicy.enabled --output tsv) || return 1
  [ "$got" = "$1" ] || { why="addonProfiles.azurepolicy.enabled is '$got', expected '$1'"; return 1; }
}

enable_addon() {
  az aks enable-addons --addons azure-policy --resource-group "$rg" --name "$cluster" --output none && addon_enabled true
}

disable_addon() {
  az aks disable-addons --addons azure-policy --resource-group "$rg" --name "$cluster" --output none && addon_enabled false
}

# deployments_ready: at least two Deployments in azure-policy, every one 1/1.
deployments_ready() {
  local table
  table=$(kc get deployments --namespace azure-policy) || return 1
  echo "$table"
  awk 'NR > 1 { n++; if ($2 != "1/1") bad++ } END { exit !(n >= 2 && bad == 0) }' <<<"$table"
}

assign_policy() {
  az policy assignment create --name no-privileged --policy "$no_privileged" --scope "$cluster_id" --output none
}

# privileged_pod_denied: the fixture is refused by the add-on's webhook. An admitted pod (the policy
# is not loaded yet) is deleted again so that the next try is a new create.
privileged_pod_denied() {
  local out
  if out=$(kc apply --namespace default -f "$fixture" 2>&1); then
    kc delete --namespace default -f "$fixture" --ignore-not-found --wait=false >/dev/null 2>&1
    echo "admitted: $out"
    return 1
  fi
  echo "$out"
  grep -q 'denied the request' <<<"$out"
}

deny_privileged_pod() {
  poll 10 privileged_pod_denied || { why="not denied within 10 s of the assignment"; return 1; }
}

trigger_scan() {
  az policy state trigger-scan --resource-group "$rg" --output none
}

non_compliant() {
  local states
  states=$(az policy state list --resource "$cluster_id" --query "[?policyAssignmentName=='no-privileged'].complianceState" --output tsv) || return 1
  echo "no-privileged: ${states:-<no state>}"
  [ "$states" = NonCompliant ]
}

namespace_gone() {
  local out
  if out=$(kc get namespace azure-policy --output name 2>&1); then
    echo "still there: $out"
    return 1
  fi
  grep -q NotFound <<<"$out" || { echo "$out"; return 1; }
}

# ---- today's add-on --------------------------------------------------------------------------

# gatekeeper_ready: Gatekeeper's Deployments in gatekeeper-system, every one 1/1.
gatekeeper_ready() {
  local table
  table=$(kc get deployments --namespace gatekeeper-system) || return 1
  echo "$table"
  awk 'NR > 1 { n++; if ($2 != "1/1") bad++ } END { exit !(n >= 1 && bad == 0) }' <<<"$table"
}

# assign_allowed_images EFFECT: (re)assigns the built-in by GUID; a second create of the same name
# replaces the assignment, as ARM's PUT does.
assign_allowed_images() {
  az policy assignment create --name allowed-images --policy "$allowed_images" --scope "$cluster_id" \
    --params "{\"effect\": {\"value\": \"$1\"}, \"allowedContainerImagesRegex\": {\"value\": \"^registry\\\\.example/.+$\"}}" \
    --output none
}

template_listed() {
  local out
  out=$(kc get constrainttemplates --output name) || return 1
  echo "$out"
  grep -q 'k8sazure.*containerallowedimages' <<<"$out"
}

# disallowed_pod_denied: the pod is refused by validation.gatekeeper.sh with the constraint's name.
disallowed_pod_denied() {
  local out
  if out=$(kc apply --namespace default -f "$disallowed_image_pod" 2>&1); then
    kc delete --namespace default -f "$disallowed_image_pod" --ignore-not-found --wait=false >/dev/null 2>&1
    echo "admitted: $out"
    return 1
  fi
  echo "$out"
  grep -q 'admission webhook "validation.gatekeeper.sh" denied the request: \[azurepolicy-' <<<"$out"
}

disallowed_pod_admitted() {
  local out
  out=$(kc apply --namespace default -f "$disallowed_image_pod" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
}

# component_non_compliant: the assignment is NonCompliant with the pod as a component.
component_non_compliant() {
  local out
  out=$(az policy state list --resource "$cluster_id" --filter "policyAssignmentName eq 'allowed-images'" \
    --expand "components(\$filter=ComplianceState eq 'NonCompliant')" --output json) || return 1
  echo "$out" | head -n 60
  python3 - "$out" <<'PY'
import json, sys
states = json.loads(sys.argv[1])
ok = any(s.get("complianceState") == "NonCompliant"
         and any("disallowed-image" in (c.get("name") or "") and c.get("complianceState") == "NonCompliant"
                 for c in s.get("components") or [])
         for s in states)
sys.exit(0 if ok else 1)
PY
}

gatekeeper_gone() {
  local out
  if out=$(kc get namespace gatekeeper-system --output name 2>&1); then
    echo "still there: $out"
    return 1
  fi
  grep -q NotFound <<<"$out" || { echo "$out"; return 1; }
}

# ---- the run -----------------------------------------------------------------------------------

# sandbox_session: starts the sandbox for $generation and logs in with the real az.
sandbox_session() {
  step "sandbox-$generation" start_sandbox || fatal
  kubeconfig=$(key kubeconfig)
  arm=$(key arm)
  ca=$(key ca)
  tenant=$(key tenant)
  subscription=$(key subscription)
  client_id=$(key client-id)
  client_secret=$(key client-secret)
  rm -rf "$work"
  work=$(mktemp -d)
  echo "sandbox ($generation add-on): arm $arm, tenant $tenant, subscription $subscription (log: $sandbox_log)"

  step cloud-register az cloud register --name AzureSim --endpoint-resource-manager "$arm/" || fatal
  step cloud-set az cloud set --name AzureSim || fatal
  step login-tenant-adfs login adfs || fatal
  step login-tenant-guid login "$tenant" || fatal
  step account-set select_subscription || fatal
  step provider-register register_providers || true
}

# current_walk: the README's walk-through of today's add-on.
current_walk() {
  generation=current
  sandbox_session
  step aks-create create_cluster || fatal
  echo "cluster: $cluster_id"
  step current-enable-addons --within 5 enable_addon || true
  step gatekeeper-ready --show poll 30 gatekeeper_ready || true
  step assign-allowed-images-deny assign_allowed_images deny || true
  step constrainttemplate-listed --within 10 --show poll 10 template_listed || true
  step disallowed-pod-denied --show poll 10 disallowed_pod_denied || true
  step assign-allowed-images-audit assign_allowed_images audit || true
  step disallowed-pod-admitted --show poll 10 disallowed_pod_admitted || true
  step current-trigger-scan trigger_scan || true
  step component-noncompliant poll 10 component_non_compliant || true
  step current-disable-addons --within 5 disable_addon || true
  step gatekeeper-removed poll 60 gatekeeper_gone || true
  stop_sandbox
}


main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  command -v kubectl >/dev/null || { echo "FAIL prerequisites: kubectl not found (Debian: apt-get install kubernetes-client)"; exit 1; }

  ensure_az

  step build build || fatal
  harness=${HARNESS_BIN:-$(target_dir)/debug/harness}

  current_walk

  # The 2019 preview, opted in with its features.
  generation=preview
  sandbox_session
  step feature-register-azurepolicy register_feature Microsoft.ContainerService AKS-AzurePolicyAutoApprove || true
  step feature-register-dataplane register_feature Microsoft.PolicyInsights AKS-DataplaneAutoApprove || true
  step provider-reregister register_providers || true

  step aks-create create_cluster || fatal
  echo "cluster: $cluster_id"
  step enable-addons --within 5 enable_addon || true
  step deployments-ready --show poll 30 deployments_ready || true

  step policy-assignment-create assign_policy || true
  step privileged-pod-denied --show deny_privileged_pod || true
  step policy-trigger-scan trigger_scan || true
  step policy-state-noncompliant poll 10 non_compliant || true

  step disable-addons --within 5 disable_addon || true
  step namespace-removed poll 60 namespace_gone || true

  summary
}

main "$@"
