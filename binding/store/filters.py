"""Our `Filter` in each engine's words.

One `Filter` means the same thing in both engines: every field set must hold (AND);
`modalities` and `tags` match any of their values; `time_from`/`time_to` bound `time`
inclusively; `exclude_ids` removes points. An empty set in `modalities`, `tags` or `ids`
matches nothing (any of no values), so callers can pass a selection straight through.
"""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from qdrant_client.http import models as qm

from binding.errors import InputError
from binding.store.base import Filter, PointId

#: Payload fields every collection indexes, and how (keyword match or float range).
INDEXED_FIELDS: dict[str, str] = {
    "modality": "keyword",
    "tags": "keyword",
    "stream": "keyword",
    "source": "keyword",
    "sha256": "keyword",
    "time": "float",  # seconds since the epoch
}


def to_uuid(point_id: PointId) -> UUID:
    """A point id as `uuid.UUID`; strings must spell a UUID."""
    if isinstance(point_id, UUID):
        return point_id
    if isinstance(point_id, str):
        try:
            return UUID(point_id)
        except ValueError:
            raise InputError(point_id, "a point id must be a UUID") from None
    raise InputError(repr(point_id), f"a point id must be a UUID, not {type(point_id).__name__}")


def matches_nothing(f: Filter | None) -> bool:
    """True when the filter cannot match any point (an empty any-of set)."""
    if f is None:
        return False
    if any(s is not None and len(s) == 0 for s in (f.modalities, f.tags, f.ids)):
        return True
    if f.ids is not None and f.ids <= f.exclude_ids:
        return True
    return f.time_from is not None and f.time_to is not None and f.time_from > f.time_to


def check(f: Filter | None) -> None:
    """Reject filters no engine can run (NaN bounds, non-string values)."""
    if f is None:
        return
    for name in ("time_from", "time_to"):
        value = getattr(f, name)
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise InputError("filter", f"{name} must be a finite number of seconds, not {value!r}")
    for name in ("stream", "source", "sha256"):
        value = getattr(f, name)
        if value is not None and not isinstance(value, str):
            raise InputError("filter", f"{name} must be a string, not {value!r}")
    for name in ("modalities", "tags"):
        values = getattr(f, name)
        if values is not None and not all(isinstance(v, str) for v in values):
            raise InputError("filter", f"{name} must hold strings, not {sorted(map(repr, values))}")


def to_edge(f: Filter | None) -> Any:
    """`qdrant_edge.Filter`, or None for no condition. Call `matches_nothing` first."""
    import qdrant_edge as qe

    if f is None or f.is_empty():
        return None
    check(f)
    must: list[Any] = []
    must_not: list[Any] = []
    if f.modalities is not None:
        must.append(qe.FieldCondition("modality", match=qe.MatchAny(sorted(f.modalities))))
    if f.tags is not None:
        must.append(qe.FieldCondition("tags", match=qe.MatchAny(sorted(f.tags))))
    for key in ("stream", "source", "sha256"):
        value = getattr(f, key)
        if value is not None:
            must.append(qe.FieldCondition(key, match=qe.MatchValue(value)))
    if f.time_from is not None or f.time_to is not None:
        bounds = qe.RangeFloat(
            gte=None if f.time_from is None else float(f.time_from),
            lte=None if f.time_to is None else float(f.time_to),
        )
        must.append(qe.FieldCondition("time", range=bounds))
    if f.ids is not None:
        must.append(qe.HasIdCondition({to_uuid(i) for i in f.ids}))
    if f.exclude_ids:
        must_not.append(qe.HasIdCondition({to_uuid(i) for i in f.exclude_ids}))
    return qe.Filter(must=must or None, must_not=must_not or None)


def to_qdrant(f: Filter | None) -> qm.Filter | None:
    """`qdrant_client` filter, or None for no condition. Call `matches_nothing` first."""
    if f is None or f.is_empty():
        return None
    check(f)
    must: list[Any] = []
    must_not: list[Any] = []
    if f.modalities is not None:
        must.append(qm.FieldCondition(key="modality", match=qm.MatchAny(any=sorted(f.modalities))))
    if f.tags is not None:
        must.append(qm.FieldCondition(key="tags", match=qm.MatchAny(any=sorted(f.tags))))
    for key in ("stream", "source", "sha256"):
        value = getattr(f, key)
        if value is not None:
            must.append(qm.FieldCondition(key=key, match=qm.MatchValue(value=value)))
    if f.time_from is not None or f.time_to is not None:
        bounds = qm.Range(
            gte=None if f.time_from is None else float(f.time_from),
            lte=None if f.time_to is None else float(f.time_to),
        )
        must.append(qm.FieldCondition(key="time", range=bounds))
    if f.ids is not None:
        must.append(qm.HasIdCondition(has_id=sorted(str(to_uuid(i)) for i in f.ids)))
    if f.exclude_ids:
        must_not.append(qm.HasIdCondition(has_id=sorted(str(to_uuid(i)) for i in f.exclude_ids)))
    return qm.Filter(must=must or None, must_not=must_not or None)
