#!/usr/bin/env bash
# Unpacks Debian's qemu-user-static into a cache outside the repo and prints the path of its
# qemu-aarch64-static on stdout: the arm64 image's own programs run under it one at a time, as
# `qemu-aarch64-static -L <the image's root> <program>` (test/image/). The .deb is downloaded and
# unpacked with dpkg-deb -x, never installed: its maintainer scripts would register binfmt handlers,
# a kernel-wide setting that this must never change.
#
#   QEMU=$(bash scripts/install-qemu-user.sh)
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds qemu-user/. Exit 3 when apt-get or dpkg-deb is
# missing or the package cannot be downloaded.
set -euo pipefail
name=install-qemu-user
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"

install_dir="$cache/qemu-user"
binary="$install_dir/usr/bin/qemu-aarch64-static"
is_current() { [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; }

reuse_or_lock qemu-user "$binary" is_current "$cache"
require_tools "qemu-user-static" apt-get dpkg-deb
build_started "Debian's qemu-user-static (unpacked, not installed)" "$install_dir"
work=$(mktemp -d "$cache/.qemu-user.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -qq qemu-user-static 2>/dev/null || { apt-get update -qq && apt-get download -qq qemu-user-static; }); then
  echo "$name: apt-get download qemu-user-static failed" >&2
  exit 3
fi
dpkg-deb -x "$work"/qemu-user-static_*.deb "$work/root"
rm -rf "$install_dir"
mkdir -p "$install_dir/usr/bin"
mv "$work/root/usr/bin/qemu-aarch64-static" "$install_dir/usr/bin/"
build_done "$binary"
