"""What every store does, whatever engine is behind it.

Callers get a `Store` from `binding.store.open_store(settings, ...)` and never learn which
engine it is: Qdrant Edge in a local folder (embedded mode) or a Qdrant server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import numpy as np

PointId = UUID | str


@dataclass(frozen=True)
class Point:
    """One stored vector: an item (or a segment of one) of one modality."""

    id: UUID
    vector: np.ndarray  # (D,) float32, L2-normalised
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """A search result: a point, its score (cosine similarity) and its payload."""

    id: UUID
    score: float
    payload: dict[str, Any]
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class Filter:
    """Conditions a point must meet; every field left as None matches everything.

    `modalities` and `tags` match any of the given values; `time_from`/`time_to` bound the
    point's `time` payload (seconds since the epoch; a segment's start for stream windows).
    """

    modalities: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    stream: str | None = None
    source: str | None = None
    sha256: str | None = None
    time_from: float | None = None
    time_to: float | None = None
    ids: frozenset[UUID] | None = None
    exclude_ids: frozenset[UUID] = field(default_factory=frozenset)

    def is_empty(self) -> bool:
        return self == Filter()


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    model: str
    dim: int
    count: int
    engine: str  # "edge" or "qdrant"
    indexed: bool  # True when every segment is HNSW-indexed (searches approximate)
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """A collection of points for one model and dimension."""

    model: str
    dim: int

    def upsert(self, points: Sequence[Point], *, wait: bool = True) -> None:
        """Insert or overwrite points by id (idempotent)."""

    def search(
        self,
        vector: np.ndarray,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        with_vectors: bool = False,
        exact: bool = False,
        hnsw_ef: int | None = None,
    ) -> list[Hit]:
        """The `limit` points nearest to `vector` by cosine, best first.

        `exact=True` scores every matching point (no index); `hnsw_ef` widens the HNSW search
        for this query (higher: better recall, slower). An engine without an index searches
        exactly whatever these say.
        """

    def recommend(
        self,
        positive: Sequence[np.ndarray],
        negative: Sequence[np.ndarray] = (),
        *,
        limit: int = 10,
        filter: Filter | None = None,
        exact: bool = False,
        hnsw_ef: int | None = None,
    ) -> list[Hit]:
        """Qdrant's recommend (best-score strategy) with example vectors."""

    def retrieve(self, ids: Sequence[PointId], *, with_vectors: bool = True) -> list[Point]:
        """The points with these ids that exist (missing ids are left out)."""

    def delete(self, *, ids: Sequence[PointId] | None = None, filter: Filter | None = None) -> int:
        """Delete by ids or by filter; returns how many points were removed."""

    def count(self, filter: Filter | None = None) -> int:
        """Exact number of points matching `filter`."""

    def scroll(
        self, *, filter: Filter | None = None, batch: int = 1000, with_vectors: bool = False
    ) -> Iterator[Point]:
        """Every matching point, in id order, in batches."""

    def facet(self, key: str, *, filter: Filter | None = None) -> dict[str, int]:
        """Counts of each value of a keyword payload field (e.g. points per modality)."""

    def info(self) -> CollectionInfo:
        """Name, model, dimension, size and index state."""

    def optimize(self, *, wait: bool = True) -> None:
        """Bring the vector index up to date; queries and writes go on meanwhile.

        `wait=False` returns at once and the index builds in the background (Edge: a child
        process; a Qdrant server: its own optimizer). Searches stay correct either way:
        unindexed points are searched exactly.
        """

    def close(self) -> None:
        """Flush and release the folder or connection."""
