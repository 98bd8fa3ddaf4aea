"""Atomic training checkpoints holding everything a resume needs to be exact.

A checkpoint holds the trainable modules, the optimizer, the scheduler, the step, the
history so far and every RNG state (Python, NumPy, torch CPU and CUDA), next to the run's
config and a format version. It is written to a temporary file and renamed into place, so
a kill during the write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from (unreadable, other version, other run)."""


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save({"version": CHECKPOINT_VERSION, **state}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at `path`, checked against this run's `config` (resuming another run is an error)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint ({error})") from error
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state.get('version')}, this version reads {CHECKPOINT_VERSION}"
        )
    saved = state.get("config", {})
    changed = sorted(key for key in config if key not in _FREE and saved.get(key) != config[key])
    if changed:
        raise CheckpointError(
            f"{path}: the checkpoint was made with other settings ({', '.join(changed)}); "
            "start a new run (another --out) or drop --resume"
        )
    return state


#: Settings that may differ between the run and its resume.
_FREE = {"resume", "device", "json_output", "quiet"}
