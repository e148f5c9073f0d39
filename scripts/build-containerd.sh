#!/usr/bin/env bash
# Builds containerd v2 (containerd, containerd-shim-runc-v2, ctr) from the Go module pinned in
# test/node/containerd/go.mod into a cache outside the repository, reuses it while the cached
# binaries report the pinned version, and prints the bin directory on stdout.
#
#   BIN=$(bash scripts/build-containerd.sh)
#
# kubelet 1.37 needs a containerd 2.x; Debian bookworm packages 1.6. Static, without cgo: the
# btrfs and devmapper snapshotters (which need cgo) are left out; the node uses overlayfs or native.
set -euo pipefail
name=build-containerd
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/node/containerd"
# Required as a tool dependency (inside go.mod's require block, marked indirect).
version=$(sed -nE 's|^\s+github.com/containerd/containerd/v2 (v[0-9.]+) .*|\1|p' "$module_dir/go.mod")
binary="$bin_dir/containerd"
installed_version() {
  # `containerd --version` prints "containerd github.com/containerd/containerd/v2 v2.4.2 ...".
  "$binary" --version 2>/dev/null | awk '{print $3}' || true
}
all_current() {
  has_pinned_version && [ -x "$bin_dir/containerd-shim-runc-v2" ] && [ -x "$bin_dir/ctr" ]
}
reuse_or_lock containerd "$bin_dir" all_current "$bin_dir"
require_tools "containerd $version" go

export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$version"
build_started "containerd $version with $(go version | cut -d' ' -f3)" "$bin_dir"
out=$(mktemp -d "$bin_dir/.containerd.XXXXXX")
trap 'rm -rf "$out"' EXIT
(cd "$module_dir" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ldflags" -o "$out/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr) >&2
mv -f "$out"/* "$bin_dir/"
build_done "$bin_dir" containerd
