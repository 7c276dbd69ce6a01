#!/usr/bin/env bash
# Set up, then simulate the default Lingang scenario into results/lingang-baseline
# (summary, tables, figures and report.html). Extra arguments go to `lingang-sim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
exec .venv/bin/lingang-sim run scenarios/lingang-baseline.yaml --force "$@"
