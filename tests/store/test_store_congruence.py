"""One suite, every engine: each store must give the answers of the NumPy reference.

Engines: Qdrant Edge (a temporary folder), qdrant-client in memory, and a Qdrant server
when BINDING_TEST_QDRANT_URL is set. `test_engines_agree` also runs one script of
operations on every engine available and compares their answers with each other.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from binding.errors import BindingError, ConfigurationError, InputError
from binding.store.base import CollectionInfo, Filter, Point, Store

from .conftest import DIM, MODALITIES, MODEL, Reference, StoreFactory, make_points, matches

SCORE_TOL = 1e-4  # float32 cosine in the engines vs float64 in the reference
T0 = 1_700_000_000.0


def assert_same(hits: list, expected: list[tuple[uuid.UUID, float]]) -> None:
    assert [h.id for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=SCORE_TOL)
    for h in hits:
        assert isinstance(h.id, uuid.UUID)


@pytest.fixture
def filled(store_factory: StoreFactory) -> tuple[Store, Reference]:
    """A filled store of its own, for tests that change it."""
    points = make_points(120)
    store = store_factory()
    store.upsert(points)
    return store, Reference.of(points)


def queries(n: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


# --- writing -------------------------------------------------------------------------------


def test_upsert_overwrites_by_id_and_keeps_the_count(store_factory: StoreFactory) -> None:
    points = make_points(40)
    store = store_factory()
    store.upsert(points)
    assert store.count() == 40

    changed = [
        Point(p.id, -p.vector, {**p.payload, "name": "changed", "tags": ["new"]})
        for p in points[:10]
    ]
    store.upsert(changed)
    store.upsert(changed)  # idempotent
    assert store.count() == 40
    got = {p.id: p for p in store.retrieve([p.id for p in changed])}
    for p in changed:
        assert got[p.id].payload == p.payload
        np.testing.assert_allclose(got[p.id].vector, p.vector, atol=1e-6)


def test_payload_round_trips_unchanged(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    for point in store.retrieve(list(ref.points)):
        assert point.payload == ref.points[point.id].payload


def test_upsert_of_nothing_is_a_no_op(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.upsert([])
    assert store.count() == 0


# --- search --------------------------------------------------------------------------------


def test_search_is_the_exact_top_k(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    for q in queries():
        assert_same(store.search(q, limit=10), ref.search(q, 10))
        assert_same(store.search(q, limit=10, exact=True), ref.search(q, 10))
        assert_same(store.search(q, limit=10, hnsw_ef=32), ref.search(q, 10))


def test_search_does_not_need_a_normalised_query(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    q = queries(1)[0] * 7.5
    assert_same(store.search(q, limit=5), ref.search(q, 5))


FILTERS = {
    "modalities": Filter(modalities=frozenset({"image", "audio"})),
    "one modality": Filter(modalities=frozenset({"thermal"})),
    "tags": Filter(tags=frozenset({"tag1", "tag4"})),
    # Modalities with tags: one condition on the derived `<modality>/<tag>` field...
    "modalities and tags": Filter(
        modalities=frozenset({"image", "audio"}), tags=frozenset({"tag1"})
    ),
    "one modality, one tag": Filter(modalities=frozenset({"video"}), tags=frozenset({"tag2"})),
    # ... or, past MAX_PAIRS pairs, two conditions.
    "more pairs than one condition takes": Filter(
        modalities=frozenset(MODALITIES), tags=frozenset(f"tag{i}" for i in range(40))
    ),
    "stream": Filter(stream="sensor1"),
    "source": Filter(source="/data/file7.bin"),
    "sha256": Filter(sha256=f"{9:064x}"),
    "time from": Filter(time_from=T0 + 600),
    "time to": Filter(time_to=T0 + 300),
    "time range inclusive": Filter(time_from=T0 + 100, time_to=T0 + 400),
    "ids": Filter(
        ids=frozenset(uuid.uuid5(uuid.NAMESPACE_OID, f"0-{i}") for i in range(0, 120, 9))
    ),
    "exclude ids": Filter(
        exclude_ids=frozenset(uuid.uuid5(uuid.NAMESPACE_OID, f"0-{i}") for i in range(60))
    ),
    "everything at once": Filter(
        modalities=frozenset({"text", "image", "video", "audio"}),
        tags=frozenset({"tag0", "tag2", "tag3"}),
        time_from=T0,
        time_to=T0 + 900,
        exclude_ids=frozenset({uuid.uuid5(uuid.NAMESPACE_OID, "0-3")}),
    ),
    "an empty filter": Filter(),
}


@pytest.mark.parametrize("f", FILTERS.values(), ids=FILTERS.keys())
def test_search_count_and_scroll_honour_each_filter(
    shared: tuple[Store, Reference], f: Filter
) -> None:
    store, ref = shared
    expected = ref.count(f)
    assert expected > 0, "a filter case that matches nothing tests nothing"
    assert store.count(f) == expected
    assert [p.id for p in store.scroll(filter=f, batch=7)] == sorted(
        i for i, p in ref.points.items() if matches(f, i, p.payload)
    )
    for q in queries(3):
        assert_same(store.search(q, limit=8, filter=f), ref.search(q, 8, f))


EMPTY = {
    "no modalities": Filter(modalities=frozenset()),
    "no tags": Filter(tags=frozenset()),
    "no ids": Filter(ids=frozenset()),
    "ids all excluded": Filter(
        ids=frozenset({uuid.uuid5(uuid.NAMESPACE_OID, "0-1")}),
        exclude_ids=frozenset({uuid.uuid5(uuid.NAMESPACE_OID, "0-1")}),
    ),
    "time from after time to": Filter(time_from=T0 + 10, time_to=T0),
    "unknown modality": Filter(modalities=frozenset({"smell"})),
}


@pytest.mark.parametrize("f", EMPTY.values(), ids=EMPTY.keys())
def test_a_filter_that_matches_nothing_finds_nothing(
    shared: tuple[Store, Reference], f: Filter
) -> None:
    store, _ = shared
    assert store.search(queries(1)[0], limit=5, filter=f) == []
    assert store.count(f) == 0
    assert list(store.scroll(filter=f)) == []
    assert store.facet("modality", filter=f) == {}
    assert store.delete(filter=f) == 0
    assert store.count() == 120


def test_search_returns_the_stored_vectors_on_request(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    hits = store.search(queries(1)[0], limit=4, with_vectors=True)
    for h in hits:
        assert h.vector is not None and h.vector.shape == (DIM,)
        np.testing.assert_allclose(h.vector, ref.points[h.id].vector, atol=1e-6)
        assert h.payload == ref.points[h.id].payload
    assert all(h.vector is None for h in store.search(queries(1)[0], limit=4))


def test_limit_larger_than_the_collection(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    q = queries(1)[0]
    assert_same(store.search(q, limit=500), ref.search(q, 500))


# --- recommend -----------------------------------------------------------------------------


def test_recommend_with_positive_and_negative_examples(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    pos, neg = list(queries(2, seed=5)), list(queries(2, seed=6))
    assert_same(store.recommend(pos, neg, limit=10), ref.recommend(pos, neg, 10))
    assert_same(store.recommend(pos[:1], limit=10), ref.recommend(pos[:1], [], 10))
    f = FILTERS["modalities"]
    assert_same(store.recommend(pos, neg, limit=6, filter=f), ref.recommend(pos, neg, 6, f))


def test_recommend_with_negative_examples_only(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    neg = list(queries(2, seed=6))
    assert_same(store.recommend([], neg, limit=10), ref.recommend([], neg, 10))


def test_recommend_needs_an_example(shared: tuple[Store, Reference]) -> None:
    store, _ = shared
    with pytest.raises(InputError, match="example"):
        store.recommend([], [])


# --- retrieve, delete ----------------------------------------------------------------------


def test_retrieve_keeps_the_order_asked_and_skips_missing_ids(
    shared: tuple[Store, Reference],
) -> None:
    store, ref = shared
    ids = list(ref.points)
    ask = [ids[5], uuid.uuid4(), ids[2], str(ids[9]), ids[5]]
    got = store.retrieve(ask)
    assert [p.id for p in got] == [ids[5], ids[2], ids[9]]
    for p in got:
        np.testing.assert_allclose(p.vector, ref.points[p.id].vector, atol=1e-6)
    bare = store.retrieve(ask, with_vectors=False)
    assert [p.payload for p in bare] == [p.payload for p in got]
    assert all(p.vector.size == 0 for p in bare)
    assert store.retrieve([]) == []


def test_delete_by_ids_counts_what_it_removed(filled: tuple[Store, Reference]) -> None:
    store, ref = filled
    ids = list(ref.points)
    assert store.delete(ids=[ids[0], ids[1], uuid.uuid4(), ids[1]]) == 2
    assert store.count() == 118
    assert [p.id for p in store.retrieve(ids[:3])] == [ids[2]]
    assert store.delete(ids=[]) == 0
    q = queries(1)[0]
    del ref.points[ids[0]], ref.points[ids[1]]
    assert_same(store.search(q, limit=10), ref.search(q, 10))


def test_delete_by_filter(filled: tuple[Store, Reference]) -> None:
    store, ref = filled
    f = Filter(modalities=frozenset({"text", "image"}), time_to=T0 + 800)
    expected = ref.count(f)
    assert store.delete(filter=f) == expected
    assert store.count(f) == 0
    assert store.count() == 120 - expected
    assert store.delete(filter=Filter()) == 120 - expected  # an empty filter is everything
    assert store.count() == 0


def test_delete_needs_ids_or_a_filter(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    with pytest.raises(InputError):
        store.delete()
    with pytest.raises(InputError):
        store.delete(ids=list(ref.points)[:1], filter=Filter())
    assert store.count() == 120


# --- scroll, facet, info -------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 120, 1000])
def test_scroll_returns_every_point_once_in_id_order(
    shared: tuple[Store, Reference], batch: int
) -> None:
    store, ref = shared
    got = list(store.scroll(batch=batch, with_vectors=True))
    assert [p.id for p in got] == sorted(ref.points)
    for p in got:
        assert p.payload == ref.points[p.id].payload
        np.testing.assert_allclose(p.vector, ref.points[p.id].vector, atol=1e-6)


def test_facet_counts_points_per_value(shared: tuple[Store, Reference]) -> None:
    store, ref = shared
    by_modality: dict[str, int] = {}
    by_tag: dict[str, int] = {}
    for p in ref.points.values():
        by_modality[p.payload["modality"]] = by_modality.get(p.payload["modality"], 0) + 1
        for t in p.payload["tags"]:
            by_tag[t] = by_tag.get(t, 0) + 1
    assert store.facet("modality") == by_modality
    assert store.facet("tags") == by_tag
    f = Filter(time_to=T0 + 200)
    assert store.facet("modality", filter=f) == {
        m: sum(
            1
            for p in ref.points.values()
            if p.payload["modality"] == m and p.payload["time"] <= T0 + 200
        )
        for m in {
            p.payload["modality"] for p in ref.points.values() if p.payload["time"] <= T0 + 200
        }
    }
    with pytest.raises(InputError, match="keyword"):
        store.facet("time")


def test_info_names_the_model_and_counts(shared: tuple[Store, Reference]) -> None:
    store, _ = shared
    info = store.info()
    assert isinstance(info, CollectionInfo)
    assert (info.model, info.dim, info.count) == (MODEL, DIM, 120)
    assert info.engine in ("edge", "qdrant")
    assert info.indexed is False  # 120 points: below every indexing threshold


def test_optimize_keeps_every_answer(filled: tuple[Store, Reference]) -> None:
    store, ref = filled
    store.optimize()
    assert store.count() == 120
    q = queries(1)[0]
    assert_same(store.search(q, limit=10, exact=True), ref.search(q, 10))


def test_every_store_is_a_store(shared: tuple[Store, Reference]) -> None:
    store, _ = shared
    assert isinstance(store, Store)


# --- reopening -----------------------------------------------------------------------------


def test_points_survive_close_and_reopen(store_factory: StoreFactory) -> None:
    points = make_points(30)
    store = store_factory("kept")
    store.upsert(points)
    store.delete(ids=[points[0].id])
    store.close()
    again = store_factory("kept")
    assert again.count() == 29
    assert [p.id for p in again.scroll()] == sorted(p.id for p in points[1:])
    ref = Reference.of(points[1:])
    q = queries(1)[0]
    assert_same(again.search(q, limit=5), ref.search(q, 5))


@pytest.mark.parametrize(
    "model,dim,named",
    [("imagebind_huge", DIM, "'imagebind_huge'"), (MODEL, 64, "64-d"), ("other", 16, "'other'")],
)
def test_reopening_for_another_model_or_dimension_is_refused(
    store_factory: StoreFactory, model: str, dim: int, named: str
) -> None:
    store_factory("owned").close()
    with pytest.raises(ConfigurationError) as e:
        store_factory("owned", model=model, dim=dim)
    message = str(e.value)
    assert f"model {MODEL!r}" in message and f"{DIM}-d" in message  # what the collection holds
    assert named in message  # what was asked for


def test_read_only_refuses_writes_and_missing_collections(store_factory: StoreFactory) -> None:
    with pytest.raises(ConfigurationError, match="ingest something first"):
        store_factory("absent", read_only=True)
    writer = store_factory("present")
    writer.upsert(make_points(3))
    writer.close()  # Edge holds its folder for one store at a time
    reader = store_factory("present", read_only=True)
    assert reader.count() == 3
    with pytest.raises(BindingError, match="read-only"):
        reader.upsert(make_points(1, seed=9))
    with pytest.raises(BindingError, match="read-only"):
        reader.delete(filter=Filter())


def test_a_closed_store_says_so(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.close()
    with pytest.raises(BindingError, match="closed"):
        store.count()
    store.close()  # twice is fine


# --- bad input -----------------------------------------------------------------------------


def test_bad_vectors_and_ids_are_input_errors(store_factory: StoreFactory) -> None:
    store = store_factory()
    good = make_points(1)[0]
    cases = {
        "wrong size": Point(good.id, np.ones(DIM + 1, np.float32), {}),
        "nan": Point(good.id, np.full(DIM, np.nan, np.float32), {}),
        "zeros": Point(good.id, np.zeros(DIM, np.float32), {}),
        "matrix": Point(good.id, np.ones((2, DIM), np.float32), {}),
        "not json": Point(good.id, good.vector, {"x": object()}),
        "time as text": Point(good.id, good.vector, {"time": "yesterday"}),
        "tags as text": Point(good.id, good.vector, {"tags": "a,b"}),
        "id not a uuid": Point("file-1", good.vector, {}),  # type: ignore[arg-type]
    }
    for name, point in cases.items():
        with pytest.raises(InputError):
            store.upsert([good, point])
        assert store.count() == 0, name
    with pytest.raises(InputError, match="shape"):
        store.search(np.ones(DIM - 1, np.float32))
    with pytest.raises(InputError, match="zeros"):
        store.search(np.zeros(DIM, np.float32))
    with pytest.raises(InputError):
        store.search(np.ones(DIM, np.float32), limit=0)
    with pytest.raises(InputError):
        store.search(np.ones(DIM, np.float32), hnsw_ef=0)
    with pytest.raises(InputError, match="finite"):
        store.count(Filter(time_from=float("nan")))


# --- the engines against each other --------------------------------------------------------


def _script(store: Store) -> tuple[list[object], list[float]]:
    """Every kind of call, in one order: the answers as plain values, and the scores apart."""
    points = make_points(80, seed=3)
    store.upsert(points)
    store.upsert([Point(points[0].id, points[1].vector, {"modality": "text", "tags": ["x"]})])
    q = queries(2, seed=11)
    out: list[object] = [store.count(), store.info().count]
    scores: list[float] = []
    for f in (None, *FILTERS.values()):
        for hit in store.search(q[0], limit=6, filter=f):
            out.append((hit.id, sorted(hit.payload.items(), key=str)))
            scores.append(hit.score)
    for hit in store.recommend([q[0]], [q[1]], limit=6):
        out.append(hit.id)
        scores.append(hit.score)
    out += [p.id for p in store.scroll(batch=9)]
    out.append(sorted(store.facet("modality").items()))
    out.append(store.delete(filter=Filter(modalities=frozenset({"audio"}))))
    out.append(store.delete(ids=[p.id for p in points[:5]]))
    out.append(store.count())
    return out, scores


def test_engines_agree(tmp_path) -> None:
    from qdrant_client import QdrantClient

    from binding.store.edge import EdgeStore
    from binding.store.qdrant import QdrantStore

    from .conftest import EDGE_TEST_OPTIONS, SERVER_URL

    answers = {}
    with EdgeStore(tmp_path / "edge", model=MODEL, dim=DIM, options=EDGE_TEST_OPTIONS) as edge:
        answers["edge"] = _script(edge)
    client = QdrantClient(location=":memory:")
    with QdrantStore(client=client, collection="c", model=MODEL, dim=DIM) as memory:
        answers["memory"] = _script(memory)
    if SERVER_URL:
        name = f"agree-{uuid.uuid4().hex[:8]}"
        with QdrantStore(url=SERVER_URL, collection=name, model=MODEL, dim=DIM) as server:
            answers["server"] = _script(server)
            server.client.delete_collection(name)
    values, scores = answers.pop("edge")
    for engine, (other_values, other_scores) in answers.items():
        assert other_values == values, engine
        np.testing.assert_allclose(other_scores, scores, atol=SCORE_TOL, err_msg=engine)
