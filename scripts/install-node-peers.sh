#!/usr/bin/env bash
# Installs the Debian packages the real-node test (`npm run test:node`) runs with, when missing:
# the CNI plugins (bridge, host-local, loopback, portmap), conntrack (kube-proxy), libseccomp-dev
# and pkg-config (to build runc with seccomp), iptables, iproute2, openssl and util-linux
# (nsenter, unshare). buildah, debootstrap and catatonit are scripts/build-node-images.sh's.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev pkg-config)
command -v iptables-save >/dev/null 2>&1 || missing+=(iptables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
if ((${#missing[@]} == 0)); then exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "install-node-peers: missing ${missing[*]} and there is no apt-get" >&2; exit 1; }
echo "install-node-peers: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
  || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
