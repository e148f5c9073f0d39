#!/usr/bin/env bash
# Installs the Debian packages the real-node test (`npm run test:node`) runs with, when missing:
# the CNI plugins (bridge, host-local, loopback, portmap), conntrack (kube-proxy), libseccomp-dev
# and pkg-config (to build runc with seccomp), gcc (runc's cgo), iptables, iproute2, openssl and
# util-linux (nsenter, unshare). buildah, runc, debootstrap and catatonit are
# scripts/build-node-images.sh's.
set -euo pipefail
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"

apt_install_missing install-node-peers \
  /usr/lib/cni/bridge=containernetworking-plugins conntrack=conntrack \
  /usr/include/seccomp.h=libseccomp-dev pkg-config=pkg-config gcc=gcc \
  iptables-save=iptables ip=iproute2 openssl=openssl nsenter=util-linux unshare=util-linux
