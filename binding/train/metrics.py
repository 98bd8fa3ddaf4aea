"""Retrieval metrics of paired embeddings, on top of the evaluation harness's metrics.

The rank and tie rules are those of `binding.eval.metrics` (ties count against the query),
so a recall printed during training means the same as one printed by `binding eval`.
"""

from __future__ import annotations

import numpy as np

from binding.eval import metrics


def recall_at_k(
    queries: np.ndarray, gallery: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[int, float]:
    """Share of queries whose own pair (same row) ranks in the top k of the gallery.

    Rows are unit vectors; similarity is the dot product. Ties count against the query
    (a pair tied with another item is not a hit at k=1), so constant embeddings score 0.
    """
    if queries.shape != gallery.shape or queries.ndim != 2:
        raise ValueError(
            f"expected two (N, D) arrays of one shape, got {queries.shape} and {gallery.shape}"
        )
    similarity = queries.astype(np.float64) @ gallery.astype(np.float64).T
    ranks = metrics.ranks_of_targets(similarity, np.arange(len(queries)))
    return {k: metrics.recall_at_k(ranks, k) for k in ks}


def chance_recall(count: int, k: int = 1) -> float:
    """Recall@k of a random ranking over `count` candidates."""
    return min(1.0, k / count) if count else 0.0


def zero_shot_accuracy(inputs: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray) -> float:
    """Share of inputs whose closest class vector (e.g. a text prompt's embedding) is their label."""
    return metrics.top_k_accuracy(inputs @ class_vectors.T, labels, 1)
