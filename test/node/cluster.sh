#!/usr/bin/env bash
# A one-node Kubernetes cluster for `npm run test:node`, entirely inside a network namespace and
# a mount namespace this script creates: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd (with runc and the CNI bridge), kubelet and kube-proxy, plus moto as
# STS and a stand-in for the node's real instance metadata service on 169.254.169.254:80, one hop
# beyond the node as on EC2.
#
#   test/node/cluster.sh up      starts it (first removing whatever a crashed run left)
#   test/node/cluster.sh exec -- CMD...   runs CMD inside the node's namespaces
#   test/node/cluster.sh imds v1-allowed|v2-required [HOP_LIMIT]   restarts the metadata stand-in
#                                with that posture (default: v1-allowed, hop limit 1)
#   test/node/cluster.sh reboot  the worker node's reboot: kubelet, kube-proxy, containerd and every
#                                pod stop; pod sandboxes, the CNI bridge and the node's iptables and
#                                ip6tables state go; then containerd, kubelet and kube-proxy start
#                                again and bring back the node's pods in their own order (the control
#                                plane, moto and the metadata service, other machines on EC2, stay)
#   test/node/cluster.sh down    stops everything and removes namespaces, mounts and cgroups
#
# Inputs (environment): KUBE_BIN (kubelet, kube-proxy, kube-controller-manager, kube-scheduler,
# kubectl), KUBE_APISERVER, ETCD, CONTAINERD_BIN (containerd, containerd-shim-runc-v2, ctr),
# IMAGES_DIR (docker-archive tars to load), NODE24 (node binary for the IMDS stand-in).
# State and logs: CORRIDOR_NODE_STATE (default /tmp/corridor-node); `up` writes $STATE/env.
#
# Isolation: the node's network is the namespace `corridor-node`, whose only interfaces are
# loopback, eth0 (the node IP; its peer is alone in `corridor-node-sink`) and the CNI bridge to the
# pods' own namespaces: a packet to anywhere else has nowhere to go. The sink answers only for
# 169.254.169.254, where the metadata stand-in listens: like EC2's, a pod's packet reaches it
# through the node (one hop), and a token's answer carries the PUT response hop limit as its TTL. Inside the mount namespace, /run,
# /var/lib and /var/log are fresh tmpfs mounts (containerd's and kubelet's state, pods' logs, the
# CNI config under /run/corridor/cni), so nothing lands on the machine's own paths; kubelet's cgroups live under
# /corridor-node in each cgroup v1 controller. The machine's sysctls are never written: kubelet
# sets six kernel tunables on a real node, and here it reads them from files bound over /proc/sys
# inside the mount namespace (see docs/real-node.md, "What a node needs").
set -euo pipefail
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

NETNS=corridor-node
SINK_NETNS=corridor-node-sink
NODE_NAME=corridor-node
NODE_IP=10.222.0.2
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
STS_PORT=5000
CGROUP_ROOT=corridor-node
STATE=${CORRIDOR_NODE_STATE:-/tmp/corridor-node}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

holder_pid() { cat "$STATE/holder.pid" 2>/dev/null || true; }

# in_node CMD...: runs CMD inside the node's network and mount namespaces.
in_node() {
  local pid
  pid=$(holder_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "the node is not running (no holder process)"
  nsenter --target "$pid" --net --mount --wd="$PWD" -- "$@"
}

# start NAME CMD...: starts a daemon inside the node, logging to $STATE/logs/NAME.log.
start() {
  local name=$1
  shift
  in_node setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

# wait_for WHAT SECONDS CMD...: retries CMD (inside the node) until it succeeds.
wait_for() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    if in_node "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what not ready after ${seconds}s (logs in $STATE/logs)"
}

# ---- down ----------------------------------------------------------------------------------

# Every process whose network namespace is the node's, or whose cgroup is under kubelet's root.
node_processes() {
  ip netns pids "$NETNS" 2>/dev/null || true
  ip netns pids "$SINK_NETNS" 2>/dev/null || true
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [ -d "$controller$CGROUP_ROOT" ] || continue
    find "$controller$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done
}

down() {
  local round pids
  for round in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(node_processes | sort -u | grep -v "^$$\$" || true)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.3
  done
  [ -z "$(node_processes)" ] || log "warning: processes of the node survived: $(node_processes | tr '\n' ' ')"
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [ -d "$controller$CGROUP_ROOT" ] || continue
    # Deepest first: a cgroup is removed only once its children are.
    find "$controller$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$controller$CGROUP_ROOT" ] && log "warning: could not remove ${controller}${CGROUP_ROOT}"
  done
  local netns
  for netns in "$NETNS" "$SINK_NETNS"; do
    if ip netns list 2>/dev/null | grep -q "^$netns\b"; then ip netns delete "$netns"; fi
  done
  rm -rf "$STATE/pids" "$STATE/holder.pid" "$STATE/sink.pid"
}

