#!/usr/bin/env bash
# Builds the helm CLI from source with Go (no binary download) into a cache outside the repo,
# reuses it when the cached binary already has the wanted version, and prints its path on stdout.
#
#   HELM=$(bash scripts/install-helm.sh)      # then: "$HELM" lint helm/corridor
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/helm; HELM_VERSION (default v3.22.0).
# Progress goes to stderr so that stdout is only the path. Exit 3 when Go is not installed.
set -euo pipefail
name=install-helm
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

version=${HELM_VERSION:-v3.22.0}
binary="$bin_dir/helm"

installed_version() {
  # `helm version --template` prints e.g. v3.22.0; an unreadable or foreign binary prints nothing.
  "$binary" version --template '{{.Version}}' 2>/dev/null || true
}

reuse_or_lock helm "$binary" has_pinned_version "$bin_dir"
require_tools "helm $version" go

# -mod=mod: `go install pkg@version` ignores any go.mod around it, but a GOFLAGS=-mod=vendor
# inherited from the environment would break it. GOTOOLCHAIN=local: never fetch another Go.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

build_started "helm $version with $(go version | cut -d' ' -f3)" "$bin_dir (first build takes a few minutes)"
# Stamp the version and the Kubernetes version (lint deprecations, .Capabilities.KubeVersion) the
# way helm's Makefile does; without it `helm version` says v3.22 and helm assumes Kubernetes 1.20.
module_dir=$(go mod download -json "helm.sh/helm/v3@$version" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
client_go=$(sed -nE 's/^[[:space:]]*k8s\.io\/client-go v0\.([0-9]+)\..*/\1/p' "$module_dir/go.mod")
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
if [ -n "$client_go" ]; then
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$client_go"
  done
fi
GOBIN="$bin_dir" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version" >&2
build_done "$binary" helm
