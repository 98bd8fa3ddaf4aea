#!/usr/bin/env bash
# The run command: sets up .venv (once; see scripts/setup.sh), then runs `binding` with the
# given arguments. With none, it runs `binding demo`: sample data ingested and searched, on
# imagebind_huge when its weights are cached or downloadable, else on binding_mini (the
# demo's first line says which model ran and why).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ $# -eq 0 ]; then
  exec .venv/bin/binding demo
fi
exec .venv/bin/binding "$@"
