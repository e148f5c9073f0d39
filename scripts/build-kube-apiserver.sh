#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes Go module pinned in
# test/peers/kube-apiserver/go.mod into a cache outside the repository, reuses it when the cached
# binary already reports the pinned version, and prints its path on stdout.
#
#   KUBE_APISERVER=$(bash scripts/build-kube-apiserver.sh)
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/kube-apiserver. Progress goes to stderr so
# that stdout is only the path. Exit 3 when Go is not installed. The first build takes several
# minutes on two cores (and about 1 GB of module downloads); later runs return at once.
set -euo pipefail
name=build-kube-apiserver
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/peers/kube-apiserver"
version=$(go_mod_version "$module_dir/go.mod" k8s.io/kubernetes)
binary="$bin_dir/kube-apiserver"

installed_version() {
  # `kube-apiserver --version` prints "Kubernetes v1.37.2"; a foreign or broken binary prints nothing.
  "$binary" --version 2>/dev/null | sed -nE 's/^Kubernetes (v[0-9.]+)$/\1/p' || true
}

reuse_or_lock kube-apiserver "$binary" has_pinned_version "$bin_dir"
require_tools "kube-apiserver $version" go

kube_build_env "$version"

build_started "kube-apiserver $version with $(go version | cut -d' ' -f3)" "$bin_dir (first build takes several minutes)"
(cd "$module_dir" && go build -trimpath -ldflags "$ldflags" -o "$binary.tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2
mv -f "$binary.tmp" "$binary"
build_done "$binary" kube-apiserver
