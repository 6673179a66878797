#!/usr/bin/env bash
# The check to run first whenever a GPU is lent (see bench/gpu_check.py): prints one JSON
# object. Runs $PYTHON, else the project's .venv (scripts/setup.sh makes it), else python3.
# Usage: bash bench/gpu_check.sh [--device auto] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "${PYTHON:-$PY}" bench/gpu_check.py "$@"
