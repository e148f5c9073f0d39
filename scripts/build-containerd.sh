#!/usr/bin/env bash
# Builds containerd v2 (containerd, containerd-shim-runc-v2, ctr) and runc from the Go module
# pinned in test/node/containerd/go.mod into a cache outside the repository, reuses them while
# the cached binaries report the pinned versions, and prints the bin directory on stdout.
#
#   BIN=$(bash scripts/build-containerd.sh)
#
# kubelet 1.37 needs a containerd 2.x; Debian bookworm packages 1.6. Static, without cgo: the
# btrfs and devmapper snapshotters (which need cgo) are left out; the node uses overlayfs.
# Debian's runc 1.1.5 cannot start containerd 2.4's containers here ("can't get final child's PID
# from pipe"), so runc is built too: with cgo and libseccomp (Debian: libseccomp-dev, pkg-config).
set -euo pipefail
name=build-containerd
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/node/containerd"
# Required as tool dependencies (inside go.mod's require block, marked indirect).
required() { sed -nE "s|^\s+$1 (v[0-9.]+) .*|\1|p" "$module_dir/go.mod"; }
version=$(required github.com/containerd/containerd/v2)
runc_version=$(required github.com/opencontainers/runc)
binary="$bin_dir/containerd"
installed_version() {
  # `containerd --version` prints "containerd github.com/containerd/containerd/v2 v2.4.2 ...".
  "$binary" --version 2>/dev/null | awk '{print $3}' || true
}
runc_current() {
  # `runc --version` prints "runc version 1.5.3" first.
  [ "$("$bin_dir/runc" --version 2>/dev/null | sed -nE 's/^runc version ([0-9.]+)$/v\1/p')" = "$runc_version" ]
}
all_current() {
  has_pinned_version && [ -x "$bin_dir/containerd-shim-runc-v2" ] && [ -x "$bin_dir/ctr" ] && runc_current
}
reuse_or_lock containerd "$bin_dir" all_current "$bin_dir"
require_tools "containerd $version" go
require_tools "runc $runc_version (cgo, libseccomp)" gcc pkg-config
pkg-config --exists libseccomp || { echo "$name: libseccomp-dev is not installed; cannot build runc" >&2; exit 3; }

export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$version"
build_started "containerd $version with $(go version | cut -d' ' -f3)" "$bin_dir"
out=$(mktemp -d "$bin_dir/.containerd.XXXXXX")
trap 'rm -rf "$out"' EXIT
(cd "$module_dir" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ldflags" -o "$out/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr) >&2
(cd "$module_dir" && CGO_ENABLED=1 go build -trimpath -tags seccomp \
  -ldflags "-s -w -X main.version=${runc_version#v}" -o "$out/runc" github.com/opencontainers/runc) >&2
mv -f "$out"/* "$bin_dir/"
runc_current || { echo "$name: built runc does not report $runc_version" >&2; exit 1; }
build_done "$bin_dir" containerd
