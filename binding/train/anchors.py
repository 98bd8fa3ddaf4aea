"""Anchor-side vectors, computed once by the frozen anchor tower and cached by content hash.

The key covers the anchor model (name, checkpoint, seed), the anchor modality and the
content of every anchor item (file bytes, or the text), so a changed photo or another model
recomputes, and a second run (or every epoch) reads the cache instead of the big tower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from binding.config import Settings


def content_hash(item: str, *, is_text: bool) -> str:
    """sha256 of a text, or of a file's bytes."""
    digest = hashlib.sha256()
    if is_text:
        digest.update(item.encode())
    else:
        with open(item, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 over a module's tensors (names and bytes): identifies the anchor's weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _checkpoint_key(checkpoint: str | None) -> str:
    """A local checkpoint by its content (retrained weights at the same path recompute)."""
    if checkpoint and Path(checkpoint).is_file():
        return f"{checkpoint}:{content_hash(checkpoint, is_text=False)}"
    return str(checkpoint)


def anchor_vectors(
    items: Sequence[str],
    *,
    modality: str,
    model: str,
    settings: Settings,
    device: str | None = None,
) -> tuple[np.ndarray, str]:
    """Unit vectors (N, D) of the anchor items, and the anchor tower's weights hash."""
    from binding.encoder import Encoder

    is_text = modality == "text"
    hashes = [content_hash(item, is_text=is_text) for item in items]
    key = hashlib.sha256(
        "\n".join(
            [model, _checkpoint_key(settings.checkpoint), str(settings.seed), modality, *hashes]
        ).encode()
    ).hexdigest()[:32]
    folder = Path(settings.cache_dir) / "train-anchors"
    cached = folder / f"{key}.npz"
    if cached.is_file():
        with np.load(cached) as saved:
            return saved["vectors"], str(saved["anchor_hash"])
    encoder = Encoder.load(model, modalities=[modality], device=device, settings=settings)
    vectors = encoder.embed(modality, list(items))
    anchor_hash = weights_hash(encoder.network)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{key}.tmp.npz"
    np.savez(temporary, vectors=vectors, anchor_hash=np.array(anchor_hash))
    temporary.replace(cached)
    return vectors, anchor_hash
