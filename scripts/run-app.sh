#!/usr/bin/env bash
# One command for a fresh machine: set up, prepare the embedded demo (no network needed),
# and open the app at http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/vizkit demo
exec .venv/bin/streamlit run streamlit_app.py --server.address 127.0.0.1
