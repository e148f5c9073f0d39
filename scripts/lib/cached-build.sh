# shellcheck shell=bash
# Sourced first by the scripts that build a tool or a peer into corridor's cache outside the
# repository (build-etcd, build-kube-apiserver, build-kube-node, build-containerd,
# build-node-images, install-helm, build-go-peer, build-java-peer ...): their shared head and tail. Each one prints only the path of what it built on stdout (progress
# goes to stderr), returns at once while the cached build is current, builds under a lock (several
# test files may ask at once: one builds, the others wait and then reuse its build), and exits 3
# when a toolchain is missing (the tests skip) and 1 when a build fails.
#
# The caller sets `name` (its own name, for messages) before sourcing. This sets `root` (the
# repository), `cache` (CORRIDOR_CACHE, default ~/.cache/corridor) and `bin_dir`.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${CORRIDOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corridor}
bin_dir="$cache/bin"

# require_tools <what> <tool>...: exits 3 unless every tool is on PATH.
require_tools() {
  local what=$1 tool
  shift
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$name: $tool is not installed; cannot build $what" >&2
      exit 3
    fi
  done
}

# reuse_or_lock <lock> <path> <is-current> <dir>...: prints <path> and exits 0 when the command
# <is-current> succeeds. Otherwise creates the dirs, takes the lock $cache/.build-<lock>.lock,
# asks again (another run may have built it meanwhile), and returns holding the lock.
reuse_or_lock() {
  local lock=$1 path=$2 is_current=$3
  shift 3
  if "$is_current"; then
    echo "$path"
    exit 0
  fi
  mkdir -p "$@"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.build-$lock.lock"
    flock 9
    if "$is_current"; then
      echo "$path"
      exit 0
    fi
  fi
}

# go_mod_version <go.mod> <module>: the version go.mod requires of <module> (as written, with
# its v); fails when there is none.
go_mod_version() {
  local version
  version=$(sed -nE "s|^require ${2//./\\.} (v[0-9.]+)\$|\\1|p" "$1")
  if [ -z "$version" ]; then
    echo "$name: no $2 version in $1" >&2
    return 1
  fi
  echo "$version"
}

# build_started <what> <into>: says what is being built, and starts the clock.
build_started() {
  echo "$name: building $1 into $2" >&2
  build_start=$(date +%s)
}

# build_done <path> [<tool>]: says how long the build took and prints <path>. With <tool>, a
# binary pinned to a version, it first checks that "$binary" reports "$version".
build_done() {
  echo "$name: built in $(($(date +%s) - build_start))s" >&2
  if [ $# -gt 1 ]; then
    local got
    got=$(installed_version)
    if [ "$got" != "$version" ]; then
      echo "$name: built $2 reports version '$got', wanted $version" >&2
      exit 1
    fi
  fi
  echo "$1"
}

# For a binary pinned to a version: the caller sets `binary` and `version` and defines
# installed_version, which prints the version "$binary" reports (nothing for a missing, foreign
# or broken binary).
has_pinned_version() {
  [ -x "$binary" ] && [ "$(installed_version)" = "$version" ]
}

# kube_build_env <version>: for a `go build` of k8s.io/kubernetes commands (build-kube-apiserver,
# build-kube-node). -mod=readonly: build exactly what go.mod/go.sum pin (and never rewrite
# them), even if GOFLAGS=-mod=vendor or -mod=mod is inherited. GOTOOLCHAIN=local: never fetch
# another Go. No cgo: static binaries, and a faster build. Sets `ldflags`, which stamp the
# version as hack/lib/version.sh does: the components report it (kube-apiserver on /version, and
# its compatibility-version logic reads it; an unstamped build calls itself v0.0.0-master).
kube_build_env() {
  export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
  local minor pkg
  minor=$(sed -nE 's/^v1\.([0-9]+)\..*/\1/p' <<<"$1")
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$1 -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
}
