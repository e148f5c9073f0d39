#!/usr/bin/env bash
# Probe: exits 1 when a rule is missing or differs (say someone flushed the nat table), so
# the problem shows as an unready agent pod instead of going unnoticed.
# Environment: see corridor-iptables.sh.
set -euo pipefail
exec "$(dirname "$0")/corridor-iptables.sh" check
