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
from binding.points import escape_source
from binding.store.base import Filter, PointId
from binding.store.validation import MODALITY_TAGS

#: Payload fields every collection indexes, and how (keyword match or float range).
INDEXED_FIELDS: dict[str, str] = {
    "modality": "keyword",
    "tags": "keyword",
    "stream": "keyword",
    "source": "keyword",
    "sha256": "keyword",
    "time": "float",  # seconds since the epoch
    MODALITY_TAGS: "keyword",  # derived by the stores: "<modality>/<tag>" per tag
}

#: Most `<modality>/<tag>` pairs one combined condition may list; past it, two conditions.
MAX_PAIRS = 256


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


def check_facet_key(key: str) -> None:
    """Facets count the values of a keyword field callers see (not the derived one)."""
    keys = [k for k, kind in INDEXED_FIELDS.items() if kind == "keyword" and k != MODALITY_TAGS]
    if key not in keys:
        raise InputError(
            "facet", f"{key!r} is not a keyword field; choose one of: {', '.join(keys)}"
        )


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


def keyword_conditions(f: Filter, modality_tags: bool) -> list[tuple[str, list[str]]]:
    """(field, any of these values) pairs that must all hold, for the keyword fields of `f`.

    With `modality_tags` (the collection derives that field on every point), modalities and
    tags together become one condition on it: a point matches "modality in M and a tag in T"
    exactly when one of its `<modality>/<tag>` values is in M x T.
    """
    out: list[tuple[str, list[str]]] = []
    modalities, tags = f.modalities, f.tags
    if (
        modality_tags
        and modalities is not None
        and tags is not None
        and len(modalities) * len(tags) <= MAX_PAIRS
    ):
        out.append((MODALITY_TAGS, sorted(f"{m}/{t}" for m in modalities for t in tags)))
    else:
        if modalities is not None:
            out.append(("modality", sorted(modalities)))
        if tags is not None:
            out.append(("tags", sorted(tags)))
    for key in ("stream", "source", "sha256"):
        value = getattr(f, key)
        if value is not None:
            # Payload sources are stored escaped (binding.points.escape_source, idempotent).
            out.append((key, [escape_source(value) if key == "source" else value]))
    return out


def to_edge(f: Filter | None, *, modality_tags: bool = False) -> Any:
    """`qdrant_edge.Filter`, or None for no condition. Call `matches_nothing` first.

    `modality_tags`: the collection's points carry `MODALITY_TAGS` (see `keyword_conditions`).
    """
    import qdrant_edge as qe

    if f is None or f.is_empty():
        return None
    check(f)
    must: list[Any] = []
    must_not: list[Any] = []
    for key, values in keyword_conditions(f, modality_tags):
        # One value: MatchValue, which Qdrant checks faster than MatchAny.
        match = qe.MatchValue(values[0]) if len(values) == 1 else qe.MatchAny(values)
        must.append(qe.FieldCondition(key, match=match))
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


def to_qdrant(f: Filter | None, *, modality_tags: bool = False) -> qm.Filter | None:
    """`qdrant_client` filter, or None for no condition. Call `matches_nothing` first.

    `modality_tags`: as in `to_edge`.
    """
    if f is None or f.is_empty():
        return None
    check(f)
    must: list[Any] = []
    must_not: list[Any] = []
    for key, values in keyword_conditions(f, modality_tags):
        match = qm.MatchValue(value=values[0]) if len(values) == 1 else qm.MatchAny(any=values)
        must.append(qm.FieldCondition(key=key, match=match))
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
