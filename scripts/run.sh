#!/usr/bin/env bash
# Set up (if needed) and start the whole service with the demo organisation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hiljainen serve --demo "$@"
