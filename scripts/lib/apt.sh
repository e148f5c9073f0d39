# shellcheck shell=bash
# Sourced by the scripts that install Debian packages when a tool they run is missing
# (install-system-peers, install-node-peers, install-prometheus, build-node-images): one way to
# find what is missing and install it, so no script relies on a package a machine happened to have.
#
#   source scripts/lib/apt.sh
#   apt_install_missing <who> <tool>=<package>...
#
# <tool> is a command looked up on PATH (sbin directories included) or an absolute path that
# must exist (a plugin or a header no command stands for). Packages are installed without their
# recommendations, so a tool that runs another one at run time names that one too (buildah runs
# runc). Runs apt-get update first when a package has no candidate (a fresh machine has no lists)
# and once more after a failed install (stale lists). Returns 0 with nothing missing or all
# installed; 3 without apt-get or root (nothing installed); 1 when apt-get fails. Progress goes
# to stderr.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# apt_has <tool>: the command is on PATH, or the absolute path exists.
apt_has() {
  case $1 in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

apt_install_missing() {
  local who=$1 entry missing=()
  shift
  for entry in "$@"; do
    apt_has "${entry%%=*}" || missing+=("${entry#*=}")
  done
  ((${#missing[@]} == 0)) && return 0
  # One package may stand for several tools; install it once.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: ${missing[*]} missing and there is no apt-get; install them with your package manager" >&2
    return 3
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
      echo "$who: ${missing[*]} missing; run as root (or with sudo) to install them" >&2
      return 3
    fi
    sudo=(sudo -n)
  fi
  echo "$who: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  local package
  for package in "${missing[@]}"; do
    if ! apt-cache policy "$package" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      "${sudo[@]}" apt-get update -qq >&2 || true
      break
    fi
  done
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    "${sudo[@]}" apt-get update -qq >&2 || true
    if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
      echo "$who: apt-get could not install ${missing[*]}" >&2
      return 1
    fi
  fi
  for entry in "$@"; do
    if ! apt_has "${entry%%=*}"; then
      echo "$who: installed ${entry#*=}, but ${entry%%=*} is still missing" >&2
      return 1
    fi
  done
}
