"""The query algebra against an exact NumPy store: sum, rrf, recommend, explain, resolve."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid5

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binding.errors import InputError
from binding.modality import Modality
from binding.query import (
    RRF_K,
    Query,
    QueryCancelledError,
    Term,
    combine_sum,
    explain,
    fuse_rrf,
    make_filter,
    parse_query,
    resolve_terms,
    rrf_depth,
    search,
)
from binding.store.base import Hit, Point
from tests.query.numpy_store import NAMESPACE, NumpyStore, point_id, random_points, unit

DIM = 16


def random_store(n: int = 300, dim: int = DIM, seed: int = 0) -> NumpyStore:
    store = NumpyStore(dim)
    store.upsert(random_points(n, dim, seed))
    return store


STORE = random_store()


def vector_query(
    vectors: np.ndarray, weights: list[float], mode: str = "sum", limit: int = 10, **filter_args
) -> Query:
    terms = tuple(Term.vector(v, w) for v, w in zip(vectors, weights, strict=True))
    query_filter = make_filter(**filter_args)
    return Query(terms, mode=mode, limit=limit, filter=query_filter)  # type: ignore[arg-type]


def exact_sum_scores(store: NumpyStore, vectors: np.ndarray, weights: list[float]) -> dict:
    """sum_i w_i cos(x, t_i) / ||sum_i w_i t_i|| for every stored x, in float64."""
    t = unit(np.asarray(vectors, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    norm = np.linalg.norm(w @ t)
    return {
        pid: float(w @ (t @ p.vector.astype(np.float64))) / norm for pid, p in store.points.items()
    }


def assert_same_ranking(a: list[Hit], b: list[Hit], exact_scores: dict, tol: float = 1e-5) -> None:
    """Same length and scores; where ids differ, the two points are tied within `tol`."""
    assert len(a) == len(b)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=tol, rtol=0)
    for x, y in zip(a, b, strict=True):
        if x.id != y.id:
            assert abs(exact_scores[x.id] - exact_scores[y.id]) < tol


def term_vectors(seed: int, count: int, dim: int = DIM) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((count, dim))).astype(np.float32)


_seeds = st.integers(0, 2**32 - 1)
_weights = st.lists(
    st.floats(0.05, 5.0).flatmap(lambda w: st.sampled_from([w, -w])), min_size=1, max_size=4
)


def _fix_signs(weights: list[float], mode: str) -> list[float]:
    if mode == "recommend":
        weights = [1.0 if w > 0 else -1.0 for w in weights]
    if mode != "sum" and all(w < 0 for w in weights):
        weights = [-weights[0], *weights[1:]]
    return weights


# --- combine_sum -----------------------------------------------------------------------------


def test_combine_sum_normalises_each_term_then_the_sum() -> None:
    a = np.array([3.0, 0.0, 0.0])  # scaled like an audio embedding
    b = np.array([0.0, 0.5, 0.0])
    combined = combine_sum(np.stack([a, b]), [1.0, 1.0])
    np.testing.assert_allclose(combined, [2**-0.5, 2**-0.5, 0.0], rtol=1e-6)
    assert combined.dtype == np.float32
    np.testing.assert_allclose(combine_sum(np.stack([a]), [-2.0]), [-1.0, 0.0, 0.0])


def test_combine_sum_is_bitwise_independent_of_term_order() -> None:
    vectors = term_vectors(1, 5, dim=1024)
    weights = np.array([0.7, -0.3, 1.1, 0.25, -0.9])
    reference = combine_sum(vectors, weights)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(5)
        assert np.array_equal(combine_sum(vectors[order], weights[order]), reference)


def test_terms_that_cancel_are_refused() -> None:
    a = term_vectors(2, 1)[0]
    with pytest.raises(QueryCancelledError, match="cancel"):
        combine_sum(np.stack([a, a]), [1.0, -1.0])
    nearly = a + 1e-6 * term_vectors(3, 1)[0]  # rounding-level difference
    with pytest.raises(QueryCancelledError):
        combine_sum(np.stack([a, nearly]), [0.5, -0.5])
    different = a + 0.05 * term_vectors(3, 1)[0]  # a real, if small, difference
    assert np.isfinite(combine_sum(np.stack([a, different]), [1.0, -1.0])).all()


def test_a_written_query_that_cancels_is_an_error_in_every_mode() -> None:
    def embed(modality: Modality, inputs: list) -> np.ndarray:
        return np.stack([text_vector(str(x)) for x in inputs])

    for mode in ("sum", "rrf", "recommend"):
        query = parse_query(f'text:"a" - text:"a" | mode={mode}')
        vectors = resolve_terms(query.terms, embed=embed, store=STORE)
        with pytest.raises(QueryCancelledError, match="the terms cancel out"):
            search(query, vectors, STORE)


# --- resolve_terms -------------------------------------------------------------------------


def text_vector(text: str, dim: int = DIM) -> np.ndarray:
    """A deterministic stand-in embedding: a seeded random vector per text."""
    seed = int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng(seed).standard_normal(dim)


class RecordingEmbedder:
    """Embeds with `text_vector` at a per-modality scale, recording each batch it gets."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.calls: list[tuple[Modality, list]] = []

    def __call__(self, modality: Modality, inputs: list) -> np.ndarray:
        self.calls.append((modality, list(inputs)))
        scale = 20.0 if modality is Modality.AUDIO else 1.0  # ImageBind's audio scale
        return np.stack([scale * text_vector(str(x), self.dim) for x in inputs])


