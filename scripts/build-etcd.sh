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

root=$(cd "$(dirname "$0")/.." && pwd)
module_dir="$root/test/peers/etcd"
version=$(sed -nE 's/^require go\.etcd\.io\/etcd\/server\/v3 v([0-9.]+)$/\1/p' "$module_dir/go.mod")
[ -n "$version" ] || { echo "build-etcd: no go.etcd.io/etcd/server/v3 version in $module_dir/go.mod" >&2; exit 1; }
cache=${CORRIDOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corridor}
bin_dir="$cache/bin"
binary="$bin_dir/etcd"

installed_version() {
  # `etcd --version` prints "etcd Version: 3.7.3" first; a foreign or broken binary prints nothing.
  "$binary" --version 2>/dev/null | sed -nE 's/^etcd Version: ([0-9.]+)$/\1/p' || true
}

# shellcheck source=scripts/lib/cached-go-binary.sh
source "$(dirname "$0")/lib/cached-go-binary.sh"
reuse_or_lock etcd "$binary" "$version" "$cache"

export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

echo "build-etcd: building etcd $version with $(go version | cut -d' ' -f3) into $bin_dir (first build takes a few minutes)" >&2
start=$(date +%s)
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$binary.tmp" go.etcd.io/etcd/server/v3) >&2
mv -f "$binary.tmp" "$binary"
echo "build-etcd: built in $(($(date +%s) - start))s" >&2

got=$(installed_version)
if [ "$got" != "$version" ]; then
  echo "build-etcd: built etcd reports version '$got', wanted $version" >&2
  exit 1
fi
echo "$binary"