# ---- up ------------------------------------------------------------------------------------

require() {
  local tool
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"; done
}

make_certificates() {
  local dir=$STATE/pki
  mkdir -p "$dir"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 -subj /CN=corridor-node-ca 2>/dev/null
  # cert NAME SUBJECT EXTENSIONS
  cert() {
    openssl req "${ec[@]}" -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$dir/$1.ext"
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -out "$dir/$1.crt" -days 2 -extfile "$dir/$1.ext" 2>/dev/null
  }
  local client='extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature'
  cert apiserver /CN=kube-apiserver "subjectAltName=IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
  cert admin "/O=system:masters/CN=corridor-node-admin" "$client"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
  cert controller-manager /CN=system:kube-controller-manager "$client"
  cert scheduler /CN=system:kube-scheduler "$client"
  cert kube-proxy /CN=system:kube-proxy "$client"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/sa.key" 2>/dev/null
  openssl ec -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}

# kubeconfig NAME: $STATE/NAME.kubeconfig for the client certificate NAME.
kubeconfig() {
  cat >"$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE_NAME
  cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$STATE/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$STATE/pki/$1.crt", client-key: "$STATE/pki/$1.key"}
contexts:
- name: $NODE_NAME
  context: {cluster: $NODE_NAME, user: $1}
current-context: $NODE_NAME
EOF
}

write_configs() {
  mkdir -p "$STATE/config"
  cat >"$STATE/config/containerd.toml" <<EOF
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "localhost/corridor-pause:1"
[plugins.'io.containerd.cri.v1.runtime']
  # This machine's container lacks CAP_SYS_RESOURCE: no process may lower its oom_score_adj,
  # which kubelet asks for every pod sandbox (-998). Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "/run/corridor/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$CONTAINERD_BIN/runc"
      SystemdCgroup = false
EOF
  cat >"$STATE/config/10-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "corridor-node",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$STATE/config/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 only; kubelet 1.35 and later refuse it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$STATE/pki/ca.crt"}
authorization: {mode: Webhook}
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podCIDR: "$POD_CIDR"
serializeImagePulls: false
# The test's disk and memory are whatever the machine has left: evict only when nearly none.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
fileCheckFrequency: 5s
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
# A new node, as a cluster admin registers it for corridor: nothing is scheduled here until the
# agent has removed this taint (the chart's agent.startupTaint).
registerWithTaints: [{key: corridor.io/agent-not-ready, effect: NoExecute}]
EOF
  cat >"$STATE/config/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$STATE/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
