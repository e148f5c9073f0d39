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

root=$(cd "$(dirname "$0")/.." && pwd)
module_dir="$root/test/peers/kube-apiserver"
version=$(sed -nE 's/^require k8s\.io\/kubernetes (v[0-9.]+)$/\1/p' "$module_dir/go.mod")
[ -n "$version" ] || { echo "build-kube-apiserver: no k8s.io/kubernetes version in $module_dir/go.mod" >&2; exit 1; }
cache=${CORRIDOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corridor}
bin_dir="$cache/bin"
binary="$bin_dir/kube-apiserver"

installed_version() {
  # `kube-apiserver --version` prints "Kubernetes v1.37.2"; a foreign or broken binary prints nothing.
  "$binary" --version 2>/dev/null | sed -nE 's/^Kubernetes (v[0-9.]+)$/\1/p' || true
}

# shellcheck source=scripts/lib/cached-go-binary.sh
source "$(dirname "$0")/lib/cached-go-binary.sh"
reuse_or_lock kube-apiserver "$binary" "$version" "$cache"

# -mod=readonly: build exactly what go.mod/go.sum pin (and never rewrite them), even if
# GOFLAGS=-mod=vendor or -mod=mod is inherited.
# GOTOOLCHAIN=local: never fetch another Go. No cgo: a static binary, and a faster build.
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

# Stamp the version as hack/lib/version.sh does: the server reports it on /version, and its
# compatibility-version logic reads it (an unstamped build calls itself v0.0.0-master).
minor=$(sed -nE 's/^v1\.([0-9]+)\..*/\1/p' <<<"$version")
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "build-kube-apiserver: building kube-apiserver $version with $(go version | cut -d' ' -f3) into $bin_dir (first build takes several minutes)" >&2
start=$(date +%s)
(cd "$module_dir" && go build -trimpath -ldflags "$ldflags" -o "$binary.tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2
mv -f "$binary.tmp" "$binary"
echo "build-kube-apiserver: built in $(($(date +%s) - start))s" >&2

got=$(installed_version)
if [ "$got" != "$version" ]; then
  echo "build-kube-apiserver: built kube-apiserver reports version '$got', wanted $version" >&2
  exit 1
fi
echo "$binary"
