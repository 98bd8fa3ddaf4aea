"""A folder of every modality, with broken and duplicate files, ingested twice, then searched.

Real components throughout: generated media, the tiny model with seeded random weights,
the Qdrant Edge store in a tmp folder.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from binding.api import Engine
from binding.demo import DemoData
from binding.points import point_id, segment_label

#: Points per modality of the demo folder: every file's whole-file point, plus
#: audio: 3 segments of the 24 s melody (0-10, 10-20, 20-24 s);
#: video: 2 segments of the 12 s clip (0-10, 10-12 s);
#: IMU: 3 windows of the 12 s walk (the 5 s recording is a single window).
EXPECTED_POINTS = {
    "audio": 4 + 3,
    "depth": 2,
    "image": 6,
    "imu": 2 + 3,
    "thermal": 2,
    "video": 2 + 2,
}

#: Broken files added to the folder, and a word their rejection reason must contain.
BROKEN = {
    "images/truncated.jpg": "",
    "audio/empty.wav": "empty",
    "video/corrupt.mp4": "",
    "depth/colour.png": "",
    "imu/text_in_numbers.csv": "",
    "notes.txt": "utf-8",  # text files are text points; one in Latin-1 is refused
}


@pytest.fixture
def folder(media_folder: DemoData, tmp_path: Path) -> Path:
    root = tmp_path / "collection"
    shutil.copytree(media_folder.root, root)
    jpeg = (root / "images" / "sunset.jpg").read_bytes()
    (root / "images" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "audio" / "empty.wav").write_bytes(b"")
    (root / "video" / "corrupt.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    )
    shutil.copy(root / "images" / "red_circle.png", root / "depth" / "colour.png")
    header = "time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n"
    (root / "imu" / "text_in_numbers.csv").write_text(header + "0.0,1,2,lots,4,5,6\n" * 500)
    (root / "notes.txt").write_bytes("a shopping list: caf\xe9, cr\xe8me\n".encode("latin-1"))
    # duplicates: the same bytes under other names and folders
    (root / "more").mkdir()
    shutil.copy(root / "images" / "beach.png", root / "more" / "beach (1).png")
    shutil.copy(root / "imu" / "still_5s.csv", root / "more" / "still again.csv")
    return root


def test_ingest_twice_then_search(tiny_engine: Engine, folder: Path) -> None:
    first = tiny_engine.ingest([folder])
    assert first.counts == {
        "files": 18 + len(BROKEN) + 2,
        "embedded": 18,
        "duplicate": 2,
        "rejected": len(BROKEN),
        "failed": 0,
        "points": sum(EXPECTED_POINTS.values()),
    }
    assert first.points_by_modality() == EXPECTED_POINTS
    rejected = {str(Path(o.source).relative_to(folder)): o.reason for o in first.rejected}
    assert sorted(rejected) == sorted(BROKEN)
    for name, word in BROKEN.items():
        assert rejected[name] and word in rejected[name].lower(), (name, rejected[name])
    duplicates = {Path(o.source).name: o.reason for o in first.duplicates}
    assert duplicates == {
        "beach (1).png": f"same content as {folder / 'images' / 'beach.png'}",
        "still again.csv": f"same content as {folder / 'imu' / 'still_5s.csv'}",
    }

    info = tiny_engine.info()
    assert info.count == sum(EXPECTED_POINTS.values())
    assert info.modalities == EXPECTED_POINTS
    assert info.media_files == 18

    # the second run embeds nothing: everything is a duplicate or still broken
    second = tiny_engine.ingest([folder])
    assert second.counts["embedded"] == 0 and second.counts["points"] == 0
    assert second.counts["duplicate"] == 20 and second.counts["rejected"] == len(BROKEN)
    assert tiny_engine.info().count == info.count

    outcomes = {Path(o.source).name: o for o in first.files}
    _check_payloads(tiny_engine, folder, outcomes)
    _check_searches(tiny_engine, folder, outcomes)


def _check_payloads(engine: Engine, folder: Path, outcomes: dict) -> None:  # type: ignore[type-arg]
    melody = outcomes["melody_24s.ogg"]
    points = {p.payload["segment"]: p for p in engine.store.retrieve(melody.ids)}
    assert sorted(points) == ["", "0.000-10.000", "10.000-20.000", "20.000-24.000"]
    whole = points[""].payload
    assert whole["source"] == str(folder / "audio" / "melody_24s.ogg")
    assert (whole["modality"], whole["mime"], whole["model"]) == (
        "audio",
        "audio/ogg",
        "imagebind_tiny",
    )
    assert whole["duration"] == 24.0 and whole["sample_rate"] == 16_000
    sha = hashlib.sha256((folder / "audio" / "melody_24s.ogg").read_bytes()).hexdigest()
    assert whole["sha256"] == sha and points[""].id == point_id("imagebind_tiny", "audio", sha)
    segment = points["10.000-20.000"]
    assert segment.id == point_id("imagebind_tiny", "audio", sha, segment_label(10, 20))
    assert (segment.payload["start"], segment.payload["end"]) == (10.0, 20.0)
    assert not np.allclose(points[""].vector, segment.vector)
    assert engine.media.path(sha).name == f"{sha}.ogg"
    assert whole["media"] == f"{sha[:2]}/{sha[2:4]}/{sha}.ogg"

    video = engine.store.retrieve(outcomes["traffic_12s.mp4"].ids)
    assert sorted(p.payload["segment"] for p in video) == ["", "0.000-10.000", "10.000-12.000"]
    assert all(p.payload["fps"] == 4.0 and p.payload["frames"] == 48 for p in video)
    depth = engine.store.retrieve(outcomes["corridor.png"].ids)[0].payload
    assert depth["modality"] == "depth" and (depth["width"], depth["height"]) == (256, 192)
    thermal = engine.store.retrieve(outcomes["person.png"].ids)[0].payload
    assert thermal["modality"] == "thermal"
    for point in engine.store.scroll(with_vectors=True):
        assert np.linalg.norm(point.vector) == pytest.approx(1.0, abs=1e-5)
        assert point.payload["time"] > 0 and point.payload["sha256"]


def _check_searches(engine: Engine, folder: Path, outcomes: dict) -> None:  # type: ignore[type-arg]
    (night,) = outcomes["night.png"].ids
    by_id = engine.search(f"id:{night} @ 5 | examples=keep")
    assert by_id.hits[0].id == night and by_id.hits[0].score == pytest.approx(1.0, abs=1e-4)

    chirp = folder / "audio" / "chirp.wav"
    by_file = engine.search(f'audio:"{chirp}" @ 3')
    assert by_file.hits[0].id == outcomes["chirp.wav"].ids[0]
    assert by_file.hits[0].score == pytest.approx(1.0, abs=1e-4)

    thermal = folder / "thermal" / "two_people.png"
    composite = engine.search(
        f'0.7*thermal:"{thermal}" + 0.3*imu:"{folder / "imu" / "still_5s.csv"}" - 0.2*text:"night" @ 8',
        explain=True,
    )
    assert len(composite.hits) == 8 and composite.explanations is not None
    for hit, why in zip(composite.hits, composite.explanations, strict=True):
        assert why.id == hit.id and len(why.cosines) == 3
        assert why.combined == pytest.approx(hit.score, abs=2e-3)  # sum mode: score = cosine

    # the moment inside a long recording: a segment's own vector finds that segment first
    (segment,) = [
        p
        for p in engine.store.retrieve(outcomes["melody_24s.ogg"].ids)
        if p.payload["segment"] == "10.000-20.000"
    ]
    found = engine.search(f"id:{segment.id} @ 1 | modality=audio examples=keep")
    assert found.hits[0].id == segment.id and found.hits[0].payload["start"] == 10.0
