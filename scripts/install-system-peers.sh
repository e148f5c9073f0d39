#!/usr/bin/env bash
# Installs the system tools the node-path e2e test (test/e2e/node-path.test.ts) needs, with
# apt-get, when they are missing: iptables (iptables, iptables-restore, ip6tables,
# ip6tables-restore: Debian's iptables package has both) and iproute2 (ip netns).
# The test itself also needs root; without these tools or root it skips and says why.
set -euo pipefail

# sbin directories are not on every user's PATH, but that is where these tools live.
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
for tool in iptables iptables-restore ip6tables ip6tables-restore; do
  command -v "$tool" >/dev/null 2>&1 || { missing+=(iptables); break; }
done
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if ((${#missing[@]} == 0)); then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-peers: ${missing[*]} missing and there is no apt-get; install them with your package manager" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-system-peers: ${missing[*]} missing; run as root (or with sudo) to install them" >&2
    exit 1
  fi
  sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
