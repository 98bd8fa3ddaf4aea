"""`binding eval` end to end with typer's CliRunner, the tiny model and generated data:
every command prints its table and writes a run JSON; `compare` sets two side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from tests.eval.conftest import write_png, write_wav
from tests.eval.test_paper import esc50_replica


@pytest.fixture
def runner(tiny_settings: Settings) -> CliRunner:
    return CliRunner()


def labelled_folder(root: Path) -> Path:
    for c, name in enumerate(["cat", "dog", "bird"]):
        for i in range(3):
            write_png(root / name / f"{i}.png", seed=10 * c + i)
            write_wav(root / name / f"{i}.wav", hz=200 + 100 * c + 10 * i)
    return root


def test_classify_writes_json_png_and_compare(runner: CliRunner, tmp_path: Path):
    folder = labelled_folder(tmp_path / "set")
    first = tmp_path / "runs" / "a.json"
    result = runner.invoke(
        app, ["eval", "classify", str(folder), "--modality", "image", "-o", str(first)]
    )
    assert result.exit_code == 0, result.output
    assert "top1" in result.output and "random weights" in result.output
    run = json.loads(first.read_text())
    assert run["format"] == 1 and run["kind"] == "classify" and run["model"] == "imagebind_tiny"
    assert run["precision"] == "fp32" and run["random_weights"] is True
    assert run["weights"] == "random seed 0"
    assert run["data"]["count"] == 9 and len(run["data"]["hash"]) == 64
    assert set(run["metrics"]) >= {"top1", "top5", "per_class", "confusion", "chance_top1"}
    assert first.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"

    second = tmp_path / "runs" / "b.json"
    result = runner.invoke(app, ["eval", "classify", str(folder), "--modality", "image",
                                 "-t", "a drawing of a {}.", "-o", str(second)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(second.read_text())["data"]["hash"] == run["data"]["hash"]

    result = runner.invoke(app, ["eval", "compare", str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert "run 2 - run 1" in result.output and "top1" in result.output
    assert "per_class.cat" in result.output


def test_classify_against_another_modality(runner: CliRunner, tmp_path: Path):
    folder = labelled_folder(tmp_path / "set")
    out = tmp_path / "against.json"
    result = runner.invoke(app, ["eval", "classify", str(folder), "--modality", "audio",
                                 "--against", "image", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())
    assert run["options"]["against"] == "image" and run["metrics"]["count"] == 9


def test_retrieve_and_composite(runner: CliRunner, tmp_path: Path):
    manifest = tmp_path / "pairs.csv"
    triples = tmp_path / "triples.csv"
    with manifest.open("w", newline="") as p, triples.open("w", newline="") as t:
        pairs, trios = csv.writer(p), csv.writer(t)
        pairs.writerow(["query", "target"])
        trios.writerow(["a", "b", "target"])
        for i in range(6):
            write_png(tmp_path / f"{i}.png", seed=i)
            write_wav(tmp_path / f"{i}.wav", hz=300 + 40 * i)
            pairs.writerow([f"picture number {i}", f"{i}.png"])
            trios.writerow([f"{i}.png", f"{i}.wav", f"{(i + 1) % 6}.png"])
    out = tmp_path / "r.json"
    result = runner.invoke(
        app, ["eval", "retrieve", str(manifest), "-q", "text", "-t", "image", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert set(metrics["text->image"]) == {"R@1", "R@5", "R@10", "median_rank", "MRR"}
    assert metrics["image->text"]["R@10"] == 1.0  # 6 candidates: everything is in the top 10
    out = tmp_path / "c.json"
    result = runner.invoke(app, ["eval", "composite", str(triples), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())["metrics"]) >= {"A+B", "A", "B"}


def test_paper_table_lists_evaluated_and_skipped(runner: CliRunner, tmp_path: Path):
    esc50_replica(tmp_path / "data")
    out = tmp_path / "paper.json"
    result = runner.invoke(
        app, ["eval", "paper", "--data-root", str(tmp_path / "data"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "ESC-50" in result.output and "66.9" in result.output
    assert "ImageNet-1k: absent" in result.output and "image-net.org" in result.output
    saved = json.loads(out.read_text())
    assert set(saved["metrics"]) == {"esc50"}
    assert len(saved["data"]["hash"]) == 64 and set(saved["data"]["hashes"]) == {"esc50"}


def test_errors_name_the_file(runner: CliRunner, tmp_path: Path):
    result = runner.invoke(app, ["eval", "classify", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such folder or CSV file" in " ".join(result.output.split())
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    result = runner.invoke(app, ["eval", "compare", str(bad)])
    assert result.exit_code == 1 and "not a binding evaluation" in " ".join(result.output.split())


def test_index_recall_and_judged_queries(runner: CliRunner, tmp_path: Path):
    folder = tmp_path / "media"
    for i in range(12):
        write_png(folder / f"img{i}.png", seed=i)
    assert runner.invoke(app, ["ingest", str(folder)]).exit_code == 0
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "query,target,relevance\nred things,img0.png,2\nred things,img1.png,1\nimage:"
        + str(folder / "img3.png")
        + ",img3.png,1\n"
    )
    out = tmp_path / "index.json"
    result = runner.invoke(app, ["eval", "index", "--queries", "8", "--ef", "16", "--ef", "64",
                                 "--labels", str(labels), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["queries"] == 8 and set(metrics["hnsw_ef"]) == {"16", "64"}
    assert all(0.0 <= row["recall"] <= 1.0 for row in metrics["hnsw_ef"].values())
    if not metrics["indexed"]:
        assert all(row["recall"] == 1.0 for row in metrics["hnsw_ef"].values())
    judged = metrics["judged"]
    assert judged["queries"] == 2 and 0.0 <= judged["nDCG@10"] <= 1.0
    assert judged["R@10"] >= 0.5  # the image query finds its own file first
