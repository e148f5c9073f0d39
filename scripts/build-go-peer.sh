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
name=build-go-peer
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

module_dir="$root/test/peers/go"
binary="$bin_dir/corridor-go-peer"

require_tools "the AWS SDK for Go v2 peer" go
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
stamp=$( (go version; cd "$module_dir" && cat go.mod go.sum main.go) | sha256sum | cut -d' ' -f1)

up_to_date() {
  [ -x "$binary" ] && [ "$(cat "$binary.stamp" 2>/dev/null)" = "$stamp" ]
}
reuse_or_lock go-peer "$binary" up_to_date "$bin_dir"

build_started "the AWS SDK for Go v2 peer with $(go version | cut -d' ' -f3)" "$bin_dir"
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$binary.tmp" .) >&2
mv -f "$binary.tmp" "$binary"
echo "$stamp" >"$binary.stamp"
build_done "$binary"
