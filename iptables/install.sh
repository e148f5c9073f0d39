#!/usr/bin/env bash
# Init container: sends pods' metadata traffic to the agent before the agent starts.
# Idempotent, so a restarted pod runs it again harmlessly.
# Environment: see corridor-iptables.sh.
set -euo pipefail
exec "$(dirname "$0")/corridor-iptables.sh" install
