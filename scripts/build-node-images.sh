#!/usr/bin/env bash
# Builds the container images a real-node test runs, without a registry: each one is built here
# with buildah and exported to a docker-archive tar that `ctr -n k8s.io images import` loads into
# containerd. Prints only the directory of the tars on stdout:
#
#   images=$(bash scripts/build-node-images.sh)   # corridor.tar corridor-pause.tar ...
#   bash scripts/build-node-images.sh --image-only  # npm run image: the base and corridor's image only;
#                                                   # prints dist/image
#
#   localhost/corridor-node-base:<node>    the base (not exported): a debootstrap'd Debian bookworm
#                                          minbase (apt-get works) + Node.js 24 + npm, where the
#                                          Dockerfile's build steps run (its BUILD_IMAGE)
#   localhost/corridor:test                corridor's Dockerfile, the one image (agent and init
#                                          containers), amd64; also built for arm64 without
#                                          emulation (localhost/corridor:test-arm64), and both
#                                          written as OCI image layouts to dist/image/amd64 and
#                                          dist/image/arm64
#   localhost/corridor-pause:1             the pod sandbox: Debian's static catatonit -P, from scratch
#   localhost/corridor-client-botocore:1   base + python3 + botocore (client scripts come from ConfigMaps)
#   localhost/corridor-client-js:1         base + the JS SDK v3 in /client/node_modules
#
# Each part is rebuilt only when what it is made from changes (a stamp per part holds a hash of its
# inputs, its recipe and the base it sits on), and only a rebuilt part is exported again; a run
# with nothing to do returns in about a second. Needs root (buildah runs rootful); installs
# buildah, runc, debootstrap, catatonit and file with apt-get when they are missing.
#
# CORRIDOR_CACHE (default ~/.cache/corridor) holds images/ (the tars and the stamps) and
# containers/ (buildah's own storage, not the machine's default one). NODE24_VERSION (see
# install-node24.sh), NPM_VERSION (default 11.21.2), BOTOCORE_VERSION (default 1.43.11, as the
# peer tests use), DEBIAN_MIRROR (default http://deb.debian.org/debian), CORRIDOR_STORAGE_DRIVER
# (overlay when the kernel can mount it on the cache's file system, else vfs; chosen once per
# storage). Exit 3 when a tool is missing and cannot be installed, 1 when a build fails.
set -euo pipefail
name=build-node-images
# shellcheck source=scripts/lib/cached-build.sh
source "$(dirname "$0")/lib/cached-build.sh"
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"

