"""What the evaluation tests share: generated media and an embedder whose vectors come from
the labels (the "perfect embedding": every item of class c, and class c's prompts, map to
the same unit vector)."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from binding.eval.cache import content_bytes
from binding.modality import Modality, parse_modality


def png_bytes(seed: int, size: tuple[int, int] = (32, 32)) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, seed: int, size: tuple[int, int] = (32, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(seed, size))
    return path


def write_wav(path: Path, hz: float, seconds: float = 0.5, rate: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


class LabelEmbedder:
    """Vectors built from labels: `label_of(content)` gives an item's class; a text's class is
    the class name it contains. Every member of class c gets the unit vector e_c."""

    def __init__(self, classes: Sequence[str], label_of: dict[bytes, int]) -> None:
        self.classes = list(classes)
        self.label_of = label_of

    def _class(self, modality: Modality, item: Any) -> int:
        if modality is Modality.TEXT:
            text = str(item)
            return max(
                (
                    i
                    for i, name in enumerate(self.classes)
                    if name in text or name.replace("_", " ") in text
                ),
                key=lambda i: len(self.classes[i]),
            )
        return self.label_of[content_bytes(modality, item)]

    def embed(
        self,
        modality: Modality | str,
        items: Sequence[Any],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        kind = parse_modality(str(modality))
        out = np.zeros((len(items), len(self.classes)), dtype=np.float32)
        for row, item in enumerate(items):
            out[row, self._class(kind, item)] = 1.0
        return out
