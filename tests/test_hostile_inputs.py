"""Small hostile inputs (issue 10 item 7; docs/reliability.md): symbolic links that leave the
ingested folder, link loops, symlinked folders, a ragged CSV, and a `source` with raw
newlines and bidi overrides. Real files, the tiny model and the embedded store."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from binding.api import Engine
from binding.errors import InputError
from binding.ingest import collect
from binding.io.sniff import detect_modality
from binding.modality import Modality
from binding.points import escape_source
from binding.query import make_filter


def _png(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A folder with one real image and every kind of link; a secret outside it."""
    outside = tmp_path / "outside"
    secret = _png(outside / "secret.png", 1)
    _png(outside / "sub" / "other.png", 2)
    folder = tmp_path / "in"
    _png(folder / "real.png", 0)
    _png(folder / "inner" / "deep.png", 3)
    (folder / "to_secret.png").symlink_to(secret)  # a file outside: not followed
    (folder / "to_passwd").symlink_to("/etc/passwd")
    (folder / "to_real.png").symlink_to(folder / "real.png")  # inside: taken
    (folder / "to_outside_dir").symlink_to(outside / "sub", target_is_directory=True)
    (folder / "inner" / "up").symlink_to(folder, target_is_directory=True)  # a loop upwards
    (folder / "loop_a").symlink_to(folder / "loop_b")
    (folder / "loop_b").symlink_to(folder / "loop_a")  # a link loop
    (folder / "broken.png").symlink_to(folder / "gone.png")
    return folder


def test_links_are_not_followed_by_default_and_each_gets_a_line(linked: Path) -> None:
    items, rejected = collect([linked])
    assert sorted(i.name for i in items) == ["deep.png", "real.png", "to_real.png"]
    reasons = {Path(o.source).name: o.reason or "" for o in rejected}
    assert set(reasons) == {
        "to_secret.png",
        "to_passwd",
        "to_outside_dir",
        "up",
        "loop_a",
        "loop_b",
        "broken.png",
    }
    assert all(o.status == "rejected" for o in rejected)
    for name in ("to_secret.png", "to_passwd"):
        assert "leads outside the ingested folder; not followed" in reasons[name]
        assert "BINDING_FOLLOW_SYMLINKS" in reasons[name]
    assert reasons["to_outside_dir"].startswith("a symbolic link to a folder; not followed")
    assert reasons["up"].startswith("a symbolic link to a folder; not followed")
    assert reasons["loop_a"] == reasons["loop_b"] == "a symbolic link loop"
    assert reasons["broken.png"].startswith("a broken symbolic link")
    assert all(str(o.source).startswith(str(linked)) for o in rejected)  # the link, not /etc


def test_following_links_walks_linked_folders_once(linked: Path) -> None:
    items, rejected = collect([linked], follow_symlinks=True)
    names = sorted(i.name for i in items)
    assert names == [
        "deep.png",
        "other.png",
        "real.png",
        "to_passwd",
        "to_real.png",
        "to_secret.png",
    ]
    reasons = {Path(o.source).name: o.reason for o in rejected}
    assert reasons["up"] == "a symbolic link to a folder already walked (a loop); skipped"
    assert reasons["loop_a"] == "a symbolic link loop" and "broken.png" in reasons


def test_a_glob_does_not_leave_the_folder_through_a_link(linked: Path) -> None:
    items, rejected = collect([str(linked / "**" / "*.png")])
    assert "secret.png" not in {i.path.resolve().name for i in items}
    assert "other.png" not in {i.name for i in items}
    assert any("not followed" in (o.reason or "") for o in rejected)


def test_ingest_reports_the_link_to_passwd_as_rejected(tiny_engine: Engine, linked: Path) -> None:
    report = tiny_engine.ingest([linked])
    by_name = {Path(o.source).name: o for o in report.files}
    assert by_name["to_passwd"].status == "rejected"
    assert "leads outside the ingested folder" in (by_name["to_passwd"].reason or "")
    assert by_name["real.png"].status == "embedded"
    assert len(report.files) == 10  # every entry has its line: 3 files, 7 links


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name,value,unit\nalpha,1.5,m\nbeta,2\ngamma,3,m\n",
            "line 3 has 2 fields, the header has 3",
        ),
        ("a;b;c\n1;2;3\n4;5;6;7\n", "line 3 has 4 fields, the header has 3"),
    ],
)
def test_a_ragged_csv_is_named_as_such(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        detect_modality(path)
    assert "a CSV table with ragged rows" in error.value.reason and expected in error.value.reason
    assert "plain text" not in error.value.reason


def test_a_ragged_imu_csv_names_the_bad_line(tiny_engine: Engine, tmp_path: Path) -> None:
    rows = ["t,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"]
    rows += [f"{i / 100},1,2,3,4,5,6" for i in range(40)]
    rows[5] = "0.04,1,2,3,4,5"  # a field missing on line 6
    path = tmp_path / "walk.csv"
    path.write_text("\n".join(rows) + "\n")
    (outcome,) = tiny_engine.ingest([path]).files
    assert outcome.status == "rejected"
    assert outcome.reason == "line 6: 6 columns, the header has 7"


def test_prose_with_commas_is_still_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "letter.txt"
    path.write_text("Dear John, thanks for the note\nI went out, bought milk, and eggs.\n")
    assert detect_modality(path) is Modality.TEXT  # a text document, not a ragged CSV


def test_escape_source_rule() -> None:
    assert escape_source("/data/ok/img 1.png") == "/data/ok/img 1.png"
    assert escape_source("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert escape_source("evil\u202egnp.exe") == "evil\\u202egnp.exe"
    assert escape_source("x\u2066y\u200bz\x1b[31m\u2028") == "x\\u2066y\\u200bz\\x1b[31m\\u2028"
    assert escape_source("C:\\dir\\n.png") == "C:\\dir\\n.png"  # a backslash stays
    raw = "up\nload\u202e.png"
    assert escape_source(escape_source(raw)) == escape_source(raw)  # idempotent


@pytest.mark.skipif(os.name != "posix", reason="newlines in file names: POSIX only")
def test_source_with_newline_and_bidi_is_stored_escaped_and_filterable(
    tiny_engine: Engine, tmp_path: Path
) -> None:
    path = _png(tmp_path / "two\nlines\u202egnp.png", 7)
    report = tiny_engine.ingest([path])
    assert report.files[0].status == "embedded"
    (point,) = tiny_engine.scroll()
    stored = point.payload["source"]
    assert "\n" not in stored and "\u202e" not in stored
    assert stored == str(path).replace("\n", "\\n").replace("\u202e", "\\u202e")
    for value in (str(path), stored):  # the raw path, or the text copied from the output
        where = make_filter(source=value)
        assert [p.id for p in tiny_engine.scroll(filter=where)] == [point.id]
    assert tiny_engine.delete(source=str(path)) == 1
