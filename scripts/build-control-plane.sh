#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module proxy through the
# wrapper module in scripts/k8s-bins, and caches them outside the repository.
#
#   scripts/build-control-plane.sh            build (or reuse) and print the bin dir on the last line
#   scripts/build-control-plane.sh --print    print the bin dir if cached, exit 1 otherwise
#
# Environment:
#   AKS_HARNESS_BIN_CACHE  cache root (default: ${XDG_CACHE_HOME:-~/.cache}/aks-policy-harness/k8s-bins)
#   KUBEBUILDER_ASSETS     a directory with etcd and kube-apiserver (e.g. from setup-envtest): reused,
#                          and only kube-controller-manager is built if it is missing there.
set -euo pipefail

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wrapper="$here/k8s-bins"
cache_root=${AKS_HARNESS_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-policy-harness/k8s-bins}
bin_dir="$cache_root/$K8S_VERSION-etcd$ETCD_VERSION"
bins=(etcd kube-apiserver kube-controller-manager)

say() { printf '[control-plane] %s\n' "$*" >&2; }
fail() { # step, fix
  printf '[control-plane] FAILED at step "%s".\n[control-plane] fix: %s\n' "$1" "$2" >&2
  exit 1
}
have_all() { local d=$1; for b in "${bins[@]}"; do [ -x "$d/$b" ] || return 1; done; }

if [ "${1:-}" = "--print" ]; then
  have_all "$bin_dir" && { echo "$bin_dir"; exit 0; }
  exit 1
fi

if have_all "$bin_dir"; then
  say "cached binaries found in $bin_dir"
  echo "$bin_dir"; exit 0
fi

mkdir -p "$bin_dir" || fail "create cache dir $bin_dir" "set AKS_HARNESS_BIN_CACHE to a writable directory"

# Reuse envtest binaries when the user has them.
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]; then
  say "reusing etcd and kube-apiserver from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  ln -sf "$KUBEBUILDER_ASSETS/etcd" "$bin_dir/etcd"
  ln -sf "$KUBEBUILDER_ASSETS/kube-apiserver" "$bin_dir/kube-apiserver"
  [ -x "$KUBEBUILDER_ASSETS/kube-controller-manager" ] && ln -sf "$KUBEBUILDER_ASSETS/kube-controller-manager" "$bin_dir/kube-controller-manager"
fi

command -v go >/dev/null 2>&1 || fail "find the Go toolchain" \
  "install Go >= 1.26 (https://go.dev/dl, or your package manager), or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and kube-controller-manager, or use --cluster k3s with Docker"

export CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
ver_flags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=36"

cd "$wrapper"
say "step 1/4: downloading Go modules (first run: several hundred MB)"
t0=$(date +%s)
go mod download >/dev/null || fail "go mod download" "check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
say "        modules ready in $(( $(date +%s) - t0 ))s"

build() { # step, output, package, ldflags
  local step=$1 out=$2 pkg=$3 ld=$4
  if [ -x "$bin_dir/$out" ]; then say "$step: $out already present"; return; fi
  say "$step: building $out (first run: several minutes on 2 cores)"
  local t=$(date +%s)
  go build -trimpath -pgo=off -ldflags "-s -w $ld" -o "$bin_dir/$out.tmp" "$pkg" \
    || fail "go build $out" "see the compiler output above; run 'go mod tidy' in $wrapper if a module is missing, and make sure ~2 GB of disk is free for GOCACHE"
  mv "$bin_dir/$out.tmp" "$bin_dir/$out"
  say "        $out built in $(( $(date +%s) - t ))s"
}
build "step 2/4" etcd go.etcd.io/etcd/server/v3 ""
build "step 3/4" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ver_flags"
build "step 4/4" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ver_flags"
say "done in $(( $(date +%s) - t0 ))s: $bin_dir"
echo "$bin_dir"
