#!/usr/bin/env bash
# Taking corridor off a node: afterwards pods reach the node's own metadata service
# again. Never run it to stop the agent; a stopped agent behind the rules fails closed.
# Environment: see corridor-iptables.sh.
set -euo pipefail
exec "$(dirname "$0")/corridor-iptables.sh" remove
