# shellcheck shell=bash
# Sourced by the scripts that build a Go program into corridor's cache (helm, etcd,
# kube-apiserver). Defines reuse_or_lock; the caller defines installed_version, which prints the
# version of "$binary" (nothing for a missing, foreign or broken binary).
#
#   reuse_or_lock <tool> <binary> <version> <cache>
#
# Prints the path and exits 0 when the cached binary already has the version. Otherwise takes the
# tool's build lock (several test files may ask at once: one builds, the others wait and then
# reuse its binary), checks again, and returns holding the lock. Exits 3 when Go is not installed.
reuse_or_lock() {
  local tool=$1 binary=$2 version=$3 cache=$4
  if [ -x "$binary" ] && [ "$(installed_version)" = "$version" ]; then
    echo "$binary"
    exit 0
  fi
  mkdir -p "$(dirname "$binary")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.build-$tool.lock"
    flock 9
    if [ -x "$binary" ] && [ "$(installed_version)" = "$version" ]; then
      echo "$binary"
      exit 0
    fi
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "$tool: go is not installed; cannot build $tool $version" >&2
    exit 3
  fi
}
