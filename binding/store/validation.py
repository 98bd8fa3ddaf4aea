"""Checks both engines share: what a collection is for, and what a point may hold."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from binding.errors import ConfigurationError, InputError
from binding.store.base import Point

#: Version of the model/dimension record kept with every collection; bump on a change of layout.
FORMAT_VERSION = 1

#: A payload field the stores derive and keep to themselves: one `<modality>/<tag>` value per
#: tag, so that "these modalities with any of these tags", the commonest filter, is one indexed
#: condition. Two conditions make Qdrant check the second for every point matching the first,
#: which dominates a filtered search at 1M points (docs/store.md, "Filtered search").
MODALITY_TAGS = "modality_tags"


def collection_record(model: str, dim: int) -> dict[str, Any]:
    """What a collection records about itself (Edge: a JSON file; Qdrant: collection metadata).

    `modality_tags: true` says every point was written with `MODALITY_TAGS`; a collection
    made before that field existed lacks the key, and its filters keep two conditions.
    """
    return {"binding_format": FORMAT_VERSION, "model": model, "dim": int(dim), MODALITY_TAGS: True}


def has_modality_tags(record: dict[str, Any] | None) -> bool:
    """Whether every point of the collection with this record carries `MODALITY_TAGS`."""
    return bool(record and record.get(MODALITY_TAGS) is True)


def check_record(record: dict[str, Any] | None, *, model: str, dim: int, where: str) -> None:
    """Refuse to open a collection made for another model or dimension, or by another format."""
    if not record or "binding_format" not in record:
        raise ConfigurationError(
            f"{where} was not made by binding (no model/dimension record); "
            "choose another BINDING_COLLECTION or BINDING_DATA_DIR"
        )
    version = record.get("binding_format")
    if version != FORMAT_VERSION:
        raise ConfigurationError(
            f"{where} has store format {version}; this version of binding reads format "
            f"{FORMAT_VERSION}. Re-ingest into a new collection (BINDING_COLLECTION)"
        )
    found_model, found_dim = record.get("model"), record.get("dim")
    if found_model != model or found_dim != dim:
        raise ConfigurationError(
            f"{where} holds {found_dim}-d vectors of model {found_model!r}, but it was opened "
            f"for {dim}-d vectors of model {model!r}; use model {found_model!r}, or another "
            "collection (BINDING_COLLECTION) for the new model"
        )


def query_vector(vector: np.ndarray | Sequence[float], dim: int, name: str = "query") -> np.ndarray:
    """A (dim,) float32 L2-normalised copy of a query vector, or `InputError`."""
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.shape[0] != dim:
        raise InputError(name, f"vector has shape {tuple(v.shape)}; this collection holds ({dim},)")
    if not np.all(np.isfinite(v)):
        raise InputError(name, "vector holds NaN or infinite values")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise InputError(name, "vector is all zeros (no direction to search)")
    return v / norm


def point_vectors(points: Sequence[Point], dim: int) -> np.ndarray:
    """(N, dim) float32 vectors of `points`, checked: right size, finite, non-zero."""
    if not points:
        return np.empty((0, dim), dtype=np.float32)
    for p in points:
        v = np.asarray(p.vector)
        if v.ndim != 1 or v.shape[0] != dim:
            raise InputError(
                f"point {p.id}",
                f"vector has shape {tuple(v.shape)}; this collection holds ({dim},)",
            )
    vectors = np.stack([np.asarray(p.vector, dtype=np.float32) for p in points])  # (N, dim)
    bad = ~np.isfinite(vectors).all(axis=1) | (np.abs(vectors).sum(axis=1) == 0)
    if bad.any():
        p = points[int(np.argmax(bad))]
        raise InputError(f"point {p.id}", "vector is all zeros or holds NaN/infinite values")
    return vectors


def point_payload(point: Point) -> dict[str, Any]:
    """The payload as plain JSON; `time` must be a finite number and `tags` a list of strings."""
    payload = dict(point.payload)
    if "time" in payload and payload["time"] is not None:
        t = payload["time"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise InputError(
                f"point {point.id}", f"payload time must be seconds (a number), not {t!r}"
            )
        payload["time"] = float(t)
    if "tags" in payload and payload["tags"] is not None:
        tags = payload["tags"]
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise InputError(
                f"point {point.id}", f"payload tags must be a list of strings, not {tags!r}"
            )
        payload["tags"] = list(tags)
    payload.pop(MODALITY_TAGS, None)
    modality, tags = payload.get("modality"), payload.get("tags")
    if isinstance(modality, str) and tags:
        payload[MODALITY_TAGS] = [f"{modality}/{t}" for t in tags]
    try:
        json.dumps(payload, allow_nan=False)  # both engines store JSON; refuse what is not
    except (TypeError, ValueError) as e:
        raise InputError(f"point {point.id}", f"payload is not plain JSON: {e}") from None
    return payload


def public_payload(payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored payload as callers see it: without the fields the stores derive."""
    out = dict(payload or {})
    out.pop(MODALITY_TAGS, None)
    return out
