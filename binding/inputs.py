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
from binding.modality import Modality, parse_modality

#: What one network item of each modality looks like (without the clip dimension).
ITEM_SHAPES: dict[Modality, tuple[int, ...]] = {
    Modality.TEXT: (77,),
    Modality.IMAGE: (3, 224, 224),
    Modality.VIDEO: (3, 2, 224, 224),
    Modality.AUDIO: (1, 128, 204),
    Modality.DEPTH: (1, 224, 224),
    Modality.THERMAL: (1, 224, 224),
    Modality.IMU: (6, 2000),
}


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
    source = _as_source(item)
    if modality is Modality.IMAGE:
        from binding.io.image import decode_image
        from binding.preprocess.image import preprocess_image

        image = decode_image(source) if source is not None else item
        return preprocess_image(image).unsqueeze(0)
    if modality is Modality.VIDEO:
        from binding.preprocess.video import video_clips

        return video_clips(source if source is not None else item)
    if modality is Modality.AUDIO:
        from binding.io.audio import decode_audio
        from binding.preprocess.audio import preprocess_audio

        audio = decode_audio(source) if source is not None else item
        return preprocess_audio(audio)
    if modality is Modality.DEPTH:
        from binding.io.depth import decode_depth
        from binding.preprocess.depth import preprocess_depth

        depth = decode_depth(source) if source is not None else item
        return preprocess_depth(depth).unsqueeze(0)
    if modality is Modality.THERMAL:
        from binding.io.thermal import decode_thermal
        from binding.preprocess.thermal import preprocess_thermal

        frame = decode_thermal(source) if source is not None else item
        return preprocess_thermal(frame).unsqueeze(0)
    if modality is Modality.IMU:
        from binding.io.imu import decode_imu
        from binding.preprocess.imu import imu_windows

        recording = decode_imu(source) if source is not None else item
        return torch.stack([window for _, _, window in imu_windows(recording)])
    raise InputError(describe(item), f"cannot prepare modality {modality}")


def prepare(modality: Modality | str, items: Sequence[Any]) -> list[torch.Tensor]:
    """Network items for each input: a list of `(S, *item_shape)` tensors, in order."""
    modality = parse_modality(str(modality))
    if modality is Modality.TEXT:
        from binding.preprocess.text import tokenize

        for item in items:
            if not isinstance(item, str):
                raise InputError(describe(item), "a text input must be a string")
        return list(tokenize(list(items)).unsqueeze(1))
    return [prepare_one(modality, item) for item in items]
