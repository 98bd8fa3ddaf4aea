"""Evaluation metrics as pure functions: arrays in, numbers out.

Ranks are 1-based. **Tie rule** (every function here): a candidate whose score equals the
relevant item's score is counted as ranked *above* it (the pessimistic rank). So a model
that scores everything the same gets rank N, not rank 1: a degenerate embedding can never
look perfect. With real-valued scores ties are rare and the rule does not matter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def usable_rows(vectors: np.ndarray) -> np.ndarray:
    """(N,) booleans: the rows that hold a vector (an item that was rejected is a row of NaN)."""
    return ~np.isnan(np.asarray(vectors)).any(axis=1)


def usable_links(
    query_ok: np.ndarray,
    target_ok: np.ndarray,
    target_of: Sequence[int],
    *,
    keep_unlinked: bool,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Which queries and targets to rank when some items were rejected, and `target_of`
    renumbered over the kept targets.

    A query is kept when it and its target are usable. Targets no kept query points at stay
    (as distractors) with `keep_unlinked`; without it they go too, so that every kept target
    has a query (ranking targets -> queries needs one)."""
    links = np.asarray(target_of, dtype=np.int64)
    queries = np.asarray(query_ok, dtype=bool) & np.asarray(target_ok, dtype=bool)[links]
    if keep_unlinked:
        targets = np.asarray(target_ok, dtype=bool)
    else:
        targets = np.zeros(len(target_ok), dtype=bool)
        targets[links[queries]] = True
    renumber = np.cumsum(targets) - 1
    return queries, targets, [int(i) for i in renumber[links[queries]]]


def ranks_of_relevant(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """For each row, the (pessimistic) rank of its best-scoring relevant column.

    `scores`: (Q, N) similarities; `relevant`: (Q, N) booleans, at least one True per row.
    The rank is 1 + the number of non-relevant columns scoring at least as high as the best
    relevant one (ties count against it). With several relevant columns (five captions of
    one sound) a query counts as found at rank r when any of them is there.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal 2-D")
    if np.isnan(scores).any():
        # a NaN compares False, so it would silently rank first: callers drop rejected rows
        raise ValueError("scores contain NaN (an item that was not embedded); drop it first")
    if not relevant.any(axis=1).all():
        missing = int(np.flatnonzero(~relevant.any(axis=1))[0])
        raise ValueError(f"row {missing} has no relevant column")
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    above = ((scores >= best) & ~relevant).sum(axis=1)
    return (above + 1).astype(np.int64)


def ranks_of_targets(scores: np.ndarray, targets: Sequence[int] | np.ndarray) -> np.ndarray:
    """The rank of column `targets[i]` in row i of `scores` (one relevant column per row)."""
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    relevant = np.zeros(scores.shape, dtype=bool)
    relevant[np.arange(len(targets)), targets] = True
    return ranks_of_relevant(scores, relevant)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose relevant item is within the first `k`."""
    ranks = np.asarray(ranks)
    return float((ranks <= k).mean()) if len(ranks) else 0.0


def median_rank(ranks: np.ndarray) -> float:
    """The median of the ranks (numpy's: the mean of the middle two for an even count)."""
    return float(np.median(np.asarray(ranks))) if len(ranks) else 0.0


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1/rank."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float((1.0 / ranks).mean()) if len(ranks) else 0.0


def top_k_accuracy(scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the `k` best-scoring classes (ties against)."""
    return recall_at_k(ranks_of_targets(scores, labels), k)


def predictions(scores: np.ndarray) -> np.ndarray:
    """The best-scoring class of each row (the lowest index among tied best scores)."""
    return np.asarray(scores).argmax(axis=1)


def confusion_matrix(
    true: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, classes: int
) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class (scikit-learn's layout)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix; NaN for a class with no examples."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def ndcg_at_k(relevance: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k over rows: gains `relevance` (Q, N), ordered by `scores` (Q, N).

    DCG uses the linear gain rel / log2(rank + 1), as scikit-learn's `ndcg_score`; rows with
    no relevant item score 0. Ties in `scores` keep the column order (stable sort), which
    matches scikit-learn only when there are none.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    discount = 1.0 / np.log2(np.arange(2, order.shape[1] + 2))
    dcg = (np.take_along_axis(relevance, order, axis=1) * discount).sum(axis=1)
    ideal = (-np.sort(-relevance, axis=1)[:, :k] * discount).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(ideal > 0, dcg / ideal, 0.0)
    return float(values.mean()) if len(values) else 0.0


def ndcg_of_list(gains: Sequence[float], judged: Sequence[float], k: int = 10) -> float:
    """nDCG@k of one ranked list: `gains` of the hits in order, over the best ordering of
    every `judged` gain (items the search never returned count in the ideal)."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    got = np.asarray(list(gains)[:k], dtype=np.float64)
    best = np.sort(np.asarray(list(judged), dtype=np.float64))[::-1][:k]
    ideal = float((best * discount[: len(best)]).sum())
    return float((got * discount[: len(got)]).sum()) / ideal if ideal > 0 else 0.0


def recall_of_set(found: Sequence[object], wanted: Sequence[object]) -> float:
    """|found ∩ wanted| / |wanted| (an approximate search's recall against the exact one)."""
    if not wanted:
        return 1.0
    return len(set(found) & set(wanted)) / len(set(wanted))


def retrieval_metrics(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k for each k, median rank and MRR, as one dict."""
    out = {f"R@{k}": recall_at_k(ranks, k) for k in ks}
    out["median_rank"] = median_rank(ranks)
    out["MRR"] = mean_reciprocal_rank(ranks)
    return out


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Non-interpolated average precision of one ranking: sum over score thresholds of
    (recall step) x precision, as scikit-learn's `average_precision_score`.

    **Ties** are the exception to this module's tie rule: items of equal score enter the
    ranking together, at one threshold (as in scikit-learn), so their order does not matter.
    NaN when nothing is relevant.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    relevant = np.asarray(relevant, dtype=bool).ravel()
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal")
    if not relevant.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    hits = np.cumsum(relevant[order])
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last item of each score
    found = hits[ends].astype(np.float64)
    precision = found / (ends + 1)
    recall = found / found[-1]
    return float((np.diff(np.r_[0.0, recall]) * precision).sum())


def mean_average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean over classes (columns) of `average_precision`, for multi-label data (AudioSet).

    `scores`: (N, C) item-by-class scores; `relevant`: (N, C) booleans, an item's true
    classes. Classes with no relevant item are left out of the mean (their AP is undefined);
    scikit-learn's `average_precision_score(relevant, scores, average="macro")` agrees when
    every class has one.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal 2-D")
    values = [average_precision(scores[:, c], relevant[:, c]) for c in range(scores.shape[1])]
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else 0.0
