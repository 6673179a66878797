#!/usr/bin/env bash
# One command for a fresh machine: set up with the test dependencies and run every test,
# the real-browser test included. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
