"""One bad file does not stop an evaluation: it is left out of the metrics, named with its
reason in the run, and never counted as found (a NaN score must not rank first)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.eval import metrics
from binding.eval.cache import CachedEmbedder
from binding.eval.classify import classify, read_labelled
from binding.eval.composite import evaluate_composite, read_triples
from binding.eval.retrieve import read_pairs, retrieve
from binding.modality import Modality
from tests.eval.conftest import write_png, write_wav


def corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 10)
    return path


def test_bad_files_get_nan_rows_and_reasons_and_the_rest_is_cached(tmp_path: Path, tiny_encoder):
    good = [write_png(tmp_path / f"{i}.png", seed=i) for i in range(5)]
    bad = [corrupt(tmp_path / "bad1.png"), corrupt(tmp_path / "bad2.png")]
    missing = tmp_path / "gone.png"
    items = [good[0], bad[0], good[1], good[2], missing, good[3], bad[1], good[4]]
    embedder = CachedEmbedder(tiny_encoder, tmp_path / "cache", identity="tiny|fp32|seed0")
    vectors = embedder.embed(Modality.IMAGE, items)
    usable = metrics.usable_rows(vectors)
    assert usable.tolist() == [True, False, True, True, False, True, False, True]
    assert set(embedder.rejected) == {str(bad[0]), str(bad[1]), str(missing)}
    assert "image" in embedder.rejected[str(bad[0])]  # the decoder's reason
    expected = tiny_encoder.embed("image", [str(p) for p in good])
    assert np.allclose(vectors[usable], expected, atol=1e-6)
    again = CachedEmbedder(tiny_encoder, tmp_path / "cache", identity="tiny|fp32|seed0")
    again.embed(Modality.IMAGE, good)
    assert again.hits == 5 and again.misses == 0  # the good ones were cached despite the bad


def test_a_nan_score_never_ranks_first():
    scores = np.array([[np.nan, 0.1], [0.2, 0.9]])
    with pytest.raises(ValueError, match="NaN"):
        metrics.ranks_of_targets(scores, [0, 1])


def test_classify_retrieve_and_composite_leave_bad_items_out(tmp_path: Path, tiny_encoder):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(3):
            write_png(tmp_path / "set" / name / f"{i}.png", seed=10 * c + i)
    corrupt(tmp_path / "set" / "dog" / "bad.png")
    embedder = CachedEmbedder(tiny_encoder, None)
    result = classify(read_labelled(tmp_path / "set"), embedder, templates=["a photo of a {}."])
    assert result.count == 6 and str(tmp_path / "set" / "dog" / "bad.png") in embedder.rejected

    manifest, triples = tmp_path / "pairs.csv", tmp_path / "triples.csv"
    with manifest.open("w", newline="") as p, triples.open("w", newline="") as t:
        pairs, trios = csv.writer(p), csv.writer(t)
        pairs.writerow(["query", "target"])
        trios.writerow(["a", "b", "target"])
        for i in range(4):
            write_png(tmp_path / f"{i}.png", seed=i)
            write_wav(tmp_path / f"{i}.wav", hz=300 + 40 * i)
            pairs.writerow([f"picture {i}", f"{i}.png"])
            trios.writerow([f"{i}.png", f"{i}.wav", f"{i}.png"])
        corrupt(tmp_path / "broken.png")
        pairs.writerow(["a broken picture", "broken.png"])
        pairs.writerow(["another caption of the broken picture", "broken.png"])
        trios.writerow(["broken.png", "0.wav", "1.png"])
        trios.writerow(["2.png", "3.wav", "broken.png"])
    out = retrieve(read_pairs(manifest, "text", "image"), CachedEmbedder(tiny_encoder, None))
    assert out["queries"] == 4 and out["targets"] == 4 and out["chance_R@1"] == 0.25
    composite = evaluate_composite(
        read_triples(triples, "image", "audio", "image"), CachedEmbedder(tiny_encoder, None)
    )
    assert composite["triples"] == 4 and composite["targets"] == 4


def test_cli_classify_goes_on_past_a_corrupt_file(tiny_settings: Settings, tmp_path: Path):
    folder = tmp_path / "data"
    for c, name in enumerate(["red", "blue"]):
        for i in range(3):
            write_png(folder / name / f"{i}.png", seed=10 * c + i)
    bad = corrupt(folder / "red" / "bad.png")
    out = tmp_path / "run.json"
    result = CliRunner().invoke(app, ["eval", "classify", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "left out" in text and "bad.png" in text and "1 item could not be embedded" in text
    run = json.loads(out.read_text())
    assert run["metrics"]["count"] == 6
    assert list(run["rejected"]) == [str(bad)] and "image" in run["rejected"][str(bad)]
