"""Cross-modal retrieval: (query, target) pairs of any two modalities.

Targets are de-duplicated (five captions of one sound share it), every query is scored
against every target, and the rank of its own target gives Recall@1/5/10, the median rank
and the mean reciprocal rank. The reverse direction scores each target against every
query; a target counts as found at rank r when any of its queries is there.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binding.eval import metrics
from binding.eval.classify import Embedder
from binding.modality import Modality, parse_modality


@dataclass
class Pairs:
    """Queries and targets, each pair a relevant match; texts are strings, media paths."""

    query_modality: Modality
    target_modality: Modality
    queries: list[Any]
    targets: list[Any]
    origin: str = ""


def resolve_item(value: str, modality: Modality, base: Path) -> Any:
    """A manifest cell: the text itself for `text`, else a path (relative to the manifest)."""
    if modality is Modality.TEXT:
        return value
    path = Path(value)
    return path if path.is_absolute() else base / path


def read_pairs(
    manifest: Path | str,
    query_modality: Modality | str,
    target_modality: Modality | str,
    *,
    columns: tuple[str, str] = ("query", "target"),
) -> Pairs:
    """Pairs from a CSV whose header names the `query` and `target` columns."""
    path = Path(manifest)
    qm, tm = parse_modality(str(query_modality)), parse_modality(str(target_modality))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest (a CSV with columns query,target)")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: the header has no column {', '.join(missing)} "
                f"(found {', '.join(reader.fieldnames or []) or 'nothing'})"
            )
        rows = [row for row in reader if row[columns[0]] and row[columns[1]]]
    if not rows:
        raise ValueError(f"{path}: no pairs in it")
    base = path.parent
    return Pairs(
        qm,
        tm,
        [resolve_item(r[columns[0]], qm, base) for r in rows],
        [resolve_item(r[columns[1]], tm, base) for r in rows],
        str(path),
    )


def _key(item: Any) -> Any:
    return str(item) if isinstance(item, Path) else item


def pair_ranks(
    query_vectors: np.ndarray, target_vectors: np.ndarray, target_of: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks query->target (one per query) and target->query (one per target)."""
    scores = query_vectors @ target_vectors.T
    forward = metrics.ranks_of_targets(scores, target_of)
    relevant = np.zeros((target_vectors.shape[0], query_vectors.shape[0]), dtype=bool)
    relevant[np.asarray(target_of), np.arange(len(target_of))] = True
    backward = metrics.ranks_of_relevant(scores.T, relevant)
    return forward, backward


def retrieve(
    pairs: Pairs,
    embedder: Embedder,
    *,
    ks: Sequence[int] = (1, 5, 10),
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Metrics both ways: `{"query->target": {...}, "target->query": {...}, counts}`."""
    unique: dict[Any, int] = {}
    target_of = [unique.setdefault(_key(t), len(unique)) for t in pairs.targets]
    firsts = {_key(t): t for t in reversed(pairs.targets)}
    targets = [firsts[k] for k in unique]
    query_vectors = embedder.embed(pairs.query_modality, pairs.queries, progress=progress)
    target_vectors = embedder.embed(pairs.target_modality, targets, progress=progress)
    query_vectors, target_vectors, target_of = drop_rejected(
        query_vectors, target_vectors, target_of
    )
    if not target_of:
        raise ValueError(f"{pairs.origin}: no pair could be embedded on both sides")
    forward, backward = pair_ranks(query_vectors, target_vectors, target_of)
    q, t = pairs.query_modality.value, pairs.target_modality.value
    return {
        f"{q}->{t}": metrics.retrieval_metrics(forward, ks),
        f"{t}->{q}": metrics.retrieval_metrics(backward, ks),
        "queries": len(query_vectors),
        "targets": len(target_vectors),
        "chance_R@1": 1.0 / max(1, len(target_vectors)),
    }


def drop_rejected(
    query_vectors: np.ndarray, target_vectors: np.ndarray, target_of: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Leave out pairs whose query or target was rejected (NaN rows), and targets no pair
    points at any more, renumbering `target_of`; both directions then rank real items only."""
    queries, targets, links = metrics.usable_links(
        metrics.usable_rows(query_vectors),
        metrics.usable_rows(target_vectors),
        target_of,
        keep_unlinked=False,
    )
    return query_vectors[queries], target_vectors[targets], links
