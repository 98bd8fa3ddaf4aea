"""The CLI's rough edges a new user hit (issue 13, items 6-10), each pinned by a test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binding.cli import EXIT_NOTHING, EXIT_REJECTED, EXIT_USAGE, app
from binding.config import Settings
from binding.demo import DemoData


@pytest.fixture
def runner(tiny_settings: Settings) -> CliRunner:
    return CliRunner()


@pytest.fixture
def stored(runner: CliRunner, media_folder: DemoData, tmp_path: Path) -> Path:
    """A few images and a thermal frame ingested from `tmp_path/media` (the working dir)."""
    folder = tmp_path / "media"
    shutil.copytree(media_folder.root / "images", folder / "images")
    shutil.copytree(media_folder.root / "thermal", folder / "thermal")
    result = runner.invoke(app, ["ingest", "media"])  # relative, as a user types it
    assert result.exit_code == 0, result.output
    return folder


def _hits(runner: CliRunner, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["search", "--json", *args])
    assert result.exit_code == 0, result.output
    hits: list[dict[str, object]] = json.loads(result.stdout)["hits"]
    return hits


def test_a_query_may_start_with_a_minus(runner: CliRunner, stored: Path) -> None:
    assert len(_hits(runner, '-text:"night"', "-n", "3")) == 3
    assert len(_hits(runner, "-n", "2", '-0.5*text:"night" + text:"a red circle"')) == 2
    assert len(_hits(runner, "--", '-text:"night" @ 4')) == 4
    tagged = runner.invoke(app, ["search", "--json", "-t", "-odd:tag", '-text:"night"'])
    assert tagged.exit_code == 0 and json.loads(tagged.stdout)["hits"] == []  # tag, then query


def test_limit_and_mode_flags_do_not_silently_override_the_query(
    runner: CliRunner, stored: Path
) -> None:
    assert len(_hits(runner, 'text:"x" @ 3', "--limit", "3")) == 3  # the same: fine
    both = runner.invoke(app, ["search", 'text:"x" @ 3', "--limit", "5"])
    assert both.exit_code == 1 and "--limit 5 and '@ 3'" in both.stderr
    mode = runner.invoke(app, ["search", 'text:"x" | mode=rrf', "--mode", "sum"])
    assert mode.exit_code == 1 and "--mode sum and 'mode=rrf'" in mode.stderr
    apart = runner.invoke(app, ["search", 'text:"x" | modality=image', "--modality", "audio"])
    assert apart.exit_code == 1
    assert "image" in apart.stderr and "audio" in apart.stderr
    assert "exclude each other" in apart.stderr and "empty" not in apart.stderr


def test_relative_sources_follow_one_rule(runner: CliRunner, stored: Path) -> None:
    beach = str(stored / "images" / "beach.png")
    for args in (
        ('text:"x"', "--source", "media/images/beach.png"),
        ('text:"x" | source=media/images/beach.png',),
        ('text:"x" | source=./media/../media/images/beach.png',),
    ):
        hits = _hits(runner, *args)
        assert [h["payload"]["source"] for h in hits] == [beach], args  # type: ignore[index]
    assert _hits(runner, 'text:"x"', "--source", beach)  # absolute, as stored
    gone = runner.invoke(app, ["delete", "--source", "media/images/beach.png"])
    assert gone.exit_code == 0 and "deleted 1 point" in gone.stderr
    assert _hits(runner, 'text:"x"', "--source", "media/images/beach.png") == []


def test_embed_follows_the_depth_and_thermal_folder_rule(
    runner: CliRunner, media_folder: DemoData, tmp_path: Path
) -> None:
    thermal = media_folder.root / "thermal" / "person.png"
    depth = media_folder.root / "depth" / "corridor.png"
    by_folder = runner.invoke(app, ["embed", str(thermal), str(depth), "-o", "folder.npy"])
    assert by_folder.exit_code == 0, by_folder.output
    for path, kind, row in ((thermal, "thermal", 0), (depth, "depth", 1)):
        given = runner.invoke(app, ["embed", "--modality", kind, str(path), "-o", f"{kind}.npy"])
        assert given.exit_code == 0, given.output
        np.testing.assert_allclose(np.load("folder.npy")[row], np.load(f"{kind}.npy")[0], atol=1e-6)
    as_image = runner.invoke(app, ["embed", "--modality", "image", str(thermal), "-o", "i.npy"])
    assert as_image.exit_code == 0, as_image.output
    assert not np.allclose(np.load("i.npy")[0], np.load("folder.npy")[0])  # not an image


def test_exit_statuses_are_distinct(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["ingest", "empty"])
    assert empty.exit_code == EXIT_NOTHING == 4
    assert "nothing to ingest" in empty.stderr and "empty" in empty.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    rejected = runner.invoke(app, ["ingest", "bad"])
    assert rejected.exit_code == EXIT_REJECTED == 3
    usage = runner.invoke(app, ["ingest", "bad", "--no-such-option"])
    assert usage.exit_code == EXIT_USAGE == 2
    assert runner.invoke(app, ["ingest", "bad", "--modality", "smell"]).exit_code == 1


def test_smaller_edges(runner: CliRunner) -> None:
    empty_text = runner.invoke(app, ["embed", "--modality", "text", "", "-o", "t.npy"])
    assert empty_text.exit_code == 1 and "empty text" in empty_text.stderr
    assert not Path("t.npy").exists()
    fp8 = runner.invoke(
        app, ["embed", "--precision", "fp8", "--modality", "text", "x", "-o", "t.npy"]
    )
    assert (
        fp8.exit_code == 1 and "'fp8' is not accepted" in fp8.stderr and "--precision" in fp8.stderr
    )
    assert not Path("t.npy").exists()  # it used to run as fp32 and say fp8
    for command in (["search", "--help"], ["ingest", "--help"], ["embed", "--help"]):
        shown = runner.invoke(app, command, env={"COLUMNS": "120"})
        assert shown.exit_code == 0
        assert "<bool>" not in shown.stdout and "list[" not in shown.stdout, shown.stdout
    assert "--explain " in runner.invoke(app, ["search", "--help"]).stdout
