#!/usr/bin/env bash
# The test command: sets up .venv, then lints, type-checks and runs the test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k parity).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy binding
echo "== pytest"; .venv/bin/python -m pytest "$@"
