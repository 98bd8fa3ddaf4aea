"""An exact in-memory `Store` on NumPy, to test the query algebra against brute force.

It is a real store (every method of the protocol, exact cosine search, Qdrant's best-score
recommend formula), small and slow: for tests only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID, uuid5

import numpy as np

from binding.store.base import CollectionInfo, Filter, Hit, Point, PointId

NAMESPACE = UUID("2f0b8a52-8f43-4b4c-9d6e-3c1f5b7a9e01")
MODALITIES = ["text", "image", "video", "audio", "depth", "thermal", "imu"]


def unit(v: np.ndarray) -> np.ndarray:
    """`v` L2-normalised along its last axis."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def point_id(n: int) -> UUID:
    return uuid5(NAMESPACE, str(n))


def random_points(n: int, dim: int, seed: int = 0) -> list[Point]:
    """`n` random unit points with a modality, a tag, a stream and a time each."""
    rng = np.random.default_rng(seed)
    return [
        Point(
            id=point_id(i),
            vector=unit(rng.standard_normal(dim)).astype(np.float32),
            payload={
                "modality": MODALITIES[i % len(MODALITIES)],
                "tags": ["even" if i % 2 == 0 else "odd"],
                "stream": f"s{i % 3}",
                "time": float(i),
            },
        )
        for i in range(n)
    ]


def _uuid(point_id: PointId) -> UUID:
    return point_id if isinstance(point_id, UUID) else UUID(str(point_id))


def _matches(point: Point, f: Filter | None) -> bool:
    if f is None:
        return True
    payload = point.payload
    if f.modalities is not None and payload.get("modality") not in f.modalities:
        return False
    if f.tags is not None and not set(payload.get("tags", ())) & f.tags:
        return False
    for key in ("stream", "source", "sha256"):
        wanted = getattr(f, key)
        if wanted is not None and payload.get(key) != wanted:
            return False
    time = payload.get("time")
    if f.time_from is not None and (time is None or time < f.time_from):
        return False
    if f.time_to is not None and (time is None or time > f.time_to):
        return False
    if f.ids is not None and point.id not in f.ids:
        return False
    return point.id not in f.exclude_ids


def _scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    # Qdrant's recommend best-score transform (qdrant_client/local/distances.py)
    return 0.5 * (x / (1.0 + np.abs(x)) + 1.0)


class NumpyStore:
    """Exact cosine search over a dict of points."""

    def __init__(self, dim: int, model: str = "test") -> None:
        self.dim = dim
        self.model = model
        self.points: dict[UUID, Point] = {}

    def upsert(self, points: Sequence[Point], *, wait: bool = True) -> None:
        for p in points:
            vector = np.asarray(p.vector, dtype=np.float32)
            assert vector.shape == (self.dim,), vector.shape
            vector = vector / np.linalg.norm(vector)
            self.points[p.id] = Point(id=p.id, vector=vector, payload=dict(p.payload))

    def _scored(self, scores_of, limit: int, f: Filter | None, with_vectors: bool) -> list[Hit]:
        chosen = [p for p in self.points.values() if _matches(p, f)]
        if not chosen:
            return []
        matrix = np.stack([p.vector for p in chosen]).astype(np.float64)  # (N, D)
        scores = scores_of(matrix)  # (N,)
        order = sorted(range(len(chosen)), key=lambda i: (-scores[i], str(chosen[i].id)))
        return [
            Hit(
                id=chosen[i].id,
                score=float(scores[i]),
                payload=dict(chosen[i].payload),
                vector=chosen[i].vector.copy() if with_vectors else None,
            )
            for i in order[:limit]
        ]

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
        query = np.asarray(vector, dtype=np.float64)
        query = query / np.linalg.norm(query)
        return self._scored(lambda m: m @ query, limit, filter, with_vectors)

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
        def unit(vs: Sequence[np.ndarray]) -> np.ndarray:
            m = np.asarray(vs, dtype=np.float64).reshape(len(vs), self.dim)
            return m / np.linalg.norm(m, axis=1, keepdims=True)

        pos, neg = unit(positive), unit(negative)

        def best_score(m: np.ndarray) -> np.ndarray:
            best_pos = (m @ pos.T).max(axis=1) if len(pos) else np.full(len(m), -np.inf)
            best_neg = (m @ neg.T).max(axis=1) if len(neg) else np.full(len(m), -np.inf)
            with np.errstate(invalid="ignore"):  # -inf (no examples) in the branch not taken
                return np.where(
                    best_pos > best_neg,
                    _scaled_fast_sigmoid(best_pos),
                    -_scaled_fast_sigmoid(best_neg),
                )

        return self._scored(best_score, limit, filter, False)

    def retrieve(self, ids: Sequence[PointId], *, with_vectors: bool = True) -> list[Point]:
        found = [self.points[_uuid(i)] for i in ids if _uuid(i) in self.points]
        if with_vectors:
            return found
        return [
            Point(id=p.id, vector=None, payload=p.payload)  # type: ignore[arg-type]
            for p in found
        ]

    def delete(self, *, ids: Sequence[PointId] | None = None, filter: Filter | None = None) -> int:
        doomed = (
            {_uuid(i) for i in ids} & set(self.points)
            if ids is not None
            else {i for i, p in self.points.items() if _matches(p, filter)}
        )
        for point_id in doomed:
            del self.points[point_id]
        return len(doomed)

    def count(self, filter: Filter | None = None) -> int:
        return sum(_matches(p, filter) for p in self.points.values())

    def scroll(
        self, *, filter: Filter | None = None, batch: int = 1000, with_vectors: bool = False
    ) -> Iterator[Point]:
        for point_id in sorted(self.points, key=str):
            point = self.points[point_id]
            if _matches(point, filter):
                yield point

    def facet(self, key: str, *, filter: Filter | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.points.values():
            if _matches(p, filter) and key in p.payload:
                values = p.payload[key]
                for value in values if isinstance(values, list) else [values]:
                    counts[value] = counts.get(value, 0) + 1
        return counts

    def info(self) -> CollectionInfo:
        return CollectionInfo(
            name="numpy",
            model=self.model,
            dim=self.dim,
            count=len(self.points),
            engine="numpy",
            indexed=False,
        )

    def optimize(self, *, wait: bool = True) -> None:
        pass  # nothing to index: every search is exact

    def close(self) -> None:
        pass
