"""The metric functions against hand-computed cases and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from binding.eval import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_confusion_matrix_three_classes_by_hand():
    true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    expected = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    matrix = metrics.confusion_matrix(true, pred, 3)
    assert (matrix == expected).all()
    assert (matrix == sklearn_metrics.confusion_matrix(true, pred, labels=[0, 1, 2])).all()
    assert metrics.per_class_accuracy(matrix) == pytest.approx([0.5, 2 / 3, 0.75])


def test_per_class_accuracy_of_an_empty_class_is_nan():
    matrix = metrics.confusion_matrix([0, 0], [0, 1], 3)
    values = metrics.per_class_accuracy(matrix)
    assert values[0] == 0.5 and np.isnan(values[2])


def test_ranks_with_ties_count_against_the_target():
    scores = np.array(
        [
            [0.9, 0.5, 0.5, 0.1],  # target 0 alone on top: rank 1
            [0.5, 0.5, 0.2, 0.1],  # target 1 tied with column 0: rank 2 (pessimistic)
            [0.3, 0.3, 0.3, 0.3],  # all tied: rank 4
            [0.1, 0.2, 0.3, 0.4],  # target 0 last: rank 4
        ]
    )
    ranks = metrics.ranks_of_targets(scores, [0, 1, 3, 0])
    assert ranks.tolist() == [1, 2, 4, 4]
    assert metrics.recall_at_k(ranks, 1) == 0.25
    assert metrics.recall_at_k(ranks, 2) == 0.5
    assert metrics.median_rank(ranks) == 3.0  # mean of the middle two (2 and 4)
    assert metrics.mean_reciprocal_rank(ranks) == pytest.approx((1 + 0.5 + 0.25 + 0.25) / 4)


def test_median_rank_odd_count_and_mrr_by_hand():
    ranks = np.array([1, 3, 10])
    assert metrics.median_rank(ranks) == 3.0
    assert metrics.mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0.1) / 3)


def test_several_relevant_columns_take_the_best():
    scores = np.array([[0.1, 0.9, 0.5, 0.7]])
    relevant = np.array([[True, False, False, True]])  # 0.7 is the best relevant: rank 2
    assert metrics.ranks_of_relevant(scores, relevant).tolist() == [2]
    with pytest.raises(ValueError, match="row 0 has no relevant column"):
        metrics.ranks_of_relevant(scores, np.zeros_like(relevant))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_accuracy_matches_scikit_learn(k: int):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 7))
    labels = rng.integers(0, 7, size=300)
    expected = sklearn_metrics.top_k_accuracy_score(labels, scores, k=k, labels=range(7))
    assert metrics.top_k_accuracy(scores, labels, k) == pytest.approx(expected)


def test_ndcg_matches_scikit_learn():
    rng = np.random.default_rng(2)
    relevance = rng.integers(0, 4, size=(40, 25)).astype(float)
    scores = rng.normal(size=(40, 25))
    expected = sklearn_metrics.ndcg_score(relevance, scores, k=10)
    assert metrics.ndcg_at_k(relevance, scores, 10) == pytest.approx(expected)


def test_ndcg_of_a_list_counts_missed_items_in_the_ideal():
    assert metrics.ndcg_of_list([1, 0, 0], [1], 10) == 1.0
    # the only relevant item at rank 2: 1/log2(3)
    assert metrics.ndcg_of_list([0, 1], [1], 10) == pytest.approx(1 / np.log2(3))
    # two judged, one found at rank 1: (1) / (1 + 1/log2(3))
    assert metrics.ndcg_of_list([1, 0], [1, 1], 10) == pytest.approx(1 / (1 + 1 / np.log2(3)))


def test_recall_of_set_and_retrieval_summary():
    assert metrics.recall_of_set(["a", "b", "x"], ["a", "b", "c"]) == pytest.approx(2 / 3)
    summary = metrics.retrieval_metrics(np.array([1, 6, 11]))
    assert summary == pytest.approx(
        {
            "R@1": 1 / 3,
            "R@5": 1 / 3,
            "R@10": 2 / 3,
            "median_rank": 6.0,
            "MRR": (1 + 1 / 6 + 1 / 11) / 3,
        }
    )


def test_ranks_match_the_definition_on_random_ties():
    """Many small-integer score tables (ties everywhere) against a brute-force count."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        q, n = rng.integers(1, 6), rng.integers(1, 8)
        scores = rng.integers(0, 3, size=(q, n)).astype(float)
        targets = rng.integers(0, n, size=q)
        expected = [
            1 + sum(scores[i, j] >= scores[i, targets[i]] for j in range(n) if j != targets[i])
            for i in range(q)
        ]
        assert metrics.ranks_of_targets(scores, targets).tolist() == expected


def test_average_precision_by_hand_and_with_ties():
    # ranking: hit, miss, hit -> AP = (1/1 + 2/3) / 2
    assert metrics.average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx(5 / 6)
    # the two tied items enter together: precision 1/2 at recall 1
    assert metrics.average_precision([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
    assert np.isnan(metrics.average_precision([0.1, 0.2], [0, 0]))


def test_mean_average_precision_matches_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(60, 7))
    scores[:10, 0] = scores[10:20, 0] = 0.25  # ties
    relevant = rng.random((60, 7)) < 0.2
    relevant[0] = True  # every class has a positive
    for c in range(7):
        expected = sklearn_metrics.average_precision_score(relevant[:, c], scores[:, c])
        assert metrics.average_precision(scores[:, c], relevant[:, c]) == pytest.approx(expected)
    expected = sklearn_metrics.average_precision_score(relevant, scores, average="macro")
    assert metrics.mean_average_precision(scores, relevant) == pytest.approx(expected)
    relevant[:, 6] = False  # a class with no positive is left out of the mean
    kept = sklearn_metrics.average_precision_score(relevant[:, :6], scores[:, :6], average="macro")
    assert metrics.mean_average_precision(scores, relevant) == pytest.approx(kept)
