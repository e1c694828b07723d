#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite against real servers, models and a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec .venv/bin/python -m pytest "$@"
