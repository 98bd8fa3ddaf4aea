"""Retrieval metrics of paired embeddings: pure functions, arrays in, numbers out."""

from __future__ import annotations

import numpy as np


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
    own = np.diag(similarity)[:, None]
    rank = (similarity >= own).sum(axis=1) - 1  # other items at least as close as the pair
    return {k: float((rank < k).mean()) for k in ks}


def chance_recall(count: int, k: int = 1) -> float:
    """Recall@k of a random ranking over `count` candidates."""
    return min(1.0, k / count) if count else 0.0


def zero_shot_accuracy(inputs: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray) -> float:
    """Share of inputs whose closest class vector (e.g. a text prompt's embedding) is their label."""
    predicted = (inputs @ class_vectors.T).argmax(axis=1)
    return float((predicted == labels).mean())
