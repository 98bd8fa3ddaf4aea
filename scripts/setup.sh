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
# pip, quietly; its notes about unused local package folders (pip config) are dropped.
pipq() { .venv/bin/python -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }
pipq install --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pipq install "torch==2.13.0" || pipq install "torch>=2.4"
fi
pipq install -e ".[${BINDING_EXTRAS:-all,dev}]"
