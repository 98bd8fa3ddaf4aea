"""HNSW against brute force: with the index built, the default search parameters must find
(nearly) the exact top 10. The full-size version of this measurement is bench/search.py."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from binding.store.base import Filter, Point
from binding.store.edge import EdgeOptions, EdgeStore

N, DIM, CENTRES, QUERIES, K = 4000, 128, 40, 100, 10
RECALL_FLOOR = 0.95


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray, noise: float) -> np.ndarray:
    x = centres[rng.integers(0, len(centres), n)]
    x = x + noise * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def build(folder, options: EdgeOptions) -> tuple[EdgeStore, np.ndarray, list[uuid.UUID]]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    data = clustered(N, rng, centres, 0.7)  # (N, D)
    ids = [uuid.UUID(int=i + 1) for i in range(N)]
    store = EdgeStore(folder, model="m", dim=DIM, options=options)
    payloads = [{"modality": ("image", "audio")[i % 2], "tags": [f"g{i % 20}"]} for i in range(N)]
    store.upsert([Point(i, v, p) for i, v, p in zip(ids, data, payloads, strict=True)])
    store.optimize()
    info = store.info()
    assert info.indexed and info.details["indexed_vectors"] == N, info.details
    return store, data, ids


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[EdgeStore, np.ndarray, list[uuid.UUID]]:
    # The store's defaults (HNSW m, ef_construct, hnsw_ef, int8 + rescoring), with thresholds
    # small enough that 4,000 points are indexed and searched through the graph.
    options = EdgeOptions(
        indexing_threshold_kb=100,
        full_scan_points=20,  # 10 KiB of 128-d vectors
        auto_index_points=None,
        build_niceness=0,
    )
    store, data, ids = build(tmp_path_factory.mktemp("recall") / "s", options)
    yield store, data, ids
    store.close()


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[EdgeStore, np.ndarray, list[uuid.UUID]]:
    # The default full-scan threshold (50,000 points): the graph is built, but every filter
    # here matches fewer points, so filtered searches scan the matches; and no payload value
    # is above the threshold, so Qdrant builds no per-value links a graph walk would need.
    options = EdgeOptions(indexing_threshold_kb=100, auto_index_points=None, build_niceness=0)
    store, data, ids = build(tmp_path_factory.mktemp("scanned") / "s", options)
    yield store, data, ids
    store.close()


def recall_at_k(
    store: EdgeStore,
    data: np.ndarray,
    ids: list[uuid.UUID],
    mask: np.ndarray | None = None,
    **search: object,
) -> float:
    rng = np.random.default_rng(1)
    base = data[rng.choice(N, QUERIES, replace=False)]
    queries = base + 0.35 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(DIM)
    scores = queries @ data.T  # (Q, N) brute force
    if mask is not None:
        scores[:, ~mask] = -np.inf
    truth = np.argsort(-scores, axis=1)[:, :K]
    index_of = {u: i for i, u in enumerate(ids)}
    found = [{index_of[h.id] for h in store.search(q, limit=K, **search)} for q in queries]  # type: ignore[arg-type]
    return float(np.mean([len(f & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def test_default_search_finds_the_exact_top_10(indexed, record_property) -> None:
    store, data, ids = indexed
    recall = recall_at_k(store, data, ids)
    record_property("recall_at_10", recall)
    print(f"recall@10 with the default hnsw_ef={store.options.hnsw_ef}: {recall:.3f}")
    assert recall >= RECALL_FLOOR


def test_exact_search_is_exact(indexed) -> None:
    store, data, ids = indexed
    assert recall_at_k(store, data, ids, exact=True) == 1.0


def test_selective_filter_keeps_recall(indexed) -> None:
    # 5% of the points: above Edge's full-scan threshold, so the filtered search walks the
    # graph. Qdrant's extra per-value links (payload index on `tags`) keep it connected;
    # without them recall collapses (see docs/store.md).
    store, data, ids = indexed
    mask = np.arange(N) % 20 == 3
    recall = recall_at_k(store, data, ids, mask, filter=Filter(tags=frozenset({"g3"})))
    print(f"filtered recall@10 (5% of the points): {recall:.3f}")
    assert recall >= RECALL_FLOOR


def test_filtered_search_on_the_index_stays_inside_the_filter(indexed) -> None:
    store, data, ids = indexed
    hits = store.search(data[0], limit=20, filter=Filter(modalities=frozenset({"audio"})))
    assert len(hits) == 20 and all(h.payload["modality"] == "audio" for h in hits)
    assert store.search(data[1], limit=1)[0].id == ids[1]  # a stored vector finds itself


@pytest.mark.parametrize(
    ("where", "mask_of"),
    [
        (Filter(tags=frozenset({"g3"})), lambda n: n % 20 == 3),  # 5% of the points
        (Filter(modalities=frozenset({"audio"})), lambda n: n % 2 == 1),  # half of them
    ],
)
def test_filters_below_the_full_scan_threshold_scan_their_matches(scanned, where, mask_of) -> None:
    store, data, ids = scanned
    recall = recall_at_k(store, data, ids, mask_of(np.arange(N)), filter=where)
    print(f"filtered recall@10, scanned: {recall:.3f}")
    assert recall >= 0.99  # int8 scores, top candidates rescored: (nearly) exact


def test_the_full_scan_threshold_reaches_the_index_in_qdrant_units(scanned) -> None:
    # Qdrant counts it in KiB of float32 vectors: 50,000 points of 128 floats = 25,000 KiB.
    store, _, _ = scanned
    configs = [
        json.loads(p.read_text())["config"]["vector_data"][""]["index"]
        for p in store.path.glob("shard-*/segments/*/segment.json")
    ]
    graphs = [c["options"] for c in configs if c["type"] == "hnsw"]
    assert graphs and all(g["full_scan_threshold"] == 25_000 for g in graphs), configs
