#!/usr/bin/env bash
# Creates .venv (once) and installs binding with what it needs. Safe to run again.
# torch: 2.13.0 (CPU) is pinned here only when no torch is installed yet, because that
# build lies on the development machines' disk; a user who already has a CUDA torch in
# the venv keeps it (the package itself only asks for torch>=2.4).
#
# The install runs once: .venv/.setup-stamp records a hash of pyproject.toml, this script
# and BINDING_EXTRAS, and a later call whose hash matches returns at once (the package is
# installed editable, so code changes need no reinstall). A change to any of those, a
# missing stamp (a fresh clone, as on CI) or BINDING_SETUP_FORCE=1 installs again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${BINDING_EXTRAS:-all,dev}
STAMP=.venv/.setup-stamp
wanted=$( { cat pyproject.toml scripts/setup.sh; echo "extras=$EXTRAS"; } | "$PY" -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ "${BINDING_SETUP_FORCE:-0}" != 1 ] && [ -x .venv/bin/python ] && [ -x .venv/bin/binding ] \
  && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
rm -f "$STAMP"  # an interrupted install must not look finished
# pip, quietly; its notes about unused local package folders (pip config) are dropped.
pipq() { .venv/bin/python -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }
pipq install --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pipq install "torch==2.13.0" || pipq install "torch>=2.4"
fi
pipq install -e ".[$EXTRAS]"
echo "$wanted" > "$STAMP"
