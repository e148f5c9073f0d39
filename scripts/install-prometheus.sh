#!/usr/bin/env bash
# Installs Debian's prometheus package (the `prometheus` server and `promtool`) with apt-get when
# promtool is missing, and prints the directory holding both on stdout. test/helm/alerts.slow.test.ts
# uses promtool to check and unit-test the chart's alert rules, and runs a real Prometheus on
# loopback that scrapes a real agent; without them those tests skip and say why.
#
#   bash scripts/install-prometheus.sh   # then: promtool check rules <file>
#
# The package's maintainer scripts would start a daemon (systemd unit, or /etc/init.d under
# sysvinit). Nothing here wants one: while apt-get runs, a policy-rc.d that answers 101 ("action
# forbidden") keeps them from starting it (container images often have one already), and under
# systemd the unit is disabled again. The tests start their own Prometheus on loopback and stop
# it. Progress goes to stderr. Exit 3 without apt-get or root (nothing installed), 1 when the
# install fails.
set -euo pipefail
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"

found() {
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1
}
if found; then
  dirname "$(command -v promtool)"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
    echo "install-prometheus: promtool is missing; run as root (or with sudo) to install Debian's prometheus package" >&2
    exit 3
  fi
  sudo=(sudo -n)
fi
# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a service. A machine's own
# policy that already forbids it (exit 101) stays; any other is set aside and put back after.
policy=/usr/sbin/policy-rc.d
saved=$policy.corridor-saved
if [[ ! -e $policy ]] || { "$policy" prometheus start >/dev/null 2>&1; [[ $? -ne 101 ]]; }; then
  [[ -e $policy ]] && "${sudo[@]}" mv "$policy" "$saved"
  "${sudo[@]}" sh -c "printf '#!/bin/sh\n# corridor install-prometheus: no daemons while installing\nexit 101\n' > $policy && chmod 755 $policy"
  trap '"${sudo[@]}" rm -f "$policy"; if [[ -e $saved ]]; then "${sudo[@]}" mv "$saved" "$policy"; fi' EXIT
fi

apt_install_missing install-prometheus promtool=prometheus prometheus=prometheus || exit $?

# Under systemd the package also enables its unit for the next boot; the tests want no service.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  "${sudo[@]}" systemctl disable prometheus >/dev/null 2>&1 || true
fi

if ! found; then
  echo "install-prometheus: apt-get installed prometheus but promtool or prometheus is not on PATH" >&2
  exit 1
fi
echo "install-prometheus: $(prometheus --version 2>&1 | head -1)" >&2
dirname "$(command -v promtool)"
