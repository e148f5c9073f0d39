#!/usr/bin/env bash
# corridor-iptables.sh install|check|remove: the node's rules that send pods' metadata traffic
# (169.254.169.254:80, and [fd00:ec2::254]:80 with ip6tables) to the corridor agent, run from the
# DaemonSet's containers. The work is done by `corridor iptables`; this only maps the DaemonSet's
# environment onto it:
#   HOST_IP             the node IP (fieldRef status.hostIP); the agent listens there. CORRIDOR_HOST_IP wins if set.
#   CORRIDOR_HOST_IPV6  the node's IPv6 address, or status.hostIPs (the IPv6 one is taken); empty:
#                       pods' IPv6 metadata traffic is refused (read by corridor itself)
#   CORRIDOR_IPV6       auto (default), on or off: see `corridor iptables --help` (read by corridor itself)
#   CORRIDOR_PORT       the agent's metadata port (default 8181)
#   CORRIDOR_INTERFACE  pod interface patterns, comma-separated: cali+, eni+, cni0, veth+, !eth0
#   CORRIDOR_BIN        the corridor executable (default: corridor on PATH)
# Needs NET_ADMIN in the host network namespace. Exit codes are corridor's: 0 ok, 1 check failed
# or iptables failed, 2 bad configuration.
set -euo pipefail

action=${1:-}
case "$action" in
  install | check | remove) ;;
  *)
    echo "usage: $0 install|check|remove" >&2
    exit 2
    ;;
esac

args=(iptables "$action")
if [[ $action != remove ]]; then
  host_ip=${CORRIDOR_HOST_IP:-${HOST_IP:-}}
  if [[ -z $host_ip ]]; then
    echo "$0: HOST_IP (or CORRIDOR_HOST_IP) must be set to the node IP the agent listens on" >&2
    exit 2
  fi
  args+=(--host-ip "$host_ip")
fi

exec "${CORRIDOR_BIN:-corridor}" "${args[@]}"