clusterCIDR: "$POD_CIDR"
# conntrack's table size is the machine's, not the namespace's: leave it and its timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# The holder keeps the node's mount namespace alive; it sets the mounts up first, then sleeps.
start_holder() {
  ip netns add "$NETNS"
  local ready=$STATE/holder.ready
  rm -f "$ready"
  # --propagation private: nothing mounted inside reaches the machine's mount table, and back.
  nsenter --net="/run/netns/$NETNS" -- unshare --mount --propagation private -- bash -c '
    set -e
    state=$1
    mount -t tmpfs -o mode=0755 corridor-run /run
    mount -t tmpfs -o mode=0755 corridor-var-lib /var/lib
    mount -t tmpfs -o mode=0755 corridor-var-log /var/log
    mkdir -p /run/netns /var/lib/kubelet /var/lib/containerd /var/lib/cni /var/log/pods /var/log/containers
    mkdir -p /run/corridor/cni/net.d
    cp "$state/config/10-bridge.conflist" /run/corridor/cni/net.d/
    # kubelet wants these kernel tunables (it would write them to the machine'"'"'s kernel): it
    # reads them here from files bound over /proc/sys, so it finds them set and writes nothing.
    for tunable in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
                   kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
      file=/run/corridor-sysctl/${tunable%%=*}
      mkdir -p "$(dirname "$file")"
      echo "${tunable#*=}" >"$file"
      mount --bind -o ro "$file" "/proc/sys/${tunable%%=*}"
    done
    # kubelet mounts volumes with propagation: shared inside this namespace only.
    mount --make-rshared /
    touch "$state/holder.ready"
    exec sleep infinity
  ' corridor-node-holder "$STATE" >"$STATE/logs/holder.log" 2>&1 </dev/null &
  echo $! >"$STATE/holder.pid"
  local i
  for ((i = 0; i < 50; i++)); do [ -e "$ready" ] && return 0; sleep 0.1; done
  die "the node's mount namespace could not be set up"
}

# The node's eth0 is a veth whose other end is alone in the sink namespace, which forwards nothing:
# whatever the node sends "out" ends there. (This kernel has no dummy interfaces, the usual way.)
# The sink has one address, 169.254.169.254, where the node's instance metadata stand-in listens
# (start_node_imds): the link-local IMDS of an EC2 node, one hop beyond it. A holder process keeps
# the sink enterable from inside the node's mount namespace too (where `ip netns` sees the pods').
setup_network() {
  ip netns add "$SINK_NETNS"
  ip netns exec "$SINK_NETNS" setsid sleep infinity >/dev/null 2>&1 </dev/null &
  echo $! >"$STATE/sink.pid"
  in_node ip link set lo up
  ip -n "$SINK_NETNS" link set lo up
  ip -n "$SINK_NETNS" link add sink0 type veth peer name eth0 netns "$(holder_pid)"
  ip -n "$SINK_NETNS" link set sink0 up
  ip -n "$SINK_NETNS" addr add 169.254.169.254/32 dev sink0
  ip -n "$SINK_NETNS" route add "$NODE_IP/32" dev sink0
  ip -n "$SINK_NETNS" route add "$POD_CIDR" via "$NODE_IP" dev sink0
  in_node ip addr add "$NODE_IP/24" dev eth0
  in_node ip link set eth0 up
  in_node ip route add default via "${NODE_IP%.*}.1" dev eth0
  in_node ip route add 169.254.169.254/32 dev eth0
  node_sysctls
}

# What a node's bootstrap sets (sysctl.d, user data): forwarding for the pods, and connections a
# closing listener had queued go to another listener of its SO_REUSEPORT group instead of being
# reset (corridor's upgrades: docs/operators.md).
node_sysctls() {
  in_node sysctl -qw net.ipv4.ip_forward=1
  in_node sysctl -qw net.ipv4.tcp_migrate_req=1
}

# in_sink CMD...: runs CMD in the sink's network namespace (the metadata stand-in's).
in_sink() {
  nsenter --target "$(cat "$STATE/sink.pid")" --net -- "$@"
}

# start_node_imds [v1-allowed|v2-required] [HOP_LIMIT]: the node's own metadata service, with fake
# credentials: what corridor must never let a pod reach. Every request it gets is a JSON line in its
# log (appended across restarts). EC2's PUT response hop limit is the TTL of the token's answer: the
# node forwards it to a pod only with a limit above 1.
start_node_imds() {
  local posture=${1:-v1-allowed} hops=${2:-1} tokens=optional pid
  case "$posture" in
    v1-allowed) ;;
    v2-required) tokens=required ;;
    *) die "unknown posture $posture (v1-allowed or v2-required)" ;;
  esac
  # The one running now: the stand-in process in the sink's network namespace (the pid file
  # names the shell that started it).
  local sink_net
  sink_net=$(readlink "/proc/$(cat "$STATE/sink.pid")/ns/net")
  for pid in $(pgrep -f "test/e2e/fixtures/node-imds.ts" || true); do
    [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$sink_net" ] || continue
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  in_sink iptables -t mangle -F OUTPUT
  in_sink iptables -t mangle -A OUTPUT -p tcp --sport 80 -m string --algo bm \
    --string x-aws-ec2-metadata-token-ttl-seconds -j TTL --ttl-set "$hops"
  in_sink setsid env NODE_SECRET=corridor-node-secret IMDS_TOKENS="$tokens" "$NODE24" "$root/test/e2e/fixtures/node-imds.ts" \
    >>"$STATE/logs/node-imds.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/node-imds"
  local i
  for ((i = 0; i < 100; i++)); do
    in_node python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://169.254.169.254/latest/api/token', method='PUT'), timeout=1)" \
      >/dev/null 2>&1 && break
    sleep 0.2
  done
  echo "$posture $hops" >"$STATE/imds-posture"
  log "node metadata stand-in: $posture, PUT response hop limit $hops"
}

