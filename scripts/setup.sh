#!/usr/bin/env bash
# Creates .venv (once) and installs binding with what it needs. Safe to run again.
# torch: 2.13.0 (CPU) is pinned here only when no torch is installed yet, because that
# build lies on the development machines' disk; a user who already has a CUDA torch in
# the venv keeps it (the package itself only asks for torch>=2.4).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
$VPIP install -q --upgrade pip >/dev/null
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  $VPIP install -q "torch==2.13.0" || $VPIP install -q "torch>=2.4"
fi
extras=${BINDING_EXTRAS:-store,dev}
$VPIP install -q -e ".[${extras}]"