images_dir="$cache/images"
# --image-only (npm run image): the base and corridor's image, not the sandbox and client images.
image_only=0
if [ "${1:-}" = --image-only ]; then image_only=1; fi
stamps_dir="$images_dir/.stamps"
storage_dir="$cache/containers"
npm_version=${NPM_VERSION:-11.21.2}
botocore_version=${BOTOCORE_VERSION:-1.43.11}
debian_suite=bookworm
debian_mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Every failure that is not a missing tool (3) exits 1; work directories go with the run.
work_dirs=()
on_exit() {
  local status=$?
  ((${#work_dirs[@]} == 0)) || rm -rf "${work_dirs[@]}"
  if ((status != 0 && status != 3)); then
    echo "$name: failed (exit $status)" >&2
    exit 1
  fi
}
trap on_exit EXIT

# --- tools -------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
  echo "$name: needs root (buildah runs rootful here, debootstrap needs root)" >&2
  exit 3
fi

# buildah runs runc (its OCI runtime) for every RUN step: without recommendations nothing else
# brings one.
apt_install_missing "$name" buildah=buildah runc=runc debootstrap=debootstrap catatonit=catatonit \
  file=file flock=util-linux || exit 3
require_tools "the node images" buildah runc debootstrap catatonit file sha256sum tar npm
node24=$(bash "$root/scripts/install-node24.sh") || exit $?
node_version=$("$node24" --version)
node_version=${node_version#v}
# CORRIDOR_BUILD_CA, else NODE_EXTRA_CA_CERTS, else the cafile of this machine's npm (asked
# before node 24 goes first on PATH: npm finds its global npmrc next to the node that runs it).
build_ca=${CORRIDOR_BUILD_CA:-${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}}
PATH="$(dirname "$node24"):$PATH"

# --- buildah, on its own storage ---------------------------------------------------------------

# The storage driver is chosen once, when the storage is created (buildah refuses to open a store
# with another driver): overlay when the kernel mounts it on the cache's file system (not on every
# overlay-on-overlay container root), vfs (full copies, slow and large, always works) otherwise.
storage_driver() {
  local chosen="$storage_dir/driver" try
  if [ ! -s "$chosen" ]; then
    mkdir -p "$storage_dir"
    local driver=${CORRIDOR_STORAGE_DRIVER:-}
    if [ -z "$driver" ]; then
      driver=vfs
      try=$(mktemp -d "$storage_dir/.overlay-test.XXXXXX")
      mkdir "$try/lower" "$try/upper" "$try/work" "$try/merged"
      if mount -t overlay overlay -o "lowerdir=$try/lower,upperdir=$try/upper,workdir=$try/work" "$try/merged" 2>/dev/null; then
        umount "$try/merged"
        driver=overlay
      fi
      rm -rf "$try"
    fi
    echo "$driver" >"$chosen"
  fi
  cat "$chosen"
}
driver=$(storage_driver)
# bah: buildah on corridor's storage. runc works in this kind of container (privileged, cgroup v1);
# BUILDAH_ISOLATION=chroot is the fallback where the OCI runtime does not.
bah() {
  buildah --root "$storage_dir/storage" --runroot "$storage_dir/run" --storage-driver "$driver" "$@"
}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-oci}

# build_ca: this machine's TLS trust (where a proxy re-signs the registries' certificates), handed
# to the builds' npm and pip and left in no image; a machine without one hands nothing.
# build_mounts: for the Dockerfile's npm, which reads the global npmrc (/usr/local/etc/npmrc, its
# `cafile` replaces npm's own roots, so this should be a whole bundle such as
# /etc/ssl/certs/ca-certificates.crt). buildah leaves the mount points behind, as empty files, in
# the stage whose RUN steps had them: see build_corridor for why no shipped image has one.
build_mounts=()
if [ -n "$build_ca" ] && [ "$build_ca" != null ] && [ "$build_ca" != undefined ] && [ -r "$build_ca" ]; then
  trust_dir="$storage_dir/build-trust"
  mkdir -p "$trust_dir"
  cp "$build_ca" "$trust_dir/ca.crt"
  printf "cafile=/run/corridor-build/ca.crt\nupdate-notifier=false\n" >"$trust_dir/npmrc"
  build_mounts=(--volume "$trust_dir:/run/corridor-build:ro" --volume "$trust_dir/npmrc:/usr/local/etc/npmrc:ro")
else
  build_ca=
fi

# --- stamps ------------------------------------------------------------------------------------

# hash_of <text>...: one sha256 of the arguments.
hash_of() { printf '%s\n' "$@" | sha256sum | cut -d' ' -f1; }
# is_fresh <part> <key> <tar>...: the part's stamp holds <key> and every tar is there.
is_fresh() {
  local part=$1 key=$2 tar
  shift 2
  [ "$(cat "$stamps_dir/$part" 2>/dev/null || true)" = "$key" ] || return 1
  for tar in "$@"; do [ -s "$images_dir/$tar" ] || return 1; done
}
stamp() { echo "$2" >"$stamps_dir/$1"; }
has_image() { bah inspect --type image "$1" >/dev/null 2>&1; }
# export_image <image> <tar>: writes the image to $images_dir/<tar> as a docker-archive whose
# tag is <image>, which is what `ctr images import` names it.
export_image() {
  rm -f "$images_dir/$2"
  bah push --quiet "$1" "docker-archive:$images_dir/$2.part:$1" >&2
  mv "$images_dir/$2.part" "$images_dir/$2"
}
# timed <what> <function>: runs the function and says how long it took.
timed() {
  local start=$SECONDS
  echo "$name: building $1" >&2
  "$2"
  echo "$name: built $1 in $((SECONDS - start))s" >&2
}

# --- the parts ---------------------------------------------------------------------------------

base_image="localhost/corridor-node-base:$node_version"
# build_base: Debian bookworm minbase (so apt-get works in the Dockerfile's iptables stage) with
# Node.js at /usr/local/bin/node and npm from the registry package at /usr/local/lib/node_modules,
# the layout of the official node images.
build_base() {
  local work rootfs ctr mnt
  work=$(mktemp -d "$cache/.node-base.XXXXXX")
  work_dirs+=("$work")
  rootfs="$work/rootfs"
  debootstrap --variant=minbase "$debian_suite" "$rootfs" "$debian_mirror" >&2
  install -m 0755 "$node24" "$rootfs/usr/local/bin/node"
  (cd "$work" && npm pack "npm@$npm_version" --silent >/dev/null)
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # What a container runtime provides, and what only the build needed.
  rm -rf "${rootfs:?}"/dev/* "$rootfs"/proc/* "$rootfs"/sys/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
  ctr=$(bah from --quiet scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$rootfs" -cf - . | tar -C "$mnt" -xpf -
  bah umount "$ctr" >/dev/null
  bah config --env NODE_VERSION="$node_version" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd node --label "org.opencontainers.image.description=Debian $debian_suite minbase + Node.js $node_version + npm $npm_version" "$ctr"
  bah commit --quiet --rm "$ctr" "$base_image" >&2
  rm -rf "$work"
}
base_key=$(hash_of "$debian_suite" "$debian_mirror" "$node_version" "$npm_version" "$(declare -f build_base)")
base_fresh() { is_fresh base "$base_key" && has_image "$base_image"; }

corridor_image=localhost/corridor:test
image_dir="$root/dist/image"
version=$(node -p 'require(process.argv[1]).version' "$root/package.json")
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
# buildah 1.28 does not set BUILDPLATFORM itself (docker buildx does): the stages that run steps
# run on this machine's platform, whatever the target.
build_platform="linux/$(dpkg --print-architecture)"
# corridor_inputs: a hash of everything the Dockerfile's build context can see.
corridor_inputs() {
  (cd "$root" && find Dockerfile .dockerignore package.json package-lock.json tsconfig*.json src scripts/bundle.sh scripts/image-rootfs.sh -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}
# build_corridor: the Dockerfile's one image for amd64 and arm64 (no emulation: every RUN runs on
# $build_platform, the final stage only copies), each written as an OCI image layout to
# dist/image/<arch> (what the tests and users inspect); amd64, this node's, also as corridor.tar.
# --layers keeps the npm ci layer while package*.json stay the same, and the bundle stage is shared.
build_corridor() {
  local arch
  rm -rf "$image_dir"
  mkdir -p "$image_dir"
  for arch in amd64 arm64; do
    bah bud --layers --pull=never --network host "${build_mounts[@]}" --platform "linux/$arch" \
      --build-arg "BUILDPLATFORM=$build_platform" --build-arg "BUILD_IMAGE=$base_image" \
      --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
      --tag "$corridor_image-$arch" --file "$root/Dockerfile" "$root" >&2
    bah push --quiet "$corridor_image-$arch" "oci:$image_dir/$arch:corridor:$version" >&2
  done
  bah tag "$corridor_image-amd64" "$corridor_image"
  export_image "$corridor_image" corridor.tar
}
corridor_key=$(hash_of "$base_key" "$(corridor_inputs)" "$revision" "$(declare -f build_corridor)")

pause_image=localhost/corridor-pause:1
# build_pause: the sandbox container only holds the pod's namespaces, so a static catatonit in
# pause mode (-P: waits for signals, reaps nothing) is all it runs, as 65535 like k8s' pause.
build_pause() {
  local ctr
  if ! file -L /usr/bin/catatonit | grep -q 'statically linked'; then
    echo "$name: /usr/bin/catatonit is not statically linked; it cannot run from scratch" >&2
    exit 1
  fi
  ctr=$(bah from --quiet scratch)
  bah copy --quiet "$ctr" /usr/bin/catatonit /catatonit >&2
  bah config --entrypoint '["/catatonit", "-P"]' --user 65535:65535 "$ctr"
  bah commit --quiet --rm "$ctr" "$pause_image" >&2
  export_image "$pause_image" corridor-pause.tar
}
pause_key=$(hash_of "$(dpkg-query -W -f '${Version}' catatonit 2>/dev/null || sha256sum /usr/bin/catatonit)" "$(declare -f build_pause)")

# run_on_base <image> <script>: a container from the base, <script> run in it with sh -eu (with
# the build's TLS trust in NODE_EXTRA_CA_CERTS and PIP_CERT while it runs), committed as <image>
# with the config in $client_config.
run_on_base() {
  local ctr trust=
  ctr=$(bah from --quiet --pull=never "$base_image")
  if [ -n "$build_ca" ]; then
    bah copy --quiet "$ctr" "$build_ca" /tmp/corridor-build-ca.crt >&2
    trust='export NODE_EXTRA_CA_CERTS=/tmp/corridor-build-ca.crt PIP_CERT=/tmp/corridor-build-ca.crt'
  fi
  bah run --network host "$ctr" -- sh -euc "$trust
$2
rm -rf /tmp/* /var/tmp/*" >&2
  bah config "${client_config[@]}" "$ctr"
  bah commit --quiet --rm "$ctr" "$1" >&2
}

botocore_image=localhost/corridor-client-botocore:1
# build_botocore: Debian's python3 (the full stdlib: urllib3 needs http.client and email) and
# botocore from PyPI; pip itself is removed again, the SDK is all a client script needs.
build_botocore() {
  client_config=(--workingdir /client --cmd python3 --label "org.opencontainers.image.description=python3 + botocore $botocore_version")
  run_on_base "$botocore_image" "
    mkdir -p /client
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-pip
    pip install --quiet --no-cache-dir --disable-pip-version-check --break-system-packages --root-user-action=ignore 'botocore==$botocore_version'
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove python3-pip
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/* /root/.cache
    python3 -c 'import botocore; assert botocore.__version__ == \"$botocore_version\", botocore.__version__'
  "
  export_image "$botocore_image" corridor-client-botocore.tar
}
botocore_key=$(hash_of "$base_key" "$botocore_version" "$(declare -f build_botocore run_on_base)")

js_image=localhost/corridor-client-js:1
# lock_version <package>: the version package-lock.json resolves <package> to.
lock_version() {
  node -e 'const lock = require(process.argv[1]); const entry = lock.packages["node_modules/" + process.argv[2]];
    if (!entry) { console.error(`no ${process.argv[2]} in ${process.argv[1]}`); process.exit(1); } console.log(entry.version)' \
    "$root/package-lock.json" "$1"
}
providers_version=$(lock_version @aws-sdk/credential-providers)
sts_version=$(lock_version @aws-sdk/client-sts)
# build_js: the two SDK packages corridor itself depends on, at the versions its lock file holds,
# in /client/node_modules. NODE_PATH lets a script mounted anywhere require() them (ESM import
# does not read NODE_PATH: import from /client/node_modules/... or run the script from /client).
build_js() {
  client_config=(--workingdir /client --env NODE_PATH=/client/node_modules --cmd node
    --label "org.opencontainers.image.description=Node.js $node_version + @aws-sdk/credential-providers $providers_version + @aws-sdk/client-sts $sts_version")
  run_on_base "$js_image" "
    mkdir -p /client && cd /client
    echo '{\"name\": \"corridor-client-js\", \"private\": true}' >package.json
    npm install --no-audit --no-fund --no-update-notifier --loglevel=error --cache /tmp/npm-cache --save-exact \
      '@aws-sdk/credential-providers@$providers_version' '@aws-sdk/client-sts@$sts_version'
    rm -rf /tmp/npm-cache /root/.npm
    node -e 'require(\"@aws-sdk/credential-providers\"); require(\"@aws-sdk/client-sts\")'
  "
  export_image "$js_image" corridor-client-js.tar
}
js_key=$(hash_of "$base_key" "$providers_version" "$sts_version" "$(declare -f build_js run_on_base)")

# --- build what is stale -----------------------------------------------------------------------

# corridor_fresh: the stamp, the tar and both OCI layouts in dist/image (a clean checkout has none).
corridor_fresh() {
  is_fresh corridor "$corridor_key" corridor.tar && [ -s "$image_dir/amd64/index.json" ] && [ -s "$image_dir/arm64/index.json" ]
}
all_fresh() {
  corridor_fresh &&
    { [ "$image_only" = 1 ] || {
    is_fresh pause "$pause_key" corridor-pause.tar &&
    is_fresh botocore "$botocore_key" corridor-client-botocore.tar &&
    is_fresh js "$js_key" corridor-client-js.tar
    }; }
}
if [ "$image_only" = 1 ]; then printed=$image_dir; else printed=$images_dir; fi
reuse_or_lock node-images "$printed" all_fresh "$images_dir" "$stamps_dir" "$storage_dir"

total_start=$SECONDS
echo "$name: storage $storage_dir ($driver), isolation $BUILDAH_ISOLATION" >&2
if ! base_fresh; then
  timed "$base_image (debootstrap $debian_suite minbase + node $node_version + npm $npm_version)" build_base
  stamp base "$base_key"
fi
if ! corridor_fresh; then
  timed "$corridor_image (amd64 and arm64) from the Dockerfile" build_corridor
  stamp corridor "$corridor_key"
fi
image_sizes() {
  local arch
  for arch in amd64 arm64; do
    echo "  dist/image/$arch: $(bah images --format '{{.Size}}' "$corridor_image-$arch" | head -1) uncompressed, $(du -sm "$image_dir/$arch" | cut -f1) MB compressed (the OCI layout)" >&2
  done
}
if [ "$image_only" = 1 ]; then
  image_sizes
  echo "$image_dir"
  exit 0
fi
if ! is_fresh pause "$pause_key" corridor-pause.tar; then
  timed "$pause_image" build_pause
  stamp pause "$pause_key"
fi
if ! is_fresh botocore "$botocore_key" corridor-client-botocore.tar; then
  timed "$botocore_image (botocore $botocore_version)" build_botocore
  stamp botocore "$botocore_key"
fi
if ! is_fresh js "$js_key" corridor-client-js.tar; then
  timed "$js_image (credential-providers $providers_version, client-sts $sts_version)" build_js
  stamp js "$js_key"
fi
echo "$name: done in $((SECONDS - total_start))s; images:" >&2
bah images --filter reference='localhost/corridor*' --format '{{.Name}}:{{.Tag}} {{.Size}}' | awk '{ print "  " $1, $2, $3 }' >&2
(cd "$images_dir" && du -h ./*.tar | sed 's/^/  /') >&2
echo "$images_dir"
