"""From what a user hands us (a path, bytes, decoded media, a tensor) to network items.

`prepare(modality, items)` returns one tensor per item shaped `(S, *item_shape)`: S is the
number of clips the network embeds and the encoder averages (1 for an image, 15 for a video,
3 for an audio file, one per 5 s window for an IMU recording).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from binding.errors import InputError
from binding.modality import ITEM_SHAPES, Modality, modality_spec

#: What one network item of each modality looks like (without the clip dimension): each
#: registered spec's `item_shape`, re-exported from `binding.modality`.
__all__ = ["ITEM_SHAPES", "describe", "prepare", "prepare_one"]


def describe(item: Any) -> str:
    """How error messages name an item."""
    if isinstance(item, str | Path):
        return str(item)
    if isinstance(item, bytes | bytearray):
        return f"<{len(item)} bytes>"
    return f"<{type(item).__name__}>"


def _as_source(item: Any) -> Path | bytes | None:
    if isinstance(item, str | Path):
        return Path(item)
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    return None


def _ready_tensor(modality: Modality, item: Any) -> torch.Tensor | None:
    """An already-preprocessed tensor (with or without the clip dimension), else None."""
    if (
        isinstance(item, np.ndarray)
        and item.shape[-len(ITEM_SHAPES[modality]) :] == ITEM_SHAPES[modality]
        and item.dtype != np.uint8
    ):
        item = torch.from_numpy(item)
    if not isinstance(item, torch.Tensor):
        return None
    shape = ITEM_SHAPES[modality]
    if tuple(item.shape) == shape:
        return item.unsqueeze(0)
    if item.ndim == len(shape) + 1 and tuple(item.shape[1:]) == shape:
        return item
    raise InputError(
        describe(item),
        f"a {modality} tensor must be {shape} or (clips, *{shape}); got {tuple(item.shape)}",
    )


def prepare_one(modality: Modality, item: Any) -> torch.Tensor:
    """Decode and preprocess one non-text item: (S, *ITEM_SHAPES[modality])."""
    ready = _ready_tensor(modality, item)
    if ready is not None:
        return ready.float()
    spec = modality_spec(modality)
    if spec.preprocess is None:
        raise InputError(describe(item), f"cannot prepare modality {modality} one item at a time")
    source = _as_source(item)
    if source is None or spec.decode is None:
        decoded = source if source is not None else item
    else:
        decoded = spec.decode(source)
    try:
        return spec.preprocess(decoded)
    except InputError as error:
        if source is not None and error.source.startswith("<"):  # name the file, not "<array>"
            raise InputError(describe(item), error.reason) from None
        raise


def prepare(modality: Modality | str, items: Sequence[Any]) -> list[torch.Tensor]:
    """Network items for each input: a list of `(S, *item_shape)` tensors, in order."""
    spec = modality_spec(str(modality))
    if spec.prepare_batch is not None:
        return spec.prepare_batch(items)
    return [prepare_one(spec.modality, item) for item in items]
