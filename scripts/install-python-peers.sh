#!/usr/bin/env bash
# Installs the Python peers the tests exercise, by package name, when they are missing:
# moto's server (the STS stand-in), boto3/botocore and awscli (real SDK clients).
set -euo pipefail
if python3 -c 'import moto.server, boto3, botocore, awscli, flask' 2>/dev/null; then
  exit 0
fi
python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'boto3>=1.34' awscli
