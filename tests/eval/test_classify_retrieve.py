"""Classification, retrieval and composite queries: perfect embeddings score 1.0, the tiny
model's random weights score at chance, and the cache spares re-embedding."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from binding.eval.cache import CachedEmbedder, content_bytes
from binding.eval.classify import classify, confusion_png, read_labelled
from binding.eval.composite import composite_ranks, evaluate_composite, read_triples
from binding.eval.retrieve import pair_ranks, read_pairs, retrieve
from binding.modality import Modality
from tests.eval.conftest import LabelEmbedder, write_png, write_wav

CLASSES = [f"class_{i}" for i in range(10)]


def make_folder(root: Path, per_class: int, classes: list[str] = CLASSES) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_png(root / name / f"{i}.png", seed=1000 * c + i)
    return root


def label_map(data) -> dict[bytes, int]:
    return {
        content_bytes(data.modality, item): label
        for item, label in zip(data.items, data.labels, strict=True)
    }


def test_perfect_embeddings_classify_perfectly(tmp_path: Path):
    data = read_labelled(make_folder(tmp_path / "set", 3))
    assert data.modality is Modality.IMAGE and len(data.items) == 30
    assert data.counts() == dict.fromkeys(CLASSES, 3)
    result = classify(data, LabelEmbedder(CLASSES, label_map(data)))
    assert result.top1 == 1.0 and result.top5 == 1.0
    assert set(result.per_class.values()) == {1.0}
    assert (result.confusion == 3 * np.eye(10)).all()
    png = confusion_png(result, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_random_weights_classify_at_chance(tmp_path: Path, tiny_encoder):
    """600 noise images in 10 balanced classes: top-1 within 0.1 +- 0.05 (4 binomial s.d.
    is 0.049; a model that says one class for everything scores exactly 0.1)."""
    data = read_labelled(make_folder(tmp_path / "set", 60))
    result = classify(data, CachedEmbedder(tiny_encoder, None))
    assert result.count == 600
    assert abs(result.top1 - 0.1) <= 0.05, result.top1
    assert abs(result.top5 - 0.5) <= 0.1, result.top5


def test_csv_labels_and_against_another_modality(tmp_path: Path):
    rows = []
    for c, name in enumerate(["dog", "rain"]):
        for i in range(2):
            image = write_png(tmp_path / f"{name}{i}.png", seed=10 * c + i)
            sound = write_wav(tmp_path / f"{name}{i}.wav", hz=200 + 300 * c + i)
            rows += [(image.name, name), (sound.name, name)]
    manifest = tmp_path / "labels.csv"
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label"), *rows])
    data = read_labelled(manifest, "audio", mixed=True)
    assert data.classes == ["dog", "rain"] and len(data.items) == 8
    embedder = LabelEmbedder(data.classes, label_map(data))  # images and sounds alike
    result = classify(data, embedder, against="image")
    assert result.count == 4 and result.top1 == 1.0
    with pytest.raises(ValueError, match="the items are audio already"):
        classify(data, embedder, against="audio")


def test_broken_inputs_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such folder or CSV"):
        read_labelled(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no class folders"):
        read_labelled(tmp_path / "empty")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nonly-one-column\n")
    with pytest.raises(ValueError, match="row 1 needs two columns"):
        read_labelled(bad)
    data = read_labelled(make_folder(tmp_path / "set", 1, ["a", "b"]))
    with pytest.raises(ValueError, match="has no {}"):
        classify(data, LabelEmbedder(["a", "b"], label_map(data)), templates=["a photo"])


def write_pairs(tmp_path: Path, count: int) -> Path:
    manifest = tmp_path / "pairs.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "target"])
        for i in range(count):
            write_png(tmp_path / "img" / f"{i}.png", seed=i)
            writer.writerow([f"class_{i} picture", f"img/{i}.png"])
    return manifest


def test_perfect_retrieval_both_ways(tmp_path: Path):
    pairs = read_pairs(write_pairs(tmp_path, 10), "text", "image")
    labels = {content_bytes(Modality.IMAGE, t): i for i, t in enumerate(pairs.targets)}
    result = retrieve(pairs, LabelEmbedder(CLASSES, labels))
    for direction in ("text->image", "image->text"):
        assert result[direction]["R@1"] == 1.0
        assert result[direction]["median_rank"] == 1.0
        assert result[direction]["MRR"] == 1.0


def test_random_weights_retrieve_at_chance(tmp_path: Path, tiny_encoder):
    """300 pairs: chance R@10 is 10/300 = 0.033; allow up to 0.09 and MRR under 0.07."""
    manifest = write_pairs(tmp_path, 300)
    result = retrieve(read_pairs(manifest, "text", "image"), CachedEmbedder(tiny_encoder, None))
    forward = result["text->image"]
    assert forward["R@10"] <= 0.09 and forward["MRR"] <= 0.07, forward
    assert forward["median_rank"] > 60


def test_shared_targets_count_once_and_the_reverse_takes_any_query():
    queries = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]  # two captions of target 0
    targets = np.eye(3, dtype=np.float32)
    forward, backward = pair_ranks(queries, targets, [0, 0, 1, 2])
    assert forward.tolist() == [1, 1, 1, 1] and backward.tolist() == [1, 1, 1]


def test_manifest_without_the_columns_is_named(tmp_path: Path):
    bad = tmp_path / "pairs.csv"
    bad.write_text("text,image\na,b\n")
    with pytest.raises(ValueError, match="no column query, target"):
        read_pairs(bad, "text", "image")


def test_composite_beats_either_part_when_the_target_needs_both():
    # targets are combinations (i, j) of two attributes; A names i, B names j
    rng = np.random.default_rng(0)
    basis_a, basis_b = rng.normal(size=(4, 64)), rng.normal(size=(4, 64))
    pairs = [(i, j) for i in range(4) for j in range(4)]
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    targets = unit(np.array([basis_a[i] + basis_b[j] for i, j in pairs]))
    a = unit(basis_a[[i for i, _ in pairs]])
    b = unit(basis_b[[j for _, j in pairs]])
    ranks = composite_ranks(a, b, targets, list(range(16)))
    assert (ranks["A+B"] == 1).all()
    assert (ranks["A"] > 1).mean() > 0.5 and (ranks["B"] > 1).mean() > 0.5


def test_composite_from_a_manifest(tmp_path: Path):
    manifest = tmp_path / "triples.csv"
    rows = [("a", "b", "target")]
    for i in range(4):
        write_png(tmp_path / f"t{i}.png", seed=i)
        write_png(tmp_path / f"a{i}.png", seed=100 + i)
        rows.append((f"a{i}.png", f"class_{i}", f"t{i}.png"))
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    triples = read_triples(manifest, "image", "text", "image")
    labels = {
        content_bytes(Modality.IMAGE, tmp_path / f"{p}{i}.png"): i for i in range(4) for p in "at"
    }
    result = evaluate_composite(triples, LabelEmbedder(CLASSES, labels))
    assert result["A+B"]["R@1"] == 1.0 and result["targets"] == 4


def test_cache_skips_items_already_embedded(tmp_path: Path, tiny_encoder):
    data = read_labelled(make_folder(tmp_path / "set", 2, ["cat", "dog"]))
    embedder = CachedEmbedder(tiny_encoder, tmp_path / "cache", identity="tiny|fp32|seed0")
    first = classify(data, embedder, templates=["a photo of a {}."])
    assert embedder.misses == 4 + 2 and embedder.hits == 0
    again = CachedEmbedder(tiny_encoder, tmp_path / "cache", identity="tiny|fp32|seed0")
    second = classify(data, again, templates=["a photo of a {}.", "a picture of a {}."])
    # the images and the old prompts come from the cache; only the new prompts are embedded
    assert again.misses == 2 and again.hits == 4 + 2
    assert first.count == second.count == 4
    other = CachedEmbedder(tiny_encoder, tmp_path / "cache", identity="tiny|int8|seed0")
    other.embed("text", ["a photo of a cat."])
    assert other.misses == 1  # another precision is another key
    vectors = again.embed("image", data.items)
    assert np.allclose(
        vectors, tiny_encoder.embed("image", [str(p) for p in data.items]), atol=1e-6
    )
