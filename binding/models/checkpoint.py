"""Reading weights: `.pth` (the official format) and `.safetensors` (ours, memory-mapped).

Only the keys under the requested prefixes are read, so a text-only node never holds the
vision tower. (Download, resume, verification and conversion live beside this; see below.)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from binding.errors import CheckpointError


def _wanted(key: str, prefixes: tuple[str, ...] | None) -> bool:
    return prefixes is None or key.startswith(prefixes)


def read_state_dict(
    path: str | Path, prefixes: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint whose keys start with one of `prefixes` (all when None).

    `.safetensors` files are memory-mapped and only the wanted tensors are materialised;
    `.pth` files are loaded with `weights_only=True` and `mmap=True`.
    """
    path = Path(path)
    wanted = tuple(prefixes) if prefixes is not None else None
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys() if _wanted(k, wanted)}
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except CheckpointError:
        raise
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} is not a state dict (got {type(state).__name__})")
    if "model" in state and isinstance(state["model"], dict):  # some trainers wrap it
        state = state["model"]
    return {k: v for k, v in state.items() if _wanted(k, wanted)}
