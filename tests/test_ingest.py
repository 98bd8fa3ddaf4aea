"""Ingest: collecting files, the folder convention, segments, duplicates, bad files, uploads."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from binding.api import Engine
from binding.demo import DemoData
from binding.ingest import (
    MIN_TAIL_SECONDS,
    UPLOAD_PREFIX,
    FileOutcome,
    collect,
    folder_modality,
    segment_windows,
)
from binding.modality import Modality
from binding.store.base import Filter

# --- small real media ----------------------------------------------------------------------


def png_bytes(
    colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 16_000) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(
        buffer, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format="WAV"
    )
    return buffer.getvalue()


def imu_csv(seconds: float, rate: int = 400) -> str:
    t = np.arange(round(seconds * rate)) / rate
    rows = ["time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"]
    rows += [f"{x:.4f},{np.sin(x):.4f},0.1,9.81,0.01,{np.cos(x):.4f},0.0" for x in t]
    return "\n".join(rows) + "\n"


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def depth_png(path: Path, metres: float = 2.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 50), round(metres * 1000), dtype=np.uint16)).save(path)
    return path


def by_name(outcomes: list[FileOutcome]) -> dict[str, FileOutcome]:
    return {Path(o.source).name: o for o in outcomes}


# --- collecting ----------------------------------------------------------------------------


def test_collect_files_folders_globs_and_missing(tmp_path: Path) -> None:
    a = write(tmp_path / "a.png", b"a")
    b = write(tmp_path / "sub" / "b.wav", b"b")
    c = write(tmp_path / "sub" / "deeper" / "c.csv", b"c")
    write(tmp_path / ".hidden" / "d.png", b"d")
    write(tmp_path / "sub" / ".DS_Store", b"e")
    items, missing = collect([tmp_path])
    assert [i.path for i in items] == [a, b, c]  # sorted, hidden files and folders skipped
    assert all(i.source == str(i.path) and i.path.is_absolute() for i in items)

    items, _ = collect([tmp_path], recursive=False)
    assert [i.path for i in items] == [a]

    items, missing = collect([str(tmp_path / "sub" / "*.wav"), a, a, tmp_path / "nope.png"])
    assert [i.path for i in items] == [b, a]  # each file once, at its first mention
    assert [(m.source, m.status, m.reason) for m in missing] == [
        (str(tmp_path / "nope.png"), "rejected", "no such file or folder")
    ]
    items, missing = collect([str(tmp_path / "**" / "*.csv")])
    assert [i.path for i in items] == [c]
    _, missing = collect([str(tmp_path / "*.mp4")])
    assert missing[0].reason == "no file matches this pattern"


def test_folder_convention(tmp_path: Path) -> None:
    root = tmp_path / "data"
    assert folder_modality(root / "Depth" / "x.png", root) is Modality.DEPTH
    assert folder_modality(root / "cam" / "THERMAL" / "night" / "x.png", root) is Modality.THERMAL
    assert (
        folder_modality(root / "depth" / "thermal" / "x.png", root) is Modality.THERMAL
    )  # nearest
    assert folder_modality(root / "images" / "x.png", root) is None
    assert folder_modality(tmp_path / "depth" / "x.png", tmp_path / "depth") is Modality.DEPTH
    # a folder above the ingested root says nothing
    assert (
        folder_modality(tmp_path / "depth" / "photos" / "x.png", tmp_path / "depth" / "photos")
        is None
    )
    assert folder_modality(root / "depthmaps" / "x.png", root) is None  # whole names only


def test_windows() -> None:
    assert segment_windows(10.0, 10.0) == []  # fits in one window: the whole-file point is enough
    assert segment_windows(24.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 24.0)]
    assert segment_windows(21.0, 10.0) == [
        (0.0, 10.0),
        (10.0, 21.0),
    ]  # a 1 s tail joins its neighbour
    assert segment_windows(20.0 + MIN_TAIL_SECONDS, 10.0)[-1] == (20.0, 22.0)
    assert segment_windows(12.5, 5.0) == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.5)]
    assert segment_windows(11.5, 5.0) == [(0.0, 5.0), (5.0, 11.5)]


# --- embedding -----------------------------------------------------------------------------


def test_imu_whole_point_is_the_mean_of_its_windows(tiny_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "walk.csv", imu_csv(12.0))
    (outcome,) = tiny_engine.ingest([path]).files
    points = tiny_engine.store.retrieve(outcome.ids)
    assert len(points) == 4
    # the reference averages the scaled outputs of the windows (encoder.embed does the same)
    expected = tiny_engine.encoder.embed("imu", [path])[0]
    whole = next(p for p in points if p.payload["segment"] == "")
    np.testing.assert_allclose(whole.vector, expected, atol=1e-5)


def test_duplicates_within_a_run_and_across_runs(tiny_engine: Engine, tmp_path: Path) -> None:
    one = write(tmp_path / "a_one.png", png_bytes())
    write(tmp_path / "copy_of_one.png", png_bytes())
    write(tmp_path / "two.wav", wav_bytes(1.0))
    report = tiny_engine.ingest([tmp_path])
    outcomes = by_name(report.files)
    assert outcomes["copy_of_one.png"].status == "duplicate"
    assert outcomes["copy_of_one.png"].reason == f"same content as {one}"
    assert outcomes["a_one.png"].status == "embedded"
    assert tiny_engine.store.count() == 2

    # a copy of a file that is rejected is rejected too, for the same reason
    write(tmp_path / "later" / "bad.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")
    write(tmp_path / "later" / "bad_copy.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")
    bad = by_name(tiny_engine.ingest([tmp_path / "later"]).files)
    assert bad["bad.wav"].status == bad["bad_copy.wav"].status == "rejected"
    assert bad["bad_copy.wav"].reason == (
        f"same content as {tmp_path / 'later' / 'bad.wav'}: {bad['bad.wav'].reason}"
    )
    (tmp_path / "later" / "bad.wav").unlink()
    (tmp_path / "later" / "bad_copy.wav").unlink()

    again = tiny_engine.ingest([tmp_path])
    assert [o.status for o in again.files] == ["duplicate"] * 3
    assert {o.reason for o in again.files} == {"already in the store"}
    assert tiny_engine.store.count() == 2
    # the duplicate's outcome names the stored point
    assert again.files[1].ids == outcomes["a_one.png"].ids


def test_ingesting_stored_content_with_new_tags_adds_them(
    tiny_engine: Engine, tmp_path: Path
) -> None:
    write(tmp_path / "photo.png", png_bytes())
    write(tmp_path / "song.wav", wav_bytes(25.0))  # a whole-file point and three windows
    first = by_name(tiny_engine.ingest([tmp_path], tags=["trip"]).files)
    song_points = first["song.wav"].points
    assert song_points == 4

    again = by_name(tiny_engine.ingest([tmp_path], tags=["trip", "beach"]).files)
    assert {o.status for o in again.values()} == {"duplicate"}
    assert {o.reason for o in again.values()} == {"already in the store; tags added: beach"}
    beach = Filter(tags=frozenset({"beach"}))
    assert tiny_engine.store.count(beach) == 1 + song_points  # every window too
    assert tiny_engine.store.count(Filter(tags=frozenset({"trip"}))) == 1 + song_points
    for p in tiny_engine.store.scroll(filter=beach):
        assert p.payload["tags"] == ["beach", "trip"]
    # Filters on modality and tag together see the new tag as well.
    audio_beach = Filter(modalities=frozenset({"audio"}), tags=frozenset({"beach"}))
    assert tiny_engine.store.count(audio_beach) == song_points

    third = tiny_engine.ingest([tmp_path], tags=["beach"])
    assert {o.reason for o in third.files} == {"already in the store"}  # nothing to add
    assert tiny_engine.store.count() == 1 + song_points


def test_bad_depth_thermal_imu_are_rejected_and_the_batch_goes_on(
    tiny_engine: Engine, tmp_path: Path
) -> None:
    """R10: wrong shape, NaN/inf, too few samples, wrong column count, text in numbers."""
    good_depth = depth_png(tmp_path / "depth" / "good.png")
    np.save(tmp_path / "depth" / "nan.npy", np.full((8, 8), np.nan, dtype=np.float32))
    np.save(tmp_path / "depth" / "cube.npy", np.ones((4, 8, 8), dtype=np.float32))
    write(tmp_path / "depth" / "colour.png", png_bytes())  # an 8-bit colour picture is no depth map
    good_thermal = write(tmp_path / "thermal" / "good.png", png_bytes((90, 90, 90)))
    np.save(tmp_path / "thermal" / "inf.npy", np.array([[0.1, np.inf], [0.2, 0.3]], np.float32))
    np.save(tmp_path / "thermal" / "cube.npy", np.ones((2, 3, 4, 5), dtype=np.float32))
    good_imu = write(tmp_path / "imu" / "good.csv", imu_csv(6.0))
    write(tmp_path / "imu" / "short.csv", imu_csv(0.05))
    header = "time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n"
    write(tmp_path / "imu" / "columns.csv", header + "0.0,1,2,3,4,5,6\n0.0025,1,2,3,4,5\n" * 400)
    write(tmp_path / "imu" / "text.csv", header + "0.0,1,2,three,4,5,6\n" * 400)
    nan_imu = np.zeros((6, 4000), dtype=np.float32)
    nan_imu[2, 100] = np.nan
    np.save(tmp_path / "imu" / "nan.npy", nan_imu)

    report = tiny_engine.ingest([tmp_path])
    outcomes = by_name(report.files)
    embedded = {Path(o.source) for o in report.embedded}
    assert embedded == {good_depth, good_thermal, good_imu}
    rejected = {Path(o.source).parent.name + "/" + Path(o.source).name: o for o in report.rejected}
    assert sorted(rejected) == [
        "depth/colour.png",
        "depth/cube.npy",
        "depth/nan.npy",
        "imu/columns.csv",
        "imu/nan.npy",
        "imu/short.csv",
        "imu/text.csv",
        "thermal/cube.npy",
        "thermal/inf.npy",
    ]
    for outcome in rejected.values():
        assert outcome.reason and outcome.points == 0 and outcome.ids == []
    assert "nan" in rejected["depth/nan.npy"].reason.lower()
    assert "inf" in rejected["thermal/inf.npy"].reason.lower()
    assert "too few" in rejected["imu/short.csv"].reason
    assert outcomes["good.csv"].modality == "imu"
    # nothing rejected was kept, everything embedded was
    assert {m.sha256 for m in tiny_engine.media} == {o.sha256 for o in report.embedded}


def test_content_decides_and_folders_break_ties(tiny_engine: Engine, tmp_path: Path) -> None:
    write(tmp_path / "sound.png", wav_bytes(1.0))  # a WAV named .png is audio
    write(tmp_path / "photo.wav", png_bytes())  # and a PNG named .wav is an image
    write(tmp_path / "notes.txt", "just some words\n")
    depth_png(tmp_path / "loose_depth.png")  # a 16-bit gray PNG outside depth/: ambiguous
    write(tmp_path / "thermal" / "frame.png", png_bytes((120, 120, 120)))
    report = tiny_engine.ingest([tmp_path])
    outcomes = by_name(report.files)
    assert outcomes["sound.png"].modality == "audio"
    assert outcomes["photo.wav"].modality == "image"
    assert outcomes["frame.png"].modality == "thermal"
    assert outcomes["notes.txt"].modality == "text"  # a text file is text (issue 13.11)
    assert "depth" in (outcomes["loose_depth.png"].reason or "")
    stored = tiny_engine.media.path(outcomes["sound.png"].sha256 or "")
    assert stored.suffix == ".wav"  # named from the content, not from the file name

    # --modality settles it
    forced = tiny_engine.ingest([tmp_path / "loose_depth.png"], modality="depth")
    assert [(o.status, o.modality) for o in forced.files] == [("embedded", "depth")]


def test_oversize_files_are_rejected(tiny_settings, tiny_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = tiny_settings.model_copy(update={"max_upload_bytes": 2000})
    with Engine(settings, encoder=tiny_encoder) as engine:
        write(tmp_path / "in" / "small.png", png_bytes(size=(8, 8)))
        write(tmp_path / "in" / "big.wav", wav_bytes(1.0))
        report = engine.ingest([tmp_path / "in"])
        outcomes = by_name(report.files)
        assert outcomes["small.png"].status == "embedded"
        assert outcomes["big.wav"].status == "rejected"
        assert "larger than the limit of 2,000 bytes" in (outcomes["big.wav"].reason or "")
        outcome = engine.ingest_bytes("big.wav", wav_bytes(1.0))
        assert outcome.status == "rejected" and "larger than the limit" in (outcome.reason or "")
        assert len(list(engine.media)) == 1


# --- uploads -------------------------------------------------------------------------------


#: Upload names that must never reach the file system (R11).
HOSTILE_NAMES = (
    "../../x",
    "/etc/passwd",
    "evil\x00.png",
    "n" * 300 + ".png",
    "..",
    "C:\\x\\..\\y.png",
)


def test_upload_names_never_become_paths(tiny_engine: Engine, tmp_path: Path) -> None:
    """R11: whatever the name, the bytes land under a content-addressed name in the media root."""
    for index, name in enumerate(HOSTILE_NAMES):
        data = png_bytes((10, 200, index))
        outcome = tiny_engine.ingest_bytes(name, data, tags=["upload"])
        assert outcome.status == "embedded", outcome
        sha = hashlib.sha256(data).hexdigest()
        assert tiny_engine.media.path(sha) == (
            tiny_engine.media.root / sha[:2] / sha[2:4] / f"{sha}.png"
        )
        (point,) = tiny_engine.store.retrieve(outcome.ids)
        assert "\x00" not in point.payload["name"] and len(point.payload["name"]) <= 200
        assert point.payload["source"] == UPLOAD_PREFIX + point.payload["name"]
        assert outcome.source == point.payload["source"]
    files = [p for p in tiny_engine.settings.data_dir.rglob("*") if p.is_file()]
    media_files = sorted(p for p in files if tiny_engine.media.root in p.parents)
    assert media_files == sorted(m.path for m in tiny_engine.media)
    assert len(media_files) == len(HOSTILE_NAMES)
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


def test_upload_with_wrong_magic(tiny_engine: Engine) -> None:
    """R11: the extension means nothing; bytes no decoder knows are refused and not kept."""
    renamed = tiny_engine.ingest_bytes("song.png", wav_bytes(0.5))
    assert (renamed.status, renamed.modality) == ("embedded", "audio")
    garbage = tiny_engine.ingest_bytes("photo.png", b"\x00\x01garbage" * 100)
    assert garbage.status == "rejected" and "unrecognised" in (garbage.reason or "")
    truncated = tiny_engine.ingest_bytes("cut.png", png_bytes()[:60])
    assert truncated.status == "rejected" and truncated.reason
    assert [m.sha256 for m in tiny_engine.media] == [renamed.sha256]
    empty = tiny_engine.ingest_bytes("empty.wav", b"")
    assert empty.status == "rejected" and "empty" in (empty.reason or "")


def test_the_same_upload_twice_is_one_point(tiny_engine: Engine) -> None:
    """R13: repeated uploads and a redelivered task leave one point."""
    data = wav_bytes(1.0, freq=330)
    first = tiny_engine.ingest_bytes("a.wav", data)
    second = tiny_engine.ingest_bytes("b.wav", data)
    assert (first.status, second.status) == ("embedded", "duplicate")
    assert first.ids == second.ids
    redelivered = tiny_engine.ingest_media(first.sha256 or "", name="a.wav")
    assert redelivered.status == "duplicate"
    assert tiny_engine.store.count() == 1
    assert tiny_engine.store.count(Filter(sha256=first.sha256)) == 1


def test_ingest_media_for_a_worker(tiny_engine: Engine, tmp_path: Path) -> None:
    stored = tiny_engine.media.put_bytes(png_bytes((1, 2, 3)), ext=".png")
    outcome = tiny_engine.ingest_media(stored.sha256, name="../from worker.png", tags=["w"])
    assert outcome.status == "embedded" and outcome.sha256 == stored.sha256
    (point,) = tiny_engine.store.retrieve(outcome.ids)
    assert point.payload["tags"] == ["w"] and point.payload["media"] == stored.relative
    missing = tiny_engine.ingest_media(hashlib.sha256(b"nothing").hexdigest(), name="gone.png")
    assert missing.status == "rejected" and "no such file" in (missing.reason or "")
    # a media file whose bytes no longer match its name is refused, and dropped if unused
    bad = tiny_engine.media.put_bytes(png_bytes((4, 5, 6)), ext=".png")
    bad.path.write_bytes(png_bytes((7, 8, 9)))
    corrupt = tiny_engine.ingest_media(bad.sha256, name="corrupt.png")
    assert corrupt.status == "rejected" and "does not match its hash" in (corrupt.reason or "")
    assert tiny_engine.media.find(bad.sha256) is None


def test_delete_by_source_tag_and_id(tiny_engine: Engine, tmp_path: Path) -> None:
    a = write(tmp_path / "a.png", png_bytes((1, 1, 1)))
    write(tmp_path / "b.png", png_bytes((2, 2, 2)))
    write(tmp_path / "long.wav", wav_bytes(12.0))
    report = tiny_engine.ingest([tmp_path], tags=["first"])
    extra = tiny_engine.ingest_bytes("c.png", png_bytes((3, 3, 3)), tags=["second"])
    assert tiny_engine.store.count() == 6  # a, b, long.wav + 2 segments, c
    outcomes = by_name(report.files)

    assert tiny_engine.delete(source=str(a)) == 1
    assert tiny_engine.media.find(outcomes["a.png"].sha256 or "") is None  # unreferenced: gone
    assert tiny_engine.delete(tag="second") == 1
    assert tiny_engine.media.find(extra.sha256 or "") is None
    assert tiny_engine.delete(ids=outcomes["long.wav"].ids[:1]) == 1
    # the file's other points still refer to its bytes
    assert tiny_engine.media.find(outcomes["long.wav"].sha256 or "") is not None
    assert tiny_engine.delete(tag="first") == 3
    assert tiny_engine.store.count() == 0 and list(tiny_engine.media) == []
    with pytest.raises(ValueError, match="exactly one"):
        tiny_engine.delete()
    with pytest.raises(ValueError, match="exactly one"):
        tiny_engine.delete(source="x", tag="y")


def test_interrupted_run_resumes(
    tiny_engine: Engine, media_folder: DemoData, tmp_path: Path
) -> None:
    """Files stored before an interruption are skipped; the rest are embedded."""
    folder = tmp_path / "copy"
    shutil.copytree(media_folder.root / "images", folder / "images")
    first = tiny_engine.ingest(sorted((folder / "images").iterdir())[:3])
    assert len(first.embedded) == 3
    second = tiny_engine.ingest([folder])
    assert (len(second.duplicates), len(second.embedded)) == (3, 3)
    assert tiny_engine.store.count() == 6


def test_copies_across_chunks(
    tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("binding.ingest.CHUNK_FILES", 2)
    for index in range(5):
        write(tmp_path / "in" / f"{index}.png", png_bytes((index, 0, 0)))
    write(tmp_path / "in" / "9_copy_of_0.png", png_bytes((0, 0, 0)))
    report = tiny_engine.ingest([tmp_path / "in"])
    assert [o.status for o in report.files] == ["embedded"] * 5 + ["duplicate"]
    assert report.files[-1].reason == f"same content as {tmp_path / 'in' / '0.png'}"
    assert tiny_engine.store.count() == 5
