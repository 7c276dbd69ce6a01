#!/usr/bin/env bash
# Set up, then lint, type-check and test. Slow studies (-m slow) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check simulator tests benchmarks
.venv/bin/mypy
# pytest exits 5 when it collects nothing; that is not a failure of the suite.
status=0
.venv/bin/pytest -m "not slow" -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests"
  exit 0
fi
exit "$status"
