#!/usr/bin/env bash
# Builds Amazon's EC2 metadata mock (github.com/aws/amazon-ec2-metadata-mock, a real IMDS
# simulator) with `go install` into a cache outside the repo, reuses it when the cached binary
# already has the wanted version, and prints its path on stdout. The tests run it on loopback as
# the upstream of the passthrough paths; never on 169.254.169.254.
#
#   MOCK=$(bash scripts/install-ec2-metadata-mock.sh)   # then: "$MOCK" --hostname 127.0.0.1 --port 0 --imdsv2
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/ec2-metadata-mock; EC2_METADATA_MOCK_VERSION
# (default v1.13.0). Progress goes to stderr so that stdout is only the path. Exit 3 when Go is
# not installed.
set -euo pipefail
name=install-ec2-metadata-mock
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

version=${EC2_METADATA_MOCK_VERSION:-v1.13.0}
binary="$bin_dir/ec2-metadata-mock"

installed_version() {
  # `ec2-metadata-mock --version` prints e.g. v1.13.0 (embedded from the module's version.txt);
  # a foreign or broken binary prints nothing.
  "$binary" --version 2>/dev/null | sed -nE 's/^(v[0-9]+\.[0-9]+\.[0-9]+)$/\1/p' | head -1 || true
}

reuse_or_lock ec2-metadata-mock "$binary" has_pinned_version "$bin_dir"
require_tools "ec2-metadata-mock $version" go

# -mod=mod: `go install pkg@version` ignores any go.mod around it, but a GOFLAGS=-mod=vendor
# inherited from the environment would break it. GOTOOLCHAIN=local: never fetch another Go.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

build_started "ec2-metadata-mock $version with $(go version | cut -d' ' -f3)" "$bin_dir"
GOBIN="$bin_dir" go install -trimpath -ldflags "-s -w" "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$version" >&2
build_done "$binary" ec2-metadata-mock
