#!/usr/bin/env bash
# The run command: sets up .venv, then runs `binding` with the given arguments.
# With none, it runs a short demonstration on generated sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ $# -eq 0 ]; then
  exec .venv/bin/binding demo
fi
exec .venv/bin/binding "$@"
