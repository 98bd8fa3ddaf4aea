"""What only the Edge store does: its folder, its lock, its background index build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from binding.config import Settings
from binding.errors import ConfigurationError
from binding.store import open_store
from binding.store.base import Filter, Point
from binding.store.edge import CURRENT_FILE, RECORD_FILE, EdgeOptions, EdgeStore
from binding.store.qdrant import QdrantStore

from .conftest import DIM, MODEL, make_points

# Index even small test stores: segments above 64 KiB of vectors get HNSW, and searches
# walk the graph once 128 points match.
# Builds run at normal priority: on a shared test machine a niced build would crawl.
SMALL_INDEX = EdgeOptions(
    indexing_threshold_kb=64,
    full_scan_points=128,
    auto_index_points=None,
    quantization="none",
    build_niceness=0,
)


def test_a_store_open_in_another_process_is_refused_with_its_pid(tmp_path: Path) -> None:
    folder = tmp_path / "busy"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from binding.store.edge import EdgeStore\n"
            f"s = EdgeStore({str(folder)!r}, model={MODEL!r}, dim={DIM})\n"
            "print('ready', flush=True); sys.stdin.read(); s.close()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(ConfigurationError) as e:
            EdgeStore(folder, model=MODEL, dim=DIM)
        message = str(e.value)
        assert str(folder) in message
        assert f"pid {holder.pid}" in message
        assert "BINDING_QDRANT_URL" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    # Once the other process is gone, the store opens.
    with EdgeStore(folder, model=MODEL, dim=DIM) as store:
        assert store.count() == 0


def test_a_second_open_in_this_process_is_refused_until_close(tmp_path: Path) -> None:
    first = EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
    with pytest.raises(ConfigurationError, match=f"pid {os.getpid()}"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
    first.close()
    EdgeStore(tmp_path / "s", model=MODEL, dim=DIM).close()


def test_the_record_beside_the_shard(tmp_path: Path) -> None:
    EdgeStore(tmp_path / "s", model=MODEL, dim=DIM).close()
    record = json.loads((tmp_path / "s" / RECORD_FILE).read_text())
    assert record == {"binding_format": 1, "model": MODEL, "dim": DIM, "modality_tags": True}

    (tmp_path / "s" / RECORD_FILE).write_text(json.dumps({**record, "binding_format": 99}))
    with pytest.raises(ConfigurationError, match="format 99"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)

    (tmp_path / "s" / RECORD_FILE).write_text('{"binding_format": 1, "mod')
    with pytest.raises(ConfigurationError, match="damaged"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)

    (tmp_path / "s" / RECORD_FILE).unlink()
    with pytest.raises(ConfigurationError, match="not made by binding"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)


def shard_folders(store_folder: Path) -> list[str]:
    return sorted(p.name for p in store_folder.iterdir() if p.name.startswith("shard"))


def test_what_a_dead_build_left_behind_is_cleared(tmp_path: Path) -> None:
    points = make_points(20)
    with EdgeStore(tmp_path / "s", model=MODEL, dim=DIM) as store:
        store.upsert(points)
    assert (tmp_path / "s" / CURRENT_FILE).read_text() == "shard-000001\n"
    # A copy a dead process was indexing.
    (tmp_path / "s" / "shard-000002").mkdir()
    (tmp_path / "s" / "shard-000002" / "junk").write_text("half a copy")
    with EdgeStore(tmp_path / "s", model=MODEL, dim=DIM) as store:
        assert store.count() == 20
    assert shard_folders(tmp_path / "s") == ["shard-000001"]


def test_a_store_from_before_current_shard_is_adopted(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "s", model=MODEL, dim=DIM) as store:
        store.upsert(make_points(20))
    (tmp_path / "s" / "shard-000001").rename(tmp_path / "s" / "shard")
    (tmp_path / "s" / CURRENT_FILE).unlink()
    with EdgeStore(tmp_path / "s", model=MODEL, dim=DIM) as store:
        assert store.count() == 20
    assert shard_folders(tmp_path / "s") == ["shard-000001"]


def test_a_store_without_its_current_shard_is_refused(tmp_path: Path) -> None:
    EdgeStore(tmp_path / "s", model=MODEL, dim=DIM).close()
    (tmp_path / "s" / CURRENT_FILE).write_text("../../etc\n")
    with pytest.raises(ConfigurationError, match="damaged"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
    (tmp_path / "s" / CURRENT_FILE).unlink()
    with pytest.raises(ConfigurationError, match="no current-shard"):
        EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
    assert shard_folders(tmp_path / "s") == ["shard-000001"]  # nothing removed


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)).astype(np.float32)
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_background_build_keeps_answering_and_keeps_writes(tmp_path: Path) -> None:
    dim = 32
    base = _clustered(2000, dim, 0)
    points = [
        Point(p.id, v, p.payload) for p, v in zip(make_points(2000, dim=dim), base, strict=True)
    ]
    store = EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=SMALL_INDEX)
    store.upsert(points)
    assert store.info().details["indexed_vectors"] == 0

    answers: list[tuple[float, int]] = []  # (answered at, hits)
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            hits = store.search(base[len(answers) % 100], limit=5)
            answers.append((time.perf_counter(), len(hits)))

    reader = threading.Thread(target=query)
    reader.start()
    store.optimize(wait=False)
    build = store.index_build
    assert build is not None

    # Writes while the child builds: new points, an overwrite, a delete by id and by filter.
    new = [
        Point(p.id, v, {**p.payload, "tags": ["new"], "source": "/new"})
        for p, v in zip(make_points(50, seed=7, dim=dim), _clustered(50, dim, 7), strict=True)
    ]
    store.upsert(new)
    store.upsert([Point(points[0].id, points[0].vector, {"modality": "text", "tags": ["changed"]})])
    assert store.delete(ids=[points[1].id]) == 1
    gone = store.delete(filter=Filter(source="/data/file10.bin"))  # points 20 and 21
    assert gone == 2
    assert build.wait(120), "the index build did not finish"
    finished = time.perf_counter()
    stop.set()
    reader.join()

    assert build.error is None
    info = store.info()
    assert info.count == 2000 + 50 - 3
    assert info.details["indexed_vectors"] >= 2000 - 3  # the build's points are in HNSW now
    assert info.details["last_build"]["replayed_points"] == 50 + 1 + 1 + 2
    assert store.retrieve([points[0].id])[0].payload == {"modality": "text", "tags": ["changed"]}
    assert store.retrieve([points[1].id, points[20].id, points[21].id]) == []
    assert store.count(Filter(tags=frozenset({"new"}))) == 50
    child_ran = build.started + build.copy_s
    during = [hits for at, hits in answers if child_ran <= at <= finished]
    assert len(during) > 0, "no query was answered while the child built the index"
    assert all(hits == 5 for _, hits in answers)
    store.close()

    # What the build made is what reopens.
    with EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=SMALL_INDEX) as again:
        assert again.count() == 2047
        assert again.info().details["indexed_vectors"] >= 1997
        assert shard_folders(tmp_path / "s") == ["shard-000002"]


def test_close_during_a_build_drops_the_build_not_the_data(tmp_path: Path) -> None:
    dim = 64
    store = EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=SMALL_INDEX)
    store.upsert(make_points(2000, dim=dim))
    store.optimize(wait=False)
    build = store.index_build
    store.close()
    assert build is not None and build.done.is_set() and build.error == "cancelled"
    with EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=SMALL_INDEX) as again:
        assert again.count() == 2000
        assert shard_folders(tmp_path / "s") == ["shard-000001"]


def test_a_build_starts_by_itself_past_the_threshold(tmp_path: Path) -> None:
    dim = 64
    options = EdgeOptions(
        indexing_threshold_kb=64, auto_index_points=1000, quantization="none", build_niceness=0
    )
    with EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=options) as store:
        store.upsert(make_points(900, dim=dim))
        assert store.index_build is None
        store.upsert(make_points(200, seed=1, dim=dim))
        build = store.index_build
        assert build is not None
        assert build.wait(120) and build.error is None
        assert store.info().details["indexed_vectors"] >= 1100 - 1  # all but none lost


def test_in_process_optimize(tmp_path: Path) -> None:
    dim = 64
    with EdgeStore(tmp_path / "s", model=MODEL, dim=dim, options=SMALL_INDEX) as store:
        store.upsert(make_points(1000, dim=dim))
        assert store.optimize_in_process() is True
        info = store.info()
        assert info.indexed and info.details["indexed_vectors"] == 1000


# --- open_store: configuration picks the engine ------------------------------------------------


def test_open_store_picks_edge_when_no_url_is_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, collection="photos", qdrant_url=None)
    store = open_store(settings, model=MODEL, dim=DIM)
    try:
        assert isinstance(store, EdgeStore)
        assert store.path == tmp_path / "store" / "photos"
        assert store.info().name == "photos"
    finally:
        store.close()


def test_open_store_picks_qdrant_in_memory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_url=":memory:")
    with open_store(settings, model=MODEL, dim=DIM) as store:  # type: ignore[attr-defined]
        assert isinstance(store, QdrantStore)
        assert store.info().engine == "qdrant"


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"qdrant_url": "ftp://example.com"}, "BINDING_QDRANT_URL"),
        ({"collection": "../escape"}, "BINDING_COLLECTION"),
        ({"collection": ""}, "BINDING_COLLECTION"),
    ],
)
def test_open_store_refuses_bad_settings(tmp_path: Path, changes: dict, words: str) -> None:
    settings = Settings(data_dir=tmp_path, **changes)
    with pytest.raises(ConfigurationError, match=words):
        open_store(settings, model=MODEL, dim=DIM)


def test_read_only_open_of_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no store at"):
        open_store(Settings(data_dir=tmp_path), model=MODEL, dim=DIM, read_only=True)
    assert not (tmp_path / "store").exists()


def test_options_an_engine_lacks_are_refused() -> None:
    from binding.store.qdrant import QdrantOptions

    with pytest.raises(ConfigurationError, match="no quantization"):
        QdrantStore(
            location=":memory:",
            collection="c",
            model=MODEL,
            dim=DIM,
            options=QdrantOptions(quantization="int8"),
        )
    with pytest.raises(ConfigurationError, match="quantization"):
        EdgeOptions(quantization="pq")  # type: ignore[arg-type]


def test_a_store_made_before_the_modality_tags_field_keeps_two_conditions(tmp_path: Path) -> None:
    # Points written before the store derived `modality_tags` lack it; a store whose record
    # does not promise the field must not filter on it.
    import qdrant_edge as qe

    old = {"modality": "image", "tags": ["beach"]}  # as an older version wrote it
    vector = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    where = Filter(modalities=frozenset({"image"}), tags=frozenset({"beach"}))
    folder = tmp_path / "s"
    with EdgeStore(folder, model=MODEL, dim=DIM) as store:
        store._shard.update(
            qe.UpdateOperation.upsert_points([qe.Point(uuid.UUID(int=1), vector.tolist(), old)])
        )
        # A new store trusts the field, so the old point is out of reach...
        assert store.count(where) == 0
        store.upsert([Point(uuid.UUID(int=2), vector, old)])  # ...while points it writes carry it.
        assert [h.id for h in store.search(vector, filter=where)] == [uuid.UUID(int=2)]
        assert store.retrieve([uuid.UUID(int=2)])[0].payload == old  # and it never shows
    record = json.loads((folder / RECORD_FILE).read_text())
    del record["modality_tags"]
    (folder / RECORD_FILE).write_text(json.dumps(record))
    with EdgeStore(folder, model=MODEL, dim=DIM) as store:
        assert store.count(where) == 2
        assert store.facet("modality", filter=where) == {"image": 2}


def test_a_shard_whose_wal_another_opener_holds_is_refused_with_a_typed_error(
    tmp_path: Path,
) -> None:
    """A process that opened the shard without our folder lock (qdrant-edge directly) holds
    its write-ahead log: the store says so with `StoreLockedError`, not an untyped failure."""
    import qdrant_edge

    from binding.errors import StoreLockedError

    folder = tmp_path / "s"
    EdgeStore(folder, model=MODEL, dim=DIM).close()
    shard = folder / (folder / CURRENT_FILE).read_text().strip()
    raw = qdrant_edge.EdgeShard.load(str(shard), None)
    try:
        with pytest.raises(StoreLockedError) as e:
            EdgeStore(folder, model=MODEL, dim=DIM)
        assert isinstance(e.value, ConfigurationError)
        assert e.value.path == str(folder) and "BINDING_QDRANT_URL" in str(e.value)
    finally:
        raw.close()
    EdgeStore(folder, model=MODEL, dim=DIM).close()  # free again once it is closed


def test_the_folder_lock_raises_the_typed_error_with_the_pid(tmp_path: Path) -> None:
    from binding.errors import StoreLockedError

    first = EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
    try:
        with pytest.raises(StoreLockedError) as e:
            EdgeStore(tmp_path / "s", model=MODEL, dim=DIM)
        assert e.value.pid == os.getpid()
    finally:
        first.close()
