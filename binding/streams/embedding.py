"""Embedding windows in full batches, and the payload each window's point carries."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from binding.errors import InputError
from binding.modality import Modality
from binding.points import clean_tags, make_payload
from binding.streams.windows import Window, imu_window_item

if TYPE_CHECKING:
    import torch

    from binding.encoder import Encoder
    from binding.media import MediaStore
    from binding.store.base import Point


@dataclass(frozen=True)
class EmbedResult:
    """Points for the windows that embedded, and the windows that could not, with reasons."""

    points: list[Point]
    failed: list[tuple[Window, str]]


def embed_windows(
    encoder: Encoder,
    model: str,
    windows: Sequence[Window],
    *,
    media: MediaStore | None = None,
    tags: Sequence[str] = (),
) -> EmbedResult:
    """Embed windows in full batches per modality; frames are kept in `media` if given.

    A frame that cannot be decoded fails alone (`InputError` reasons come back in `failed`);
    any other error propagates (the consumer crashes and the entries are redelivered).
    """
    import torch

    from binding.inputs import prepare_one
    from binding.store.base import Point

    tag_list = clean_tags(list(tags))
    failed: list[tuple[Window, str]] = []
    ready: dict[Modality, list[tuple[Window, torch.Tensor]]] = {}
    for window in windows:
        try:
            if window.modality is Modality.IMU:
                assert window.samples is not None
                item = imu_window_item(window.samples, window.rate)  # (6, 2000)
            else:
                item = prepare_one(window.modality, window.frame)[0]  # (1, 224, 224)
        except InputError as error:
            failed.append((window, error.reason))
            continue
        ready.setdefault(window.modality, []).append((window, item))
    points: list[Point] = []
    for modality, items in ready.items():
        limit = encoder.batch_size(modality)
        for first in range(0, len(items), limit):
            chunk = items[first : first + limit]
            raw = encoder.forward_items(
                modality, torch.stack([item for _, item in chunk])
            )  # (B, D)
            for (window, _), row in zip(chunk, raw.double().numpy(), strict=True):
                norm = float(np.linalg.norm(row))
                if not np.isfinite(row).all() or norm < 1e-12:
                    failed.append((window, "the network returned a zero or non-finite vector"))
                    continue
                points.append(
                    Point(
                        id=window.point_id(model),
                        vector=(row / norm).astype(np.float32),
                        payload=_window_payload(window, model, media, tag_list),
                    )
                )
    return EmbedResult(points, failed)


def _window_payload(
    window: Window, model: str, media: MediaStore | None, tags: list[str]
) -> dict[str, Any]:
    sha256, mime, size, stored = window.identity, None, 0, None
    facts: dict[str, Any] = {
        "run": window.run,
        "first_sample": window.start,
        "samples": window.end - window.start,
        "sample_rate": window.rate,  # stored points before this name carry `rate`
        "time_end": window.time + (window.end - window.start) / window.rate,
    }
    if window.frame is not None:
        from binding.io.sniff import sniff

        kind = sniff(window.frame[:8192])
        sha256 = hashlib.sha256(window.frame).hexdigest()  # frames: content hash, as files
        mime, size = (kind.mime if kind else None), len(window.frame)
        if media is not None:
            stored = media.put_bytes(window.frame, ext=kind.extension if kind else None).relative
        facts["frame_format"] = window.fmt
    return make_payload(
        model=model,
        modality=window.modality,
        source=f"stream:{window.stream}",
        name=f"{window.stream} {window.segment}",
        sha256=sha256,
        mime=mime,
        size=size,
        media=stored,
        time=window.time,
        tags=tags,
        facts=facts,
        start=window.start_s,
        end=window.end_s,
        stream=window.stream,
    )
