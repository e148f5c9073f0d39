#!/usr/bin/env bash
# Builds the AWS SDK for Go v2 peer (test/peers/go: config.LoadDefaultConfig -> ec2rolecreds over
# IMDSv2, then STS GetCallerIdentity) into a cache outside the repository, reuses it while its
# sources and the Go version are unchanged, and prints the binary's path on stdout.
#
#   GO_PEER=$(bash scripts/build-go-peer.sh)
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds bin/corridor-go-peer and its stamp (a hash of
# go.mod, go.sum and main.go, and the Go version). Progress goes to stderr. Exit 3 when Go is not
# installed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
module_dir="$root/test/peers/go"
cache=${CORRIDOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corridor}
bin_dir="$cache/bin"
binary="$bin_dir/corridor-go-peer"

if ! command -v go >/dev/null 2>&1; then
  echo "build-go-peer: go is not installed; cannot build the AWS SDK for Go v2 peer" >&2
  exit 3
fi
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
stamp=$( (go version; cd "$module_dir" && cat go.mod go.sum main.go) | sha256sum | cut -d' ' -f1)

if [ -x "$binary" ] && [ "$(cat "$binary.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$binary"
  exit 0
fi
mkdir -p "$bin_dir"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.build-go-peer.lock"
  flock 9
  if [ -x "$binary" ] && [ "$(cat "$binary.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$binary"
    exit 0
  fi
fi

echo "build-go-peer: building the AWS SDK for Go v2 peer with $(go version | cut -d' ' -f3) into $bin_dir" >&2
start=$(date +%s)
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$binary.tmp" .) >&2
mv -f "$binary.tmp" "$binary"
echo "$stamp" >"$binary.stamp"
echo "build-go-peer: built in $(($(date +%s) - start))s" >&2
echo "$binary"