load_images() {
  local tar
  shopt -s nullglob
  for tar in "$IMAGES_DIR"/*.tar; do
    in_node "$CONTAINERD_BIN/ctr" --address /run/containerd/containerd.sock -n k8s.io images import --no-unpack=false "$tar" >/dev/null
  done
  in_node "$CONTAINERD_BIN/ctr" --address /run/containerd/containerd.sock -n k8s.io images ls -q >"$STATE/images.txt"
}

# kubelet wants its --cgroup-root in every controller (cgroup v1: one hierarchy each); a cpuset
# cgroup starts with no CPUs and no memory nodes, so it gets its parent's.
make_cgroup_root() {
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [ "$(stat -fc %T "$controller")" = cgroupfs ] || continue
    mkdir -p "$controller$CGROUP_ROOT"
  done
  if [ -d /sys/fs/cgroup/cpuset/$CGROUP_ROOT ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.cpus
    cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.mems
  fi
}

# Fails naming every daemon that has exited (with the end of its log).
check_daemons() {
  local file dead=""
  for file in "$STATE"/pids/*; do
    kill -0 "$(cat "$file")" 2>/dev/null && continue
    dead+=" $(basename "$file")"
    tail -n 5 "$STATE/logs/$(basename "$file").log" >&2 || true
  done
  [ -z "$dead" ] || die "exited:$dead (logs in $STATE/logs)"
}

start_containerd() {
  start containerd env PATH="$CONTAINERD_BIN:$PATH" "$CONTAINERD_BIN/containerd" --config "$STATE/config/containerd.toml"
  wait_for containerd 60 "$CONTAINERD_BIN/ctr" --address /run/containerd/containerd.sock version
}

start_node_agents() {
  start kubelet "$KUBE_BIN/kubelet" --config="$STATE/config/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
  start kube-proxy "$KUBE_BIN/kube-proxy" --config="$STATE/config/kube-proxy.yaml"
}

# ---- reboot --------------------------------------------------------------------------------

# What a reboot of the worker takes away: its processes (kubelet, kube-proxy, containerd, the
# shims, every container), everything under /run (tmpfs: containerd's state, pod sandboxes' network
# namespaces), every mount the pods had, the CNI bridge and veths, and the kernel's netfilter state
# (iptables, ip6tables, nftables). What stays: the disk (/var/lib/kubelet, /var/lib/containerd with
# its images, /var/lib/cni), and the Node and its pods in the API server, which the kubelet brings
# back in its own order. The node's sysctls come back from its bootstrap.
reboot() {
  local t0=$SECONDS name
  # The pid files name the shells that started them: the daemons are found by their command line.
  for name in kubelet kube-proxy containerd; do rm -f "$STATE/pids/$name"; done
  local round pids
  for round in 1 2 3 4 5 6 7 8 9 10; do
    pids=$( {
      pgrep -f "^$KUBE_BIN/kubelet --config" || true
      pgrep -f "^$KUBE_BIN/kube-proxy --config" || true
      pgrep -f "^$CONTAINERD_BIN/containerd --config" || true
      pgrep -f "$CONTAINERD_BIN/containerd-shim" || true
      cgroup_processes
    } | sort -u)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.3
  done
  in_node sh -c '
    # Deepest first, lazily: a rootfs may still be held by a dying process.
    awk '"'"'$2 ~ "^/run/(containerd|netns)/" || $2 ~ "^/var/lib/kubelet/pods/" { print $2 }'"'"' /proc/self/mounts | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
    rm -rf /run/containerd /run/netns/* /run/xtables.lock
    for link in $(ip -o link show | awk -F": " '"'"'{ print $2 }'"'"' | cut -d@ -f1); do
      case "$link" in lo|eth0) ;; *) ip link delete "$link" 2>/dev/null || true ;; esac
    done
    for tables in iptables ip6tables iptables-legacy ip6tables-legacy; do
      command -v "$tables" >/dev/null 2>&1 || continue
      for table in filter nat mangle raw; do "$tables" -t "$table" -F 2>/dev/null; "$tables" -t "$table" -X 2>/dev/null; done
    done
    if command -v nft >/dev/null 2>&1; then nft flush ruleset; fi
    true
  '
  node_sysctls
  log "node $NODE_NAME down for a reboot in $((SECONDS - t0))s: starting containerd, kubelet and kube-proxy"
  start_containerd
  start_node_agents
  log "node $NODE_NAME booted in $((SECONDS - t0))s"
}

# Every process in kubelet's cgroups (the pods' containers).
cgroup_processes() {
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [ -d "$controller$CGROUP_ROOT/kubepods" ] || continue
    find "$controller$CGROUP_ROOT/kubepods" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  require ip iptables nsenter unshare openssl setsid python3
  [ -x /usr/lib/cni/bridge ] || die "missing the CNI plugins (Debian: containernetworking-plugins)"
  local var
  for var in KUBE_BIN KUBE_APISERVER ETCD CONTAINERD_BIN IMAGES_DIR NODE24; do
    [ -n "${!var:-}" ] || die "$var is not set"
  done
  down
  rm -rf "$STATE"
  mkdir -p "$STATE/logs" "$STATE/pids"
  local t0=$SECONDS
  make_certificates
  local name
  for name in admin kubelet controller-manager scheduler kube-proxy; do kubeconfig "$name"; done
  write_configs
  start_holder
  setup_network

  start etcd "$ETCD" --name "$NODE_NAME" --data-dir /var/lib/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --unsafe-no-fsync --log-level warn
  start kube-apiserver "$KUBE_APISERVER" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$NODE_IP" --secure-port=6443 \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --kubelet-client-certificate="$STATE/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$STATE/pki/apiserver-kubelet-client.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --anonymous-auth=false \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true --profiling=false --v=1 \
    --kubelet-preferred-address-types=InternalIP
  wait_for kube-apiserver 120 "$KUBE_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz
  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR" \
    --controllers='*,-nodeipam' --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  start_containerd
  load_images
  make_cgroup_root
  start_node_agents
  start_node_imds v1-allowed 1
  start moto python3 -m moto.server -H "$NODE_IP" -p "$STS_PORT"
  wait_for "node $NODE_NAME" 180 "$KUBE_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_for moto 60 python3 -c "import urllib.request; urllib.request.urlopen('http://$NODE_IP:$STS_PORT/moto-api/')"
  check_daemons
  cat >"$STATE/env" <<EOF
CORRIDOR_NODE_STATE=$STATE
KUBECONFIG=$STATE/admin.kubeconfig
NODE_NAME=$NODE_NAME
NODE_IP=$NODE_IP
POD_CIDR=$POD_CIDR
STS_ENDPOINT=http://$NODE_IP:$STS_PORT
NODE_IMDS_LOG=$STATE/logs/node-imds.log
KUBECTL=$KUBE_BIN/kubectl
EOF
  log "node $NODE_NAME Ready in $((SECONDS - t0))s (state and logs: $STATE)"
}

case "${1:-}" in
  up) up ;;
  down) down; log "down: the node's processes, namespaces, mounts and cgroups are gone" ;;
  imds) shift; start_node_imds "$@" ;;
  reboot) reboot ;;
  exec)
    shift
    [ "${1:-}" = "--" ] && shift
    in_node "$@"
    ;;
  *) echo "usage: $0 up|down|imds POSTURE [HOP_LIMIT]|reboot|exec -- CMD..." >&2; exit 2 ;;
esac
