"""Stores to test, and a NumPy reference that says what every store must answer.

Every behaviour test takes the `store_factory` fixture, parametrised over the engines:
Edge in a temporary folder, qdrant-client in memory, and a Qdrant server when
`BINDING_TEST_QDRANT_URL` is set (skipped with that reason otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from binding.store.base import Filter, Point, Store
from binding.store.edge import EdgeOptions, EdgeStore
from binding.store.qdrant import QdrantStore

DIM = 32
MODEL = "imagebind_tiny"
MODALITIES = ["text", "image", "video", "audio", "depth", "thermal", "imu"]
SERVER_URL = os.environ.get("BINDING_TEST_QDRANT_URL")

# Small stores never reach the background-index threshold unless a test asks for it.
EDGE_TEST_OPTIONS = EdgeOptions(auto_index_points=None)

StoreFactory = Callable[..., Store]


def make_points(n: int, seed: int = 0, dim: int = DIM) -> list[Point]:
    """`n` points with every payload field the filters use, deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = []
    for i in range(n):
        tags = sorted(
            {f"tag{j}" for j in rng.choice(6, size=int(rng.integers(0, 3)), replace=False)}
        )
        payload = {
            "modality": MODALITIES[i % len(MODALITIES)],
            "tags": tags,
            "stream": f"sensor{i % 3}" if i % 4 == 0 else None,
            "source": f"/data/file{i // 2}.bin",  # two points (segments) per file
            "sha256": f"{i // 2:064x}",
            "time": 1_700_000_000.0 + 10.0 * i,
            "name": f"file {i}",
            "nested": {"width": int(i), "ok": bool(i % 2)},
        }
        points.append(Point(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}-{i}"), vectors[i], payload))
    return points


def matches(f: Filter | None, point_id: uuid.UUID, payload: dict[str, Any]) -> bool:
    """What `Filter` means, written plainly."""
    if f is None:
        return True
    if f.modalities is not None and payload.get("modality") not in f.modalities:
        return False
    if f.tags is not None and not set(payload.get("tags") or ()) & f.tags:
        return False
    for key in ("stream", "source", "sha256"):
        want = getattr(f, key)
        if want is not None and payload.get(key) != want:
            return False
    t = payload.get("time")
    if f.time_from is not None and (t is None or t < f.time_from):
        return False
    if f.time_to is not None and (t is None or t > f.time_to):
        return False
    if f.ids is not None and point_id not in f.ids:
        return False
    return point_id not in f.exclude_ids


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Qdrant's recommend best-score scaling (qdrant_client/local/distances.py, scaled_fast_sigmoid).
    return 0.5 * (x / (1.0 + np.abs(x)) + 1.0)


@dataclass
class Reference:
    """The exact answers, by brute force over what was written."""

    points: dict[uuid.UUID, Point]

    @classmethod
    def of(cls, points: list[Point]) -> Reference:
        return cls({p.id: p for p in points})

    def _rows(self, f: Filter | None) -> tuple[list[uuid.UUID], np.ndarray]:
        ids = [i for i, p in self.points.items() if matches(f, i, p.payload)]
        vectors = np.stack([self.points[i].vector for i in ids]) if ids else np.empty((0, DIM))
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return ids, vectors.astype(np.float64)

    def search(
        self, q: np.ndarray, limit: int, f: Filter | None = None
    ) -> list[tuple[uuid.UUID, float]]:
        ids, vectors = self._rows(f)
        q = q / np.linalg.norm(q)
        scores = vectors @ q
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(ids[k], float(scores[k])) for k in order]

    def recommend(
        self, pos: list[np.ndarray], neg: list[np.ndarray], limit: int, f: Filter | None = None
    ) -> list[tuple[uuid.UUID, float]]:
        ids, vectors = self._rows(f)

        def best(examples: list[np.ndarray]) -> np.ndarray:
            if not examples:
                return np.full(len(ids), -np.inf)
            ex = np.stack([e / np.linalg.norm(e) for e in examples])
            return (vectors @ ex.T).max(axis=1)

        p, n = best(pos), best(neg)
        finite = np.isfinite
        scores = np.where(
            p > n, _sigmoid(np.where(finite(p), p, 0)), -_sigmoid(np.where(finite(n), n, 0))
        )
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(ids[k], float(scores[k])) for k in order]

    def count(self, f: Filter | None = None) -> int:
        return sum(matches(f, i, p.payload) for i, p in self.points.items())


ENGINES = [
    "edge",
    "memory",
    pytest.param(
        "server",
        marks=pytest.mark.skipif(
            SERVER_URL is None, reason="set BINDING_TEST_QDRANT_URL to run against a Qdrant server"
        ),
    ),
]


class Opener:
    """Opens stores of one engine; the same `name` reopens the same collection."""

    def __init__(self, engine: str, folder: Path) -> None:
        self.engine, self.folder = engine, folder
        self.opened: list[Store] = []
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.client: Any = None

    def __call__(
        self, name: str = "c", *, model: str = MODEL, dim: int = DIM, read_only: bool = False
    ) -> Store:
        store: Store
        if self.engine == "edge":
            store = EdgeStore(
                self.folder / name,
                model=model,
                dim=dim,
                read_only=read_only,
                options=EDGE_TEST_OPTIONS,
            )
        elif self.engine == "memory":
            from qdrant_client import QdrantClient

            # One in-memory client stands for "the same server" across reopens.
            self.client = self.client or QdrantClient(location=":memory:")
            store = QdrantStore(
                client=self.client, collection=name, model=model, dim=dim, read_only=read_only
            )
        else:
            store = QdrantStore(
                url=SERVER_URL,
                api_key=os.environ.get("BINDING_TEST_QDRANT_API_KEY"),
                collection=f"{self.prefix}-{name}",
                model=model,
                dim=dim,
                read_only=read_only,
            )
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()
        if self.engine == "server":
            from qdrant_client import QdrantClient

            admin = QdrantClient(
                url=SERVER_URL, api_key=os.environ.get("BINDING_TEST_QDRANT_API_KEY")
            )
            for c in admin.get_collections().collections:
                if c.name.startswith(self.prefix):
                    admin.delete_collection(c.name)
            admin.close()
        if self.client is not None:
            self.client.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(engine: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """A fresh opener per test, for tests that write."""
    opener = Opener(engine, tmp_path)
    yield opener
    opener.close_all()


@pytest.fixture(scope="module", params=ENGINES)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Reference]]:
    """One filled store per engine for the tests that only read (never write to it)."""
    opener = Opener(str(request.param), tmp_path_factory.mktemp("shared"))
    points = make_points(120)
    store = opener()
    store.upsert(points)
    yield store, Reference.of(points)
    opener.close_all()
