"""Why a hit came back: its cosine with each term, and each term's share of its score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from binding.query.combine import sum_length, weighted_sum, with_hit_vectors
from binding.store.base import Hit, Store


@dataclass(frozen=True)
class Explanation:
    """One hit, seen through each term of the query.

    `cosines[i]` is the hit's cosine with term i. `contributions[i]` is
    w_i * cos(hit, t_i) / ||sum_j w_j t_j|| (t_j normalised): they add up to `combined`, the
    hit's cosine with the `sum` mode's query vector, which is the hit's score in that mode.
    """

    id: UUID
    score: float
    cosines: tuple[float, ...]
    contributions: tuple[float, ...]

    @property
    def combined(self) -> float:
        """The hit's cosine with the normalised weighted sum of the terms."""
        return math.fsum(self.contributions)


def explain(
    hits: Sequence[Hit],
    term_vectors: np.ndarray,
    weights: Sequence[float] | np.ndarray,
    *,
    store: Store | None = None,
) -> list[Explanation]:
    """An `Explanation` for each hit, in order.

    The hits need their vectors: search with `with_vectors=True`, or pass `store` to fetch
    the missing ones. `term_vectors` is (T, D) as `resolve_terms` gives, `weights` (T,).
    """
    if any(hit.vector is None for hit in hits):
        if store is None:
            raise ValueError("explain needs the hits' vectors: search with with_vectors=True")
        hits = with_hit_vectors(hits, store)
    if not hits:
        return []
    w = np.asarray(weights, dtype=np.float64)  # (T,)
    norm = sum_length(weighted_sum(term_vectors, w), w)  # refuses terms that cancel, as search does
    terms = np.asarray(term_vectors, dtype=np.float64)  # (T, D)
    terms = terms / np.linalg.norm(terms, axis=1, keepdims=True)

    points = np.stack([np.asarray(hit.vector, dtype=np.float64) for hit in hits])  # (H, D)
    points = points / np.linalg.norm(points, axis=1, keepdims=True)
    cosines = points @ terms.T  # (H, T)
    contributions = cosines * w[None, :] / norm  # (H, T)
    return [
        Explanation(
            id=hit.id,
            score=float(hit.score),
            cosines=tuple(float(c) for c in cosines[h]),
            contributions=tuple(float(c) for c in contributions[h]),
        )
        for h, hit in enumerate(hits)
    ]
