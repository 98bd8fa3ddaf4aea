"""The collection itself: what the approximate index costs, and relevance judgements.

`index_recall` samples stored points as queries and compares the store's HNSW search (per
`hnsw_ef`) with exact search on the same vectors: recall@k = |approx ∩ exact| / k. A store
whose segments are not indexed yet searches exactly, so its recall is 1 whatever `ef`.
`judged` runs the user's queries against the collection and scores the hits against
judgements (`query,target[,relevance]`, target being a stored item's source path or name):
recall@k and nDCG@10.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from binding.eval import metrics

if TYPE_CHECKING:
    from binding.api import Engine


def sample_vectors(engine: Engine, count: int, seed: int = 0) -> list[np.ndarray]:
    """Up to `count` stored vectors, chosen uniformly (reservoir sampling over a scroll)."""
    rng = random.Random(seed)
    chosen: list[np.ndarray] = []
    for seen, point in enumerate(engine.store.scroll(with_vectors=True)):
        if len(chosen) < count:
            chosen.append(np.asarray(point.vector, dtype=np.float32))
        else:
            slot = rng.randint(0, seen)
            if slot < count:
                chosen[slot] = np.asarray(point.vector, dtype=np.float32)
    return chosen


def index_recall(
    engine: Engine,
    *,
    queries: int = 100,
    k: int = 10,
    efs: Sequence[int] = (16, 32, 64, 128),
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Recall@k of the approximate search per `hnsw_ef`, and its time against exact."""
    vectors = sample_vectors(engine, queries, seed)
    if not vectors:
        raise ValueError("the collection is empty: ingest something before `binding eval index`")
    store = engine.store
    exact: list[list[object]] = []
    start = time.perf_counter()
    for vector in vectors:
        exact.append([hit.id for hit in store.search(vector, limit=k, exact=True)])
        if progress:
            progress(1)
    exact_ms = 1000 * (time.perf_counter() - start) / len(vectors)
    per_ef: dict[str, Any] = {}
    for ef in efs:
        recalls = []
        start = time.perf_counter()
        for vector, wanted in zip(vectors, exact, strict=True):
            found = [hit.id for hit in store.search(vector, limit=k, hnsw_ef=ef)]
            recalls.append(metrics.recall_of_set(found, wanted))
            if progress:
                progress(1)
        per_ef[str(ef)] = {
            "recall": float(np.mean(recalls)),
            "ms_per_query": 1000 * (time.perf_counter() - start) / len(vectors),
        }
    info = store.info()
    return {
        "k": k,
        "queries": len(vectors),
        "points": info.count,
        "indexed": info.indexed,
        "exact_ms_per_query": exact_ms,
        "hnsw_ef": per_ef,
    }


def read_judgements(path: Path | str) -> dict[str, dict[str, float]]:
    """`query -> {target: relevance}` from a CSV with columns query,target[,relevance]."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such judgements file (CSV query,target,relevance)")
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("query", "target") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{source}: the header has no column {', '.join(missing)}")
        out: dict[str, dict[str, float]] = {}
        for row in reader:
            grade = float(row.get("relevance") or 1.0)
            out.setdefault(row["query"], {})[row["target"]] = grade
    if not out:
        raise ValueError(f"{source}: no judgements in it")
    return out


def _written(query: str) -> str:
    """A judged query in the query language; plain words are a text query."""
    from binding.query.parser import parse_query

    try:
        parse_query(query)
        return query
    except Exception:
        return 'text:"' + query.replace('"', "'") + '"'


def _matches(source: str, target: str) -> bool:
    return source == target or source.endswith("/" + target.lstrip("./"))


def judged(
    engine: Engine,
    judgements: dict[str, dict[str, float]],
    *,
    k: int = 10,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Recall@k and nDCG@10 of the collection's answers to the judged queries."""
    depth = max(k, 10)
    recalls: list[float] = []
    ndcgs: list[float] = []
    for query, wanted in judgements.items():
        hits = engine.search(_written(query), limit=depth).hits
        sources = [str(hit.payload.get("source", "")) for hit in hits]
        gains = [
            max((g for t, g in wanted.items() if _matches(s, t)), default=0.0) for s in sources
        ]
        relevant = {t for t, g in wanted.items() if g > 0}
        found = {t for t in relevant for s in sources[:k] if _matches(s, t)}
        recalls.append(len(found) / len(relevant) if relevant else 1.0)
        ndcgs.append(metrics.ndcg_of_list(gains, list(wanted.values()), 10))
        if progress:
            progress(1)
    return {
        f"R@{k}": float(np.mean(recalls)),
        "nDCG@10": float(np.mean(ndcgs)),
        "queries": len(judgements),
    }
