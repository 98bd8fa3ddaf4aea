"""Run files: what they hold, how they load, and the side-by-side table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binding.eval.report import FORMAT, Run, compare, data_hash, flatten, load_run
from binding.modality import Modality


def run(top1: float, precision: str = "fp32") -> Run:
    return Run(
        kind="classify",
        model="imagebind_tiny",
        precision=precision,
        metrics={"top1": top1, "per_class": {"cat": 1.0}, "confusion": [[1, 0], [0, 1]]},
        data={"origin": "set", "count": 2, "hash": "ab" * 32},
    )


def test_a_run_round_trips_and_compares(tmp_path: Path):
    a = load_run(run(0.5).save(tmp_path / "a.json"))
    b = load_run(run(0.75, "int8").save(tmp_path / "b.json"))
    assert a["format"] == FORMAT and a["adapters"] == [] and a["precision"] == "fp32"
    columns, rows = compare([a, b])
    assert columns == ["", "run 1", "run 2", "run 2 - run 1"]
    table = {row[0]: row[1:] for row in rows}
    assert table["top1"] == ["0.5", "0.75", "+0.25"]
    assert table["precision"][:2] == ["fp32", "int8"]
    assert table["data.hash"][0] == "ab" * 6
    assert "confusion" not in table and table["per_class.cat"][2] == "+0"


def test_flatten_keeps_numbers_only():
    flat = flatten({"a": 1, "b": {"c": 2.5, "d": "x", "e": [1]}, "f": True})
    assert flat == {"a": 1.0, "b.c": 2.5}


def test_bad_run_files_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such evaluation file"):
        load_run(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ValueError, match="x.json: not JSON"):
        load_run(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"format": FORMAT + 1, "metrics": {}}))
    with pytest.raises(ValueError, match="newer than this binding"):
        load_run(tmp_path / "y.json")


def test_data_hash_follows_content_and_labels(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"one")
    (tmp_path / "b.txt").write_bytes(b"one")
    same = data_hash(Modality.IMAGE, [tmp_path / "a.txt"], [0])
    assert same == data_hash(Modality.IMAGE, [tmp_path / "b.txt"], [0])  # content, not path
    assert same != data_hash(Modality.IMAGE, [tmp_path / "a.txt"], [1])
    assert data_hash(Modality.TEXT, ["x"]) != data_hash(Modality.TEXT, ["y"])
