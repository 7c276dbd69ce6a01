#!/usr/bin/env bash
# Create .venv (if missing) and install lingang-sim into it: with its test tools (the
# default), or with only what running a scenario needs (`bash scripts/setup.sh runtime`,
# used by run-baseline.sh; a later plain set-up adds the test tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHAT=${1:-dev}
case "$WHAT" in
  dev) TARGET=".[dev]" ;;
  runtime) TARGET="." ;;
  *) echo "scripts/setup.sh: unknown argument '$WHAT' (allowed: dev, runtime)" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e "$TARGET"
