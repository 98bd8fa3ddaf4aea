"""From a query's terms to vectors, and from vectors to hits in a store.

Every term vector is L2-normalised before it is weighted: ImageBind's towers come out at
different scales (vision 1, audio 20, text learned), and without this one modality would
outweigh the others. The weighted sum is normalised again before it is searched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from uuid import UUID

import numpy as np

from binding.errors import InputError
from binding.modality import Modality
from binding.query.parser import describe_term
from binding.query.terms import (
    FileInput,
    PointInput,
    Query,
    QueryCancelledError,
    QueryError,
    Term,
    TextInput,
    VectorInput,
)
from binding.store.base import Hit, Store

#: A weighted sum shorter than this fraction of the total |weight| has no direction worth
#: searching: it is rounding left over from terms that cancel. float32 embeddings carry
#: about 1e-7 relative error, so a real difference of two inputs stays far above it.
CANCEL_TOLERANCE = 1e-4

#: Reciprocal rank fusion's constant k (Cormack, Clarke and Buettcher, "Reciprocal Rank
#: Fusion outperforms Condorcet and individual Rank Learning Methods", SIGIR 2009: k = 60).
RRF_K = 60

#: Embeds a batch of one modality's inputs (texts as `str`, files as `Path`): (N, D).
EmbedFn = Callable[[Modality, list[str | Path]], np.ndarray]


class TermEmbedder(Protocol):
    """What the engine offers the query layer: each term's vector, rows L2-normalised."""

    def embed_terms(self, terms: Sequence[Term]) -> np.ndarray:
        """(T, D) float32, one row per term, in order."""
        ...


def resolve_terms(terms: Sequence[Term], *, embed: EmbedFn, store: Store) -> np.ndarray:
    """Each term's vector, L2-normalised: (T, D) float32.

    Text and files are embedded with `embed`, one call per modality; point ids are looked up
    in `store` in one call; raw vectors pass through. A missing id, a vector of the wrong
    size, a non-finite or an all-zero vector is an `InputError` naming the term.
    """
    rows: list[np.ndarray | None] = [None] * len(terms)
    by_modality: dict[Modality, list[tuple[int, str | Path]]] = {}  # term index, input
    point_terms: list[int] = []
    for i, term in enumerate(terms):
        source = term.input
        if isinstance(source, TextInput | FileInput):
            assert term.modality is not None  # Term guarantees it
            embed_input = source.text if isinstance(source, TextInput) else Path(source.path)
            by_modality.setdefault(term.modality, []).append((i, embed_input))
        elif isinstance(source, PointInput):
            point_terms.append(i)
        elif isinstance(source, VectorInput):
            rows[i] = source.array()

    for modality, batch in by_modality.items():
        embedded = np.asarray(embed(modality, [x for _, x in batch]))  # (N, D)
        if embedded.ndim != 2 or embedded.shape[0] != len(batch):
            raise ValueError(
                f"the {modality} embedder returned shape {embedded.shape} for {len(batch)} inputs"
            )
        for row, (i, _) in zip(embedded, batch, strict=True):
            rows[i] = row

    if point_terms:
        wanted = [terms[i].input.id for i in point_terms]  # type: ignore[union-attr]
        found = {p.id: p for p in store.retrieve(wanted, with_vectors=True)}
        for i, point_id in zip(point_terms, wanted, strict=True):
            point = found.get(point_id)
            if point is None:
                raise InputError(f"id:{point_id}", "no point with this id in the collection")
            if point.vector is None:
                raise InputError(f"id:{point_id}", "the store returned the point without a vector")
            rows[i] = point.vector

    vectors = np.empty((len(terms), store.dim), dtype=np.float64)  # (T, D)
    for i, (term, row) in enumerate(zip(terms, rows, strict=True)):
        values = np.asarray(row, dtype=np.float64)
        if values.shape != (store.dim,):
            raise InputError(
                describe_term(term),
                f"its vector has shape {values.shape}, but the collection holds "
                f"{store.dim}-d vectors of {store.model}",
            )
        if not np.isfinite(values).all():
            raise InputError(describe_term(term), "its vector holds NaN or infinite values")
        norm = np.linalg.norm(values)
        if norm == 0:
            raise InputError(describe_term(term), "its vector is all zeros: it has no direction")
        vectors[i] = values / norm
    return vectors.astype(np.float32)


def weighted_sum(vectors: np.ndarray, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """sum_i w_i * t_i / ||t_i||, (D,) float64, the same whatever the order of the terms.

    Each column is summed with `math.fsum`, which rounds exactly once, so reordering the
    terms cannot change a single bit of the result (nor, then, of the hits).
    """
    rows = np.asarray(vectors, dtype=np.float64)  # (T, D)
    w = np.asarray(weights, dtype=np.float64)  # (T,)
    if rows.ndim != 2 or w.shape != (rows.shape[0],) or rows.shape[0] == 0:
        raise ValueError(f"need (T, D) vectors and (T,) weights, got {rows.shape} and {w.shape}")
    norms = np.linalg.norm(rows, axis=1)  # (T,)
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        bad = int(np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))[0])
        raise QueryError(f"term {bad + 1} has a zero or non-finite vector", term=bad)
    weighted = rows / norms[:, None] * w[:, None]  # (T, D)
    return np.array([math.fsum(column) for column in weighted.T])


