"""The Python API facade: opening, lazy parts, search, more-like-this, filters, export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from binding import api
from binding.api import Engine, merge_filters
from binding.config import Settings
from binding.demo import DemoData
from binding.errors import InputError
from binding.export import read_header, read_points
from binding.query import QuerySyntaxError, Term, make_filter
from binding.query.terms import Query
from binding.store.base import Filter


def test_importing_the_api_loads_neither_torch_nor_the_store() -> None:
    code = (
        "import sys, binding.api, binding.ingest, binding.export;"
        "heavy = [m for m in ('torch', 'qdrant_edge', 'qdrant_client') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == ""


def test_open_applies_overrides(tiny_settings: Settings, tmp_path: Path) -> None:
    engine = api.open(data_dir=tmp_path / "elsewhere")
    assert engine.model == "imagebind_tiny" and engine.dim == 32
    assert engine.settings.data_dir == tmp_path / "elsewhere"
    assert engine.media.root == tmp_path / "elsewhere" / "media"
    assert engine.random_weights  # imagebind_tiny has nothing else
    other = api.open(tiny_settings, collection="second")
    assert other.settings.collection == "second" and other.settings.seed == 0
    with pytest.raises(ValueError, match="no_such_setting"):
        api.open(no_such_setting=1)
    with pytest.raises(ValueError, match="unknown model"):
        api.open(model="no_such_model")
    engine.close()
    other.close()


def test_empty_store_info(tiny_engine: Engine) -> None:
    info = tiny_engine.info()
    assert (info.model, info.dim, info.engine, info.collection) == (
        "imagebind_tiny",
        32,
        "edge",
        "binding-imagebind_tiny",
    )
    assert info.count == 0 and info.modalities == {} and info.media_files == 0
    assert info.random_weights is True
    assert info.to_dict()["data_dir"] == str(tiny_engine.settings.data_dir)


@pytest.fixture
def filled(tiny_engine: Engine, media_folder: DemoData) -> Engine:
    tiny_engine.ingest(
        [media_folder.root / "images", media_folder.root / "audio", media_folder.root / "thermal"]
    )
    return tiny_engine


def test_search_by_stored_point_and_by_file(filled: Engine, media_folder: DemoData) -> None:
    beach = media_folder.root / "images" / "beach.png"
    by_file = filled.search(Query((Term.file("image", beach),), limit=3))
    top = by_file.hits[0]
    assert top.payload["source"] == str(beach)
    assert top.score == pytest.approx(1.0, abs=1e-4)
    assert by_file.explanations is None

    # a stored point is not its own result, unless the query keeps its examples
    assert top.id not in {h.id for h in filled.search(f"id:{top.id} @ 4").hits}
    by_id = filled.search(f"id:{top.id} @ 4 | examples=keep", explain=True)
    assert by_id.hits[0].id == top.id and len(by_id.hits) == 4
    assert by_id.explanations is not None
    assert by_id.explanations[0].cosines[0] == pytest.approx(1.0, abs=1e-4)
    scores = [h.score for h in by_id.hits]
    assert scores == sorted(scores, reverse=True)
    # a written query's term vectors are unit rows
    vectors = filled.embed_query(by_id.query)
    assert vectors.shape == (1, 32)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)


def test_search_overrides_and_filters(filled: Engine, media_folder: DemoData) -> None:
    text = 'text:"a red circle" @ 3 | mode=sum'
    assert len(filled.search(text).hits) == 3
    assert len(filled.search(text, limit=7).hits) == 7
    audio_only = filled.search(text, filter=Filter(modalities=frozenset({"audio"})), limit=20)
    assert audio_only.hits and {h.payload["modality"] for h in audio_only.hits} == {"audio"}
    # a filter in the query and one passed in must both hold
    both = filled.search(
        'text:"x" @ 20 | modality=audio,image', filter=Filter(modalities=frozenset({"image"}))
    )
    assert {h.payload["modality"] for h in both.hits} == {"image"}
    future = filled.search('text:"x"', filter=make_filter(time_from="2999-01-01"))
    assert future.hits == []  # `time` is the ingest time: nothing was ingested after 2999
    past = filled.search('text:"x" @ 3', filter=make_filter(time_from="2000-01-01T00:00"))
    assert len(past.hits) == 3
    rrf = filled.search('text:"a" + text:"b"', mode="rrf", limit=5)
    assert rrf.query.mode == "rrf" and len(rrf.hits) == 5
    with pytest.raises(QuerySyntaxError):
        filled.search("image:")
    with pytest.raises(InputError, match="no point with this id"):
        filled.search("id:00000000-0000-0000-0000-000000000000")


def test_more_like_leaves_the_point_out(filled: Engine) -> None:
    images_only = Filter(modalities=frozenset({"image"}))
    first = filled.search('text:"night sky"', limit=1, filter=images_only).hits[0]
    similar = filled.more_like(first.id, limit=5)
    assert len(similar.hits) == 5 and first.id not in {h.id for h in similar.hits}
    images = filled.more_like(first.id, limit=50, filter=images_only)
    assert {h.payload["modality"] for h in images.hits} == {"image"}
    assert len(images.hits) == 5  # six images, less the point itself


def test_merge_filters() -> None:
    a = Filter(modalities=frozenset({"image", "audio"}), time_from=10.0, exclude_ids=frozenset())
    b = Filter(modalities=frozenset({"audio"}), time_from=5.0, time_to=20.0, tags=frozenset({"x"}))
    merged = merge_filters(a, b)
    assert merged == Filter(
        modalities=frozenset({"audio"}), tags=frozenset({"x"}), time_from=10.0, time_to=20.0
    )
    assert merge_filters(None, b) is b and merge_filters(a, None) is a
    with pytest.raises(InputError, match="source"):
        merge_filters(Filter(source="a"), Filter(source="b"))
    with pytest.raises(InputError, match="tags"):
        merge_filters(Filter(tags=frozenset({"a"})), Filter(tags=frozenset({"b"})))


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_export_round_trip(filled: Engine, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / "out" / f"points{suffix}"
    count = filled.export(path)
    stored = {p.id: p for p in filled.store.scroll(with_vectors=True)}
    assert count == len(stored) == filled.info().count
    header = read_header(path)
    assert (header.model, header.dim) == ("imagebind_tiny", 32)
    exported = list(read_points(path))
    assert {p.id for p in exported} == set(stored)
    for point in exported:
        np.testing.assert_array_equal(point.vector, stored[point.id].vector)
        assert point.payload == stored[point.id].payload
    # a filter narrows the export
    only_audio = filled.export(
        tmp_path / f"audio{suffix}", filter=Filter(modalities=frozenset({"audio"}))
    )
    assert only_audio == filled.store.count(Filter(modalities=frozenset({"audio"})))
    with pytest.raises(InputError, match="parquet or jsonl"):
        filled.export(tmp_path / "points.csv")


def test_engine_closes_its_store_and_refuses_work_after(
    tiny_settings: Settings, tiny_encoder: object
) -> None:
    with Engine(tiny_settings, encoder=tiny_encoder) as engine:  # type: ignore[arg-type]
        engine.ingest_bytes("a.wav", _tone())
    # closed: the folder is free for another engine (one process per folder)
    with Engine(tiny_settings, encoder=tiny_encoder) as again:  # type: ignore[arg-type]
        assert again.info().count == 1
    with pytest.raises(InputError, match="closed"):
        _ = again.store


def _tone() -> bytes:
    import io

    import soundfile

    buffer = io.BytesIO()
    t = np.arange(8000) / 16000
    soundfile.write(
        buffer, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000, format="WAV"
    )
    return buffer.getvalue()


def test_browsing_methods_read_the_store_through_the_engine(filled: Engine) -> None:
    """What the dashboard pages read: facets, points by id, a bounded scroll."""
    modalities = filled.facet("modality")
    assert modalities == filled.info().modalities and sum(modalities.values()) > 0
    some = list(filled.scroll(limit=3))
    assert len(some) == 3
    ids = [str(p.id) for p in some]
    found = filled.points([*ids, "00000000-0000-0000-0000-000000000000"])
    assert sorted(str(p.id) for p in found) == sorted(ids)  # the unknown id is left out
    assert filled.points([]) == []
    images = list(filled.scroll(filter=Filter(modalities=frozenset({"image"}))))
    assert images and all(p.payload["modality"] == "image" for p in images)
    first = images[0].payload
    assert filled.point_id(first["modality"], first["sha256"]) in {p.id for p in images}


def test_recognise_and_extension_and_label(media_folder: DemoData) -> None:
    data = media_folder.files["image"][0].read_bytes()
    assert Engine.recognise(data).value == "image"
    assert Engine.extension_of(data) in {".png", ".jpg", ".jpeg", "png", "jpg", "jpeg"}
    assert Engine.extension_of(bytes(range(256)) * 4) == ""  # no known format
    assert Engine.label("beach.jpg") == "beach.jpg"


def test_stream_windows_are_placed_in_time(tiny_engine: Engine, media_folder: DemoData) -> None:
    """Windows of a replayed recording: each at its place, back to back, sample rate named
    `sample_rate` in new points and read from `rate` in older ones."""
    from binding.store.base import Point
    from binding.streams import ingest_recording
    from binding.streams.stored import place_windows

    walking = next(p for p in media_folder.files["imu"] if p.name.startswith("walking"))
    report = ingest_recording(tiny_engine, [walking], stream="walk", start_time=1_000.0)
    windows = tiny_engine.stream_windows("walk")
    assert len(windows) == len(report.ids) >= 2
    assert windows[0].t0 == pytest.approx(1_000.0)
    assert all(a.t1 == pytest.approx(b.t0) for a, b in zip(windows, windows[1:], strict=False))
    assert all(w.sample_rate == pytest.approx(400.0) for w in windows)
    assert all("sample_rate" in w.payload and "rate" not in w.payload for w in windows)
    assert len(tiny_engine.stream_windows("walk", limit=1)) == 1

    old = {"time": 5.0, "start": 0.0, "end": 5.0, "rate": 200.0, "modality": "imu"}
    vector = np.zeros(tiny_engine.dim, dtype=np.float32)
    (placed,) = place_windows([Point(id=report.ids[0], vector=vector, payload=old)])
    assert (placed.t0, placed.t1, placed.sample_rate) == (5.0, 10.0, 200.0)


def test_media_file_finds_a_kept_file_by_its_hash(tiny_engine, tmp_path):
    import hashlib

    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (220, 30, 30)).save(path)
    tiny_engine.ingest([path])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    kept = tiny_engine.media_file(digest)
    assert kept is not None and kept.read_bytes() == path.read_bytes()
    assert tiny_engine.media_file("0" * 64) is None
