#!/usr/bin/env bash
# `npm run test:node`: corridor on a real one-node cluster (test/node/cluster.sh) with images
# built from the Dockerfile (scripts/build-node-images.sh), then test/node/real-node.node.ts
# inside the node's namespaces. Builds what it needs into the cache outside the repo first (the
# Kubernetes components, containerd and runc, etcd, helm, the images). The node is taken down on
# every exit, Ctrl-C included, and the script checks it left nothing behind.
#
# Where this machine cannot run a node (not root, no network or mount namespaces, no cgroup v1
# or v2 controllers, no Go), it says why and prints a tap summary with one skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
started=$SECONDS

skip() {
  echo "test:node skipped: $1"
  echo "# { total: 1, pass: 0, skip: 1 }"
  exit 0
}
fail() {
  echo "test:node: $1"
  echo "# { total: 1, pass: 0, fail: 1 }"
  exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, iptables, cgroups)"
unshare --net --mount true 2>/dev/null || skip "cannot create network and mount namespaces here"
[ -d /sys/fs/cgroup/memory ] || [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] || skip "no cgroup hierarchy for kubelet"
command -v go >/dev/null 2>&1 || skip "no Go toolchain to build the Kubernetes components and containerd"

bash scripts/install-node-peers.sh || fail "the node's Debian packages could not be installed (scripts/install-node-peers.sh)"
bash scripts/install-python-peers.sh >/dev/null || fail "moto could not be installed (scripts/install-python-peers.sh)"
step() { echo "== test:node: $1 ($((SECONDS - started)) s)"; }
step "building or reusing the components"
ETCD=$(bash scripts/build-etcd.sh) || fail "etcd could not be built"
KUBE_APISERVER=$(bash scripts/build-kube-apiserver.sh) || fail "kube-apiserver could not be built"
KUBE_BIN=$(bash scripts/build-kube-node.sh) || fail "the node's Kubernetes components could not be built"
CONTAINERD_BIN=$(bash scripts/build-containerd.sh) || fail "containerd and runc could not be built"
HELM=$(bash scripts/install-helm.sh) || fail "helm could not be built"
NODE24=$(bash scripts/install-node24.sh) || fail "Node.js 24 could not be installed"
step "building or reusing the images"
IMAGES_DIR=$(bash scripts/build-node-images.sh) || fail "the images could not be built (scripts/build-node-images.sh)"
npm run build --silent || fail "npm run build failed"
export ETCD KUBE_APISERVER KUBE_BIN CONTAINERD_BIN IMAGES_DIR NODE24

cleanup() {
  trap - EXIT INT TERM
  bash test/node/cluster.sh down
  local left=""
  ip netns list 2>/dev/null | grep -q '^corridor-node' && left+=" network namespaces;"
  ls -d /sys/fs/cgroup/*/corridor-node >/dev/null 2>&1 && left+=" cgroups;"
  pgrep -f "${CORRIDOR_NODE_STATE:-/tmp/corridor-node}/" >/dev/null && left+=" processes;"
  if [ -n "$left" ]; then
    echo "test:node: the node left behind:$left"
    status=1
  fi
  echo "== test:node: done in $((SECONDS - started)) s"
  exit "${status:-1}"
}
trap cleanup EXIT
trap 'echo "test:node: interrupted"; status=130; cleanup' INT TERM

step "starting the node"
bash test/node/cluster.sh up || fail "the node did not start (logs in ${CORRIDOR_NODE_STATE:-/tmp/corridor-node}/logs)"
step "the suite"
bash test/node/cluster.sh exec -- env HELM="$HELM" PATH="$(dirname "$NODE24"):$PATH" \
  npx tap --timeout=1500 --reporter=tap test/node/real-node.node.ts
status=$?
if [ "$status" -ne 0 ]; then
  echo "== test:node: logs of the node's daemons: ${CORRIDOR_NODE_STATE:-/tmp/corridor-node}/logs (tails below)"
  for log in "${CORRIDOR_NODE_STATE:-/tmp/corridor-node}"/logs/*.log; do
    echo "--- $log"
    tail -n 5 "$log" | cut -c1-300
  done
fi
