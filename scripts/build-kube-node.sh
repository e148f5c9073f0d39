#!/usr/bin/env bash
# Builds the node's Kubernetes components for `npm run test:node` (kubelet, kube-proxy,
# kube-controller-manager, kube-scheduler and kubectl) from the same k8s.io/kubernetes module as
# kube-apiserver (test/peers/kube-apiserver/go.mod) into a cache outside the repository, reuses
# them while every cached binary reports the pinned version, and prints the bin directory.
#
#   BIN=$(bash scripts/build-kube-node.sh)
#
# One `go build` for all five, so the packages they share compile once: 2-3 minutes on two cores
# the first time after kube-apiserver's build (whose compiled packages they reuse), nothing later.
set -euo pipefail
name=build-kube-node
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/peers/kube-apiserver"
version=$(go_mod_version "$module_dir/go.mod" k8s.io/kubernetes)
components=(kubelet kube-proxy kube-controller-manager kube-scheduler kubectl)

component_version() {
  # The daemons print "Kubernetes v1.37.2"; `kubectl version --client`, "Client Version: v1.37.2".
  local args=(--version)
  [ "$1" = kubectl ] && args=(version --client)
  "$bin_dir/$1" "${args[@]}" 2>/dev/null | sed -nE 's/^(Kubernetes|Client Version:) (v[0-9.]+)$/\2/p' || true
}
all_current() {
  local c
  for c in "${components[@]}"; do
    [ -x "$bin_dir/$c" ] && [ "$(component_version "$c")" = "$version" ] || return 1
  done
}
reuse_or_lock kube-node "$bin_dir" all_current "$bin_dir"
require_tools "the node's Kubernetes components $version" go

kube_build_env "$version"

build_started "${components[*]} $version with $(go version | cut -d' ' -f3)" "$bin_dir (the first build takes 2-3 minutes after kube-apiserver's)"
out=$(mktemp -d "$bin_dir/.kube-node.XXXXXX")
trap 'rm -rf "$out"' EXIT
(cd "$module_dir" && go build -trimpath -ldflags "$ldflags" -o "$out/" $(printf 'k8s.io/kubernetes/cmd/%s ' "${components[@]}")) >&2
for c in "${components[@]}"; do
  mv -f "$out/$c" "$bin_dir/$c"
  got=$(component_version "$c")
  if [ "$got" != "$version" ]; then
    echo "$name: built $c reports version '$got', wanted $version" >&2
    exit 1
  fi
done
echo "$name: built in $(($(date +%s) - build_start))s" >&2
echo "$bin_dir"
