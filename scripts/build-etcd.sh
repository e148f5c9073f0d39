#!/usr/bin/env bash
# Builds etcd from the go.etcd.io/etcd/server/v3 Go module pinned in test/peers/etcd/go.mod into
# a cache outside the repository, reuses it when the cached binary already reports the pinned
# version, and prints its path on stdout. (Debian's etcd-server is 3.4, older than what a
# current kube-apiserver supports, so it is built like kube-apiserver instead.)
#
#   ETCD=$(bash scripts/build-etcd.sh)
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/etcd. Progress goes to stderr so that
# stdout is only the path. Exit 3 when Go is not installed.
set -euo pipefail
name=build-etcd
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/peers/etcd"
version=$(go_mod_version "$module_dir/go.mod" go.etcd.io/etcd/server/v3)
version=${version#v}
binary="$bin_dir/etcd"

installed_version() {
  # `etcd --version` prints "etcd Version: 3.7.3" first; a foreign or broken binary prints nothing.
  "$binary" --version 2>/dev/null | sed -nE 's/^etcd Version: ([0-9.]+)$/\1/p' || true
}

reuse_or_lock etcd "$binary" has_pinned_version "$bin_dir"
require_tools "etcd $version" go

export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

build_started "etcd $version with $(go version | cut -d' ' -f3)" "$bin_dir (first build takes a few minutes)"
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$binary.tmp" go.etcd.io/etcd/server/v3) >&2
mv -f "$binary.tmp" "$binary"
build_done "$binary" etcd
