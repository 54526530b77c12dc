#!/usr/bin/env bash
# What the tests need besides Rust, checked before anything is built: kubectl (a test drives the
# cluster with it) and headless Chromium (a test renders the HTML report), plus Go or cached
# control-plane binaries. Missing Debian packages are installed with apt-get when running as root;
# otherwise this stops at once with one line naming the tool and the command that installs it.
#
#   scripts/prerequisites.sh          check and install; exit 1 with a message when something is missing
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[prerequisites] %s\n' "$*" >&2; }
missing() { # tool, how to get it
  say "missing: $1. Install it with: $2"
  exit 1
}

apt_updated=""
can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() { # package...
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null 2>&1 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

need() { # "command[|alternative]", Debian package, install hint
  local cmds=$1 pkg=$2 hint=$3 cmd
  have() { for cmd in ${cmds//|/ }; do command -v "$cmd" >/dev/null 2>&1 && return 0; done; return 1; }
  have && return
  if can_apt; then
    say "installing ${cmds%%|*} (Debian package $pkg)"
    apt_install "$pkg" && have && return
  fi
  missing "${cmds%%|*}" "$hint"
}

need cargo cargo "rustup (https://rustup.rs), Rust 1.89 or newer"
need kubectl kubernetes-client "sudo apt-get install kubernetes-client (Debian/Ubuntu), or see https://kubernetes.io/docs/tasks/tools/"
need "chromium|chromium-browser" chromium "sudo apt-get install chromium (Debian/Ubuntu)"

# The control plane: cached binaries, envtest binaries, or Go to build them.
if ! bash "$here/build-control-plane.sh" --print >/dev/null 2>&1 \
  && [ -z "${KUBEBUILDER_ASSETS:-}" ] && ! command -v go >/dev/null 2>&1; then
  missing "go (to build etcd, kube-apiserver and kube-controller-manager once)" \
    "sudo apt-get install golang-go (needs Go 1.26+; else https://go.dev/dl), or set KUBEBUILDER_ASSETS to envtest binaries"
fi
say "ok: cargo, kubectl, chromium, control plane (cached or buildable)"
