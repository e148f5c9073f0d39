#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows) with actionlint, which also runs
# shellcheck on every `run:` block. The release workflow cannot run here: this is its check.
#
#   bash scripts/lint-workflows.sh     # prints actionlint's findings; .ci/run counts them as one failure
#
# actionlint is built by scripts/install-actionlint.sh; Debian's shellcheck is installed when
# missing (actionlint silently skips `run:` blocks without it, so it is required here). Exit 0
# when clean, 1 with findings, 3 when actionlint or shellcheck cannot be had.
set -euo pipefail
name=lint-workflows
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
cd "$(dirname "$0")/.."

apt_install_missing "$name" shellcheck=shellcheck || exit 3
actionlint=$(bash scripts/install-actionlint.sh) || exit 3
echo "$name: $("$actionlint" -version | head -1) with shellcheck $(shellcheck --version | sed -nE 's/^version: //p')" >&2
# actionlint exits 1 with findings and 2 or 3 when it cannot lint: all of them are a failure here.
if ! "$actionlint" -no-color -shellcheck="$(command -v shellcheck)"; then
  echo "$name: actionlint found problems in .github/workflows (or could not read them)" >&2
  exit 1
fi
echo "$name: no findings in .github/workflows" >&2