def test_resolve_terms_batches_by_modality_and_normalises() -> None:
    stored = STORE.points[point_id(7)]
    raw = np.arange(1.0, DIM + 1.0)
    query = parse_query(
        f'text:"a" + audio:a.wav + 0.5*image:x.jpg - text:"b" + id:{stored.id} + '
        f"vec:[{', '.join(map(str, raw))}] + audio:b.wav"
    )
    embed = RecordingEmbedder()
    vectors = resolve_terms(query.terms, embed=embed, store=STORE)

    assert vectors.shape == (7, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert sorted(embed.calls, key=lambda c: c[0].value) == [
        (Modality.AUDIO, [Path("a.wav"), Path("b.wav")]),
        (Modality.IMAGE, [Path("x.jpg")]),
        (Modality.TEXT, ["a", "b"]),
    ]
    np.testing.assert_allclose(vectors[0], unit(text_vector("a")), rtol=1e-5)
    np.testing.assert_allclose(vectors[1], unit(text_vector("a.wav")), rtol=1e-5)
    np.testing.assert_allclose(vectors[3], unit(text_vector("b")), rtol=1e-5)
    np.testing.assert_allclose(vectors[4], stored.vector, rtol=1e-6)
    np.testing.assert_allclose(vectors[5], unit(raw), rtol=1e-6)
    np.testing.assert_allclose(vectors[6], unit(text_vector("b.wav")), rtol=1e-5)


def test_resolve_terms_reports_bad_terms_by_name() -> None:
    missing = point_id(10_000)
    with pytest.raises(InputError) as caught:
        resolve_terms([Term.text("a"), Term.point(missing)], embed=RecordingEmbedder(), store=STORE)
    assert caught.value.source == f"id:{missing}"
    assert "no point with this id" in str(caught.value)

    with pytest.raises(InputError, match=r"vec:\[1.0, 2.0\].*shape \(2,\).*16-d"):
        resolve_terms([Term.vector([1.0, 2.0])], embed=RecordingEmbedder(), store=STORE)

    def zeros(modality: Modality, inputs: list) -> np.ndarray:
        return np.zeros((len(inputs), DIM))

    with pytest.raises(InputError, match="image:x.jpg: its vector is all zeros"):
        resolve_terms([Term.file("image", "x.jpg")], embed=zeros, store=STORE)

    def nans(modality: Modality, inputs: list) -> np.ndarray:
        return np.full((len(inputs), DIM), np.nan)

    with pytest.raises(InputError, match="NaN"):
        resolve_terms([Term.text("a")], embed=nans, store=STORE)

    with pytest.raises(ValueError, match="returned shape"):
        resolve_terms([Term.text("a")], embed=lambda m, xs: np.zeros((2, DIM)), store=STORE)


def test_resolve_terms_needs_no_store_call_without_point_terms() -> None:
    class NoRetrieve(NumpyStore):
        def retrieve(self, ids, *, with_vectors=True):  # type: ignore[no-untyped-def]
            raise AssertionError("retrieve called")

    store = NoRetrieve(DIM)
    vectors = resolve_terms([Term.text("a")], embed=RecordingEmbedder(), store=store)
    assert vectors.shape == (1, DIM)


# --- properties of the three modes -----------------------------------------------------------


@given(seed=_seeds, weights=_weights, mode=st.sampled_from(["sum", "rrf", "recommend"]))
@settings(max_examples=60, deadline=None)
def test_order_of_terms_does_not_matter(seed: int, weights: list[float], mode: str) -> None:
    weights = _fix_signs(weights, mode)
    vectors = term_vectors(seed, len(weights))
    order = np.random.default_rng(seed).permutation(len(weights))
    first = search(vector_query(vectors, weights, mode), vectors, STORE)
    shuffled = [weights[i] for i in order]
    second = search(vector_query(vectors[order], shuffled, mode), vectors[order], STORE)
    assert [(h.id, h.score) for h in first] == [(h.id, h.score) for h in second]


@given(seed=_seeds, weights=_weights, factor=st.floats(0.01, 100.0))
@settings(max_examples=60, deadline=None)
def test_scaling_every_weight_keeps_the_ranking(
    seed: int, weights: list[float], factor: float
) -> None:
    vectors = term_vectors(seed, len(weights))
    scaled = [w * factor for w in weights]
    exact = exact_sum_scores(STORE, vectors, weights)
    assert_same_ranking(
        search(vector_query(vectors, weights), vectors, STORE),
        search(vector_query(vectors, scaled), vectors, STORE),
        exact,
    )
    weights = _fix_signs(weights, "rrf")
    scaled = [w * factor for w in weights]
    plain = search(vector_query(vectors, weights, "rrf"), vectors, STORE)
    fused = search(vector_query(vectors, scaled, "rrf"), vectors, STORE)
    np.testing.assert_allclose([h.score * factor for h in plain], [h.score for h in fused])
    rrf_scores = {h.id: h.score for h in plain}
    for x, y in zip(plain, fused, strict=True):
        if x.id != y.id:  # only a tie may swap
            assert abs(rrf_scores[x.id] - rrf_scores.get(y.id, -1.0)) < 1e-12


@given(seed=_seeds, weight=st.floats(0.01, 10.0), mode=st.sampled_from(["sum", "rrf"]))
@settings(max_examples=40, deadline=None)
def test_a_single_term_is_a_plain_search(seed: int, weight: float, mode: str) -> None:
    vector = term_vectors(seed, 1)
    hits = search(vector_query(vector, [weight], mode, limit=15), vector, STORE)
    plain = STORE.search(vector[0], limit=15)
    assert [h.id for h in hits] == [h.id for h in plain]
    if mode == "sum":
        np.testing.assert_allclose([h.score for h in hits], [h.score for h in plain], atol=1e-6)


@given(seed=_seeds, weights=_weights, limit=st.integers(1, 40))
@settings(max_examples=80, deadline=None)
def test_sum_ranks_by_weighted_cosines(seed: int, weights: list[float], limit: int) -> None:
    """The sum mode's order is sum_i w_i cos(x, t_i) / ||sum_i w_i t_i||, checked on every point."""
    vectors = term_vectors(seed, len(weights))
    exact = exact_sum_scores(STORE, vectors, weights)
    expected = sorted(exact, key=lambda pid: -exact[pid])[:limit]
    hits = search(vector_query(vectors, weights, limit=limit), vectors, STORE)
    assert len(hits) == limit
    for hit, pid in zip(hits, expected, strict=True):
        assert abs(hit.score - exact[hit.id]) < 1e-5
        assert hit.id == pid or abs(exact[hit.id] - exact[pid]) < 1e-5


@given(seed=_seeds, weights=_weights, mode=st.sampled_from(["sum", "rrf", "recommend"]))
@settings(max_examples=40, deadline=None)
def test_every_mode_keeps_to_the_filter(seed: int, weights: list[float], mode: str) -> None:
    weights = _fix_signs(weights, mode)
    vectors = term_vectors(seed, len(weights))
    query = vector_query(
        vectors, weights, mode, limit=20, modalities=["image", "audio"], tags=["even"], time_to=200
    )
    hits = search(query, vectors, STORE)
    assert hits
    for hit in hits:
        assert hit.payload["modality"] in ("image", "audio")
        assert hit.payload["tags"] == ["even"] and hit.payload["time"] <= 200


# --- explain -------------------------------------------------------------------------------


@given(seed=_seeds, weights=_weights)
@settings(max_examples=40, deadline=None)
def test_explain_adds_up_to_the_sum_score(seed: int, weights: list[float]) -> None:
    vectors = term_vectors(seed, len(weights))
    query = vector_query(vectors, weights)
    hits = search(query, vectors, STORE, with_vectors=True)
    explained = explain(hits, vectors, query.weights)
    assert [e.id for e in explained] == [h.id for h in hits]
    for hit, why in zip(hits, explained, strict=True):
        assert hit.vector is not None
        assert abs(why.combined - hit.score) < 1e-5
        assert abs(why.score - hit.score) == 0
        np.testing.assert_allclose(why.cosines, vectors @ hit.vector, atol=1e-6)


def test_explain_fetches_missing_vectors_from_the_store() -> None:
    vectors = term_vectors(5, 2)
    query = vector_query(vectors, [1.0, -0.5], "rrf")
    hits = search(query, vectors, STORE)
    assert all(h.vector is None for h in hits)
    with pytest.raises(ValueError, match="with_vectors=True"):
        explain(hits, vectors, query.weights)
    explained = explain(hits, vectors, query.weights, store=STORE)
    first = STORE.points[hits[0].id].vector
    np.testing.assert_allclose(explained[0].cosines, vectors @ first, atol=1e-6)
    assert explained[0].score == hits[0].score  # rrf's fused score, kept as it was


# --- rrf and recommend on constructed data ---------------------------------------------------


def near(direction: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly `cosine` from the unit vector `direction`."""
    other = rng.standard_normal(direction.shape[0])
    other -= (other @ direction) * direction
    return cosine * direction + np.sqrt(1 - cosine**2) * unit(other)


def constructed_store(named: dict[str, np.ndarray], dim: int, noise: int = 200) -> NumpyStore:
    rng = np.random.default_rng(11)
    store = NumpyStore(dim)
    points = [
        Point(id=uuid5(NAMESPACE, name), vector=v.astype(np.float32), payload={"name": name})
        for name, v in named.items()
    ]
    points += [
        Point(id=point_id(i), vector=unit(rng.standard_normal(dim)).astype(np.float32), payload={})
        for i in range(noise)
    ]
    store.upsert(points)
    return store


def names(hits: list[Hit]) -> list[str | None]:
    return [h.payload.get("name") for h in hits]


def test_rrf_puts_a_point_close_to_both_terms_first() -> None:
    dim = 64
    t1, t2 = np.eye(dim)[0], np.eye(dim)[1]
    rng = np.random.default_rng(3)
    store = constructed_store(
        {
            "near t1": near(t1, 0.95, rng),  # first for t1, far from t2
            "near t2": near(t2, 0.95, rng),
            "between": unit(t1 + t2),  # second for both
        },
        dim,
    )
    query = vector_query(np.stack([t1, t2]), [1.0, 1.0], "rrf", limit=3)
    hits = search(query, np.stack([t1, t2]).astype(np.float32), store)
    assert names(hits)[0] == "between"
    assert hits[0].score == pytest.approx(2 / (RRF_K + 2))


def test_rrf_negative_term_pushes_its_neighbours_down() -> None:
    dim = 64
    t1, t2 = np.eye(dim)[0], np.eye(dim)[1]
    store = constructed_store(
        {
            "like t1 and t2": unit(0.9 * t1 + 0.4 * t2),  # first for t1, high for t2
            "like t1 only": unit(0.85 * t1 - 0.1 * t2 + 0.5 * np.eye(dim)[2]),
        },
        dim,
    )
    vectors = np.stack([t1, t2]).astype(np.float32)
    plain = search(vector_query(vectors[:1], [1.0], "rrf", limit=2), vectors[:1], store)
    assert names(plain) == ["like t1 and t2", "like t1 only"]
    minus = search(vector_query(vectors, [1.0, -1.0], "rrf", limit=2), vectors, store)
    assert names(minus)[0] == "like t1 only"


def test_recommend_negative_example_pushes_its_neighbours_down() -> None:
    dim = 64
    e = np.eye(dim)
    like, unlike = e[0], unit(e[0] + e[1])
    store = constructed_store(
        {
            "like, and more like the unlike": unit(e[0] + 0.8 * e[1]),  # cosines 0.78 and 0.99
            "like only": unit(0.7 * e[0] + 0.714 * e[2]),  # cosines 0.70 and 0.49
        },
        dim,
    )
    vectors = np.stack([like, unlike]).astype(np.float32)
    plain = search(vector_query(vectors[:1], [1.0], "recommend", limit=2), vectors[:1], store)
    assert names(plain) == ["like, and more like the unlike", "like only"]
    hits = search(
        vector_query(vectors, [1.0, -1.0], "recommend", limit=250),
        vectors,
        store,
        with_vectors=True,
    )
    assert names(hits)[0] == "like only"
    assert names(hits)[-1] == "like, and more like the unlike"  # nearest the negative: last
    assert all(h.vector is not None for h in hits)


def test_fuse_rrf_by_hand() -> None:
    a, b, c = (Hit(id=point_id(i), score=0.0, payload={"n": i}) for i in range(3))
    fused = fuse_rrf([[a, b], [b, c], [a]], [1.0, 2.0, -0.5], limit=10, k=60)
    expected = {
        b.id: 1 / 62 + 2 / 61,
        c.id: 2 / 62,
        a.id: 1 / 61 - 0.5 / 61,
    }
    assert [h.id for h in fused] == sorted(expected, key=lambda i: -expected[i])
    for hit in fused:
        assert hit.score == pytest.approx(expected[hit.id], rel=1e-12)
    only_negative = fuse_rrf([[a], [c]], [1.0, -1.0], limit=10)
    assert [h.id for h in only_negative] == [a.id]  # c is ranked by no positive term


def test_rrf_searches_each_term_deep_enough() -> None:
    assert rrf_depth(10) == 50 and rrf_depth(100) == 400


def test_search_checks_the_vectors_fit_the_query() -> None:
    vectors = term_vectors(0, 2)
    with pytest.raises(ValueError, match="one 16-d vector per term"):
        search(vector_query(vectors, [1.0, 1.0]), vectors[:1], STORE)
