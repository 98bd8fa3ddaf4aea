"""The store commands of the CLI, run in-process with typer's CliRunner on real media."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.demo import DemoData
from binding.export import read_header, read_points

RANDOM_WEIGHTS = "random weights"


@pytest.fixture
def runner(tiny_settings: Settings) -> CliRunner:
    """A runner whose commands see the tiny settings (through BINDING_* variables)."""
    return CliRunner()


@pytest.fixture
def small_folder(media_folder: DemoData, tmp_path: Path) -> Path:
    """Images, short sounds and a thermal frame, plus one broken file."""
    folder = tmp_path / "media"
    shutil.copytree(media_folder.root / "images", folder / "images")
    (folder / "audio").mkdir()
    for name in ("tone_440hz.wav", "chirp.wav"):
        shutil.copy(media_folder.root / "audio" / name, folder / "audio" / name)
    shutil.copytree(media_folder.root / "thermal", folder / "thermal")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    return folder


def test_ingest_search_info_delete_export(
    runner: CliRunner, small_folder: Path, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["ingest", str(small_folder), "--tag", "cli", "--json"])
    assert result.exit_code == 3, result.output  # some files were rejected, the rest stored
    report = json.loads(result.stdout)
    assert report["counts"] == {
        "files": 11,
        "embedded": 10,
        "duplicate": 0,
        "rejected": 1,
        "failed": 0,
        "points": 10,
    }
    assert report["points_by_modality"] == {"audio": 2, "image": 6, "thermal": 2}
    (broken,) = [f for f in report["files"] if f["status"] == "rejected"]
    assert broken["source"] == str(small_folder / "broken.jpg") and broken["reason"]
    assert RANDOM_WEIGHTS in result.stderr
    assert f"{small_folder / 'broken.jpg'}" in result.stderr  # the summary names it

    # Stored files again, with a new tag: nothing embedded, the tag added to them.
    again = runner.invoke(
        app, ["ingest", str(small_folder / "images"), "--tag", "holiday", "--json"]
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["counts"]["duplicate"] == 6
    assert {f["reason"] for f in report["files"]} == {"already in the store; tags added: holiday"}
    tagged = runner.invoke(
        app, ["search", 'text:"sea"', "--tag", "holiday", "--modality", "image", "--json"]
    )
    assert len(json.loads(tagged.stdout)["hits"]) == 6, tagged.output

    beach = small_folder / "images" / "beach.png"
    found = runner.invoke(app, ["search", f'image:"{beach}"', "--limit", "3", "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 3 and hits[0]["payload"]["source"] == str(beach)
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert RANDOM_WEIGHTS in found.stderr

    point = hits[0]["id"]
    explained = runner.invoke(
        app, ["search", f"id:{point} + 0.5*text:sea", "--explain", "--json", "--modality", "image"]
    )
    assert explained.exit_code == 0, explained.output
    body = json.loads(explained.stdout)
    assert {h["payload"]["modality"] for h in body["hits"]} == {"image"}
    assert len(body["hits"][0]["explanation"]["cosines"]) == 2

    table = runner.invoke(app, ["search", 'text:"a tone"', "--tag", "cli", "-n", "2"])
    assert table.exit_code == 0, table.output
    assert "score" in table.stdout

    info = runner.invoke(app, ["info", "--json"])
    assert info.exit_code == 0, info.output
    stats = json.loads(info.stdout)
    assert stats["count"] == 10 and stats["modalities"] == {"audio": 2, "image": 6, "thermal": 2}
    assert stats["model"] == "imagebind_tiny" and stats["random_weights"] is True
    assert "points" in runner.invoke(app, ["info"]).stdout

    for suffix in ("parquet", "jsonl"):
        path = tmp_path / f"export.{suffix}"
        exported = runner.invoke(app, ["export", str(path)])
        assert exported.exit_code == 0, exported.output
        assert read_header(path).model == "imagebind_tiny"
        points = list(read_points(path))
        assert len(points) == 10
        assert all(np.linalg.norm(p.vector) == pytest.approx(1.0, abs=1e-5) for p in points)
    jsonl_ids = {p.id for p in read_points(tmp_path / "export.jsonl")}
    assert jsonl_ids == {p.id for p in read_points(tmp_path / "export.parquet")}
    forced = runner.invoke(app, ["export", str(tmp_path / "x.out"), "--format", "jsonl"])
    assert forced.exit_code == 0 and len(list(read_points_as(tmp_path / "x.out"))) == 10

    removed = runner.invoke(app, ["delete", "--id", point])
    assert removed.exit_code == 0 and "deleted 1 point" in removed.stderr
    by_source = runner.invoke(
        app, ["delete", "--source", str(small_folder / "audio" / "chirp.wav")]
    )
    assert "deleted 1 point" in by_source.stderr
    by_tag = runner.invoke(app, ["delete", "--tag", "cli"])
    assert "deleted 8 points" in by_tag.stderr
    assert json.loads(runner.invoke(app, ["info", "--json"]).stdout)["count"] == 0


def read_points_as(path: Path) -> list[object]:
    """Read an export whose name does not say its format (copy it under a telling name)."""
    named = path.with_suffix(".jsonl")
    shutil.copy(path, named)
    return list(read_points(named))


def test_bad_arguments_are_clean_errors(runner: CliRunner, tmp_path: Path) -> None:
    both = runner.invoke(app, ["delete", "--tag", "a", "--source", "b"])
    assert both.exit_code == 1 and "exactly one" in both.stderr
    bad_query = runner.invoke(app, ["search", "image:"])
    assert bad_query.exit_code == 1 and "column" in bad_query.stderr
    bad_modality = runner.invoke(app, ["ingest", str(tmp_path), "--modality", "smell"])
    assert bad_modality.exit_code == 1 and "unknown modality" in bad_modality.stderr
    bad_time = runner.invoke(app, ["search", "text:x", "--after", "yesterday"])
    assert bad_time.exit_code == 1 and "not a time" in bad_time.stderr
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nothing_here"), "--json"])
    assert missing.exit_code == 3  # rejected: 3, never 2 (a usage error)
    assert json.loads(missing.stdout)["files"][0]["reason"] == "no such file or folder"


def test_demo_data_and_demo(runner: CliRunner, tiny_settings: Settings, tmp_path: Path) -> None:
    made = runner.invoke(app, ["demo-data", str(tmp_path / "sample"), "--no-speech"])
    assert made.exit_code == 0, made.output
    assert len([p for p in (tmp_path / "sample").rglob("*") if p.is_file()]) == 18
    assert (tmp_path / "sample" / "depth" / "corridor.png").is_file()

    demo = runner.invoke(app, ["demo"])  # sample media into the data folder, ingested
    assert demo.exit_code == 0, demo.output
    assert (tiny_settings.data_dir / "demo" / "depth" / "corridor.png").is_file()
    assert "18 files: 18 embedded (26 points" in demo.stderr and "0 rejected" in demo.stderr
    assert demo.stdout.count("score") == 4  # one table per example search