def combine_sum(
    vectors: np.ndarray,
    weights: Sequence[float] | np.ndarray,
    *,
    tolerance: float = CANCEL_TOLERANCE,
) -> np.ndarray:
    """ImageBind's arithmetic: normalise each term, weight, sum, normalise. (D,) float32.

    Raises `QueryCancelledError` when the terms cancel out (see `sum_length`).
    """
    total = weighted_sum(vectors, weights)
    return (total / sum_length(total, weights, tolerance=tolerance)).astype(np.float32)


def sum_length(
    total: np.ndarray, weights: Sequence[float] | np.ndarray, *, tolerance: float = CANCEL_TOLERANCE
) -> float:
    """||total|| of a `weighted_sum`; `QueryCancelledError` when it is under `tolerance` times
    the total |weight|: the terms cancel and any result would be noise."""
    norm = float(np.linalg.norm(total))
    scale = float(np.abs(np.asarray(weights, dtype=np.float64)).sum())
    if norm <= tolerance * scale:
        raise QueryCancelledError(
            f"the terms cancel out: their weighted sum has length {norm:.3g}, under "
            f"{tolerance:g} of the total weight {scale:g}; there is no direction to search in"
        )
    return norm


def rrf_depth(limit: int) -> int:
    """How deep each term's own search goes in `rrf` mode."""
    return max(4 * limit, 50)


def fuse_rrf(
    rankings: Sequence[Sequence[Hit]],
    weights: Sequence[float] | np.ndarray,
    *,
    limit: int,
    k: int = RRF_K,
) -> list[Hit]:
    """Weighted reciprocal rank fusion: score(x) = sum_i w_i / (k + rank_i(x)), rank from 1.

    A term with a negative weight subtracts from the points it ranks; only points ranked by
    some positive term are candidates. Ties go to the smaller id, so the order is stable.
    Each hit's score is its fused score, not a cosine.
    """
    shares: dict[UUID, list[float]] = {}
    first_seen: dict[UUID, Hit] = {}
    candidates: set[UUID] = set()
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            shares.setdefault(hit.id, []).append(float(weight) / (k + rank))
            first_seen.setdefault(hit.id, hit)
            if weight > 0:
                candidates.add(hit.id)
    scores = {point_id: math.fsum(shares[point_id]) for point_id in candidates}
    best = sorted(candidates, key=lambda point_id: (-scores[point_id], str(point_id)))[:limit]
    return [
        Hit(id=i, score=scores[i], payload=first_seen[i].payload, vector=first_seen[i].vector)
        for i in best
    ]


def search(
    query: Query,
    term_vectors: np.ndarray,
    store: Store,
    *,
    with_vectors: bool = False,
    exact: bool = False,
    hnsw_ef: int | None = None,
) -> list[Hit]:
    """The query's hits, best first, from its terms' vectors ((T, D), as `resolve_terms` gives).

    `sum`: one search with `combine_sum` of the terms (scores are cosines). `rrf`: one search
    per term, `rrf_depth(limit)` deep, fused by `fuse_rrf`. `recommend`: the store's
    best-score recommend with positive-weight terms as positive examples and negative-weight
    ones as negative. In every mode a query whose terms cancel out is refused, and the
    stored points used as terms are not results unless `query.keep_examples`.
    `exact` and `hnsw_ef` go to the store's searches (exhaustive search; a wider HNSW beam).
    """
    vectors = np.asarray(term_vectors, dtype=np.float32)  # (T, D)
    if vectors.shape != (len(query.terms), store.dim):
        raise ValueError(
            f"need one {store.dim}-d vector per term ({len(query.terms)}), got {vectors.shape}"
        )
    weights = query.weights  # (T,)
    combined = combine_sum(vectors, weights)  # (D,)
    where = query.search_filter()  # the query's filter, its example points left out

    if query.mode == "sum":
        return store.search(
            combined,
            limit=query.limit,
            filter=where,
            with_vectors=with_vectors,
            exact=exact,
            hnsw_ef=hnsw_ef,
        )
    if query.mode == "rrf":
        rankings = [
            store.search(
                vector,
                limit=rrf_depth(query.limit),
                filter=where,
                with_vectors=with_vectors,
                exact=exact,
                hnsw_ef=hnsw_ef,
            )
            for vector in vectors
        ]
        return fuse_rrf(rankings, weights, limit=query.limit)

    positive = [v for v, w in zip(vectors, weights, strict=True) if w > 0]
    negative = [v for v, w in zip(vectors, weights, strict=True) if w < 0]
    hits = store.recommend(
        positive, negative, limit=query.limit, filter=where, exact=exact, hnsw_ef=hnsw_ef
    )
    return with_hit_vectors(hits, store) if with_vectors else hits


def with_hit_vectors(hits: Sequence[Hit], store: Store) -> list[Hit]:
    """`hits` with their stored vectors, fetched in one call for those that lack them."""
    missing = [hit.id for hit in hits if hit.vector is None]
    if not missing:
        return list(hits)
    found = {p.id: p.vector for p in store.retrieve(missing, with_vectors=True)}
    filled = []
    for hit in hits:
        vector = hit.vector if hit.vector is not None else found.get(hit.id)
        if vector is None:
            raise InputError(f"id:{hit.id}", "the point is gone from the collection")
        filled.append(Hit(id=hit.id, score=hit.score, payload=hit.payload, vector=vector))
    return filled
