#!/usr/bin/env bash
# Builds actionlint (the linter of GitHub Actions workflows) from source with Go (no binary
# download) into a cache outside the repo, reuses it when the cached binary already has the wanted
# version, and prints its path on stdout:
#
#   ACTIONLINT=$(bash scripts/install-actionlint.sh)   # then: "$ACTIONLINT" (lints .github/workflows)
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/actionlint; ACTIONLINT_VERSION (default
# v1.7.12). Progress goes to stderr so that stdout is only the path. Exit 3 when Go is not installed.
set -euo pipefail
name=install-actionlint
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

version=${ACTIONLINT_VERSION:-v1.7.12}
binary="$bin_dir/actionlint"

installed_version() {
  # `actionlint -version` prints the module version (e.g. v1.7.12) on its first line.
  "$binary" -version 2>/dev/null | head -1 || true
}

reuse_or_lock actionlint "$binary" has_pinned_version "$bin_dir"
require_tools "actionlint $version" go

# As install-helm.sh: ignore an inherited GOFLAGS=-mod=vendor, never fetch another Go.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

build_started "actionlint $version with $(go version | cut -d' ' -f3)" "$bin_dir"
GOBIN="$bin_dir" go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
build_done "$binary" actionlint
