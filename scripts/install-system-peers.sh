#!/usr/bin/env bash
# Installs the system tools the node-path e2e test (test/e2e/node-path.slow.test.ts) needs, with
# apt-get, when they are missing: iptables (iptables, iptables-restore, ip6tables,
# ip6tables-restore: Debian's iptables package has both) and iproute2 (ip netns).
# The test itself also needs root; without these tools or root it skips and says why.
set -euo pipefail
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"

apt_install_missing install-system-peers iptables=iptables iptables-restore=iptables ip6tables=iptables \
  ip6tables-restore=iptables ip=iproute2
