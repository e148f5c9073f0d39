#!/usr/bin/env bash
# `npm run test:peers`: the agent against real peers, kept out of `npm test` (test/peers/*.peer.ts).
#   kube-apiserver   built from k8s.io/kubernetes (scripts/build-kube-apiserver.sh) on etcd
#                    (scripts/build-etcd.sh), RBAC from manifests/, pods through the API; the
#                    agent's list client in pages and with gzip (kube-list-pages.peer.ts)
#                    and, with API Priority and Fairness on, a rollout of 400 agents' Kubernetes
#                    code with and without the chart's flow schema (flow-schema.peer.ts;
#                    CORRIDOR_FLEET_AGENTS=1000 for the full-size run, about 10 minutes)
#   botocore         boto3/botocore (scripts/install-python-peers.sh)
#   aws-sdk-js-v3    this package's own @aws-sdk dependencies
#   aws-sdk-java-v2  built with Maven (scripts/build-java-peer.sh)
#   aws-sdk-go-v2    built with Go (scripts/build-go-peer.sh)
#   agent-restart    the four SDKs above, each across a SIGKILL and restart of a real agent
#                    process, with --token-key-dir and with a memory key (restart.peer.ts)
# Builds are cached in ${CORRIDOR_CACHE:-~/.cache/corridor} (and ~/.m2, Go's module cache); a
# first kube-apiserver build takes 10-15 minutes on two cores, later runs reuse it.
#
# Prints `peers: <peer> <version>, ...` naming every peer that passed, then one line for each
# peer skipped (its toolchain is missing: the reason) or failed. Exits non-zero when a test
# failed; a skipped peer fails the run only with CORRIDOR_PEERS_REQUIRE_ALL=1.
set -uo pipefail
cd "$(dirname "$0")/.."

PEERS=(kube-apiserver botocore aws-sdk-js-v3 aws-sdk-java-v2 aws-sdk-go-v2 agent-restart)
report=$(mktemp)
log=$(mktemp)
trap 'rm -f "$report" "$log"' EXIT
export CORRIDOR_PEERS_REPORT=$report

# Python peers (moto as STS for every SDK test, boto3 as a client), installed by package name.
if command -v python3 >/dev/null 2>&1; then
  bash scripts/install-python-peers.sh || echo "test-peers: the python peers could not be installed; their tests will say so"
fi

# Build (or find in the cache) what the tests run, before tap's per-file timeout starts. A
# missing toolchain exits 3 and its test skips, saying so; any other failure fails its test.
echo "== peer builds (cache: ${CORRIDOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corridor})"
for script in build-kube-apiserver.sh build-etcd.sh build-java-peer.sh build-go-peer.sh; do
  start=$(date +%s)
  if path=$(bash "scripts/$script"); then
    echo "   $script: $path ($(($(date +%s) - start))s)"
  else
    echo "   $script: exit $? after $(($(date +%s) - start))s (its test says why)"
  fi
done

echo "== peer tests"
npx tap --timeout=900 --reporter=tap test/peers/*.peer.ts 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

node - "$report" "$status" "${PEERS[@]}" <<'EOF'
const [file, status, ...peers] = process.argv.slice(2);
const lines = require('node:fs').readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const passed = new Map(), skipped = new Map();
for (const entry of lines) (entry.skipped ? skipped : passed).set(entry.peer, entry.skipped ?? entry.version);
console.log(`peers: ${peers.filter((p) => passed.has(p)).map((p) => `${p} ${passed.get(p)}`).join(', ') || 'none passed'}`);
for (const p of peers) {
  if (skipped.has(p)) console.log(`peer skipped: ${p}: ${skipped.get(p)}`);
  else if (!passed.has(p)) console.log(`peer failed: ${p} (see its test above)`);
}
EOF

summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -1)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary")
pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
if [ "${CORRIDOR_PEERS_REQUIRE_ALL:-0}" = 1 ] && grep -q '"skipped"' "$report"; then
  echo "test-peers: CORRIDOR_PEERS_REQUIRE_ALL=1 and a peer was skipped"
  status=1
fi
echo "peer-tests: ${pass} passed, ${fail} failed, ${skip} skipped"
exit "$status"
