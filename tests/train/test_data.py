"""Manifests, arrays and the pure pieces of training (metrics, loss, learning-rate schedule)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from binding.train.arrays import ArrayError, read_array
from binding.train.loop import lr_factor
from binding.train.loss import ContrastiveLoss
from binding.train.manifest import read_pairs, split_pairs, validate_pairs
from binding.train.metrics import chance_recall, recall_at_k


def _image(path: Path) -> str:
    Image.new("RGB", (16, 16), (200, 30, 30)).save(path)
    return path.name


def test_arrays_npy_npz_csv(tmp_path: Path) -> None:
    signal = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", signal)
    np.savez(tmp_path / "b.npz", x=signal)
    (tmp_path / "c.csv").write_text(
        "x,y,z\n" + "\n".join(",".join(map(str, row)) for row in signal.T)
    )
    for name in ("a.npy", "b.npz", "c.csv"):
        np.testing.assert_array_equal(read_array(tmp_path / name), signal)
    (tmp_path / "noheader.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ArrayError, match="header"):
        read_array(tmp_path / "noheader.csv")


def test_bad_manifest_gets_one_line_per_bad_pair(tmp_path: Path) -> None:
    good = np.random.default_rng(0).normal(size=(2, 32)).astype(np.float32)
    rows = ["anchor,input"]
    for index in range(4):
        np.save(tmp_path / f"ok{index}.npy", good)
        rows.append(f"{_image(tmp_path / f'ok{index}.png')},ok{index}.npy")
    rows.append(f"{_image(tmp_path / 'm.png')},missing.npy")  # missing input
    rows.append("nowhere.png,ok0.npy")  # missing anchor
    np.save(tmp_path / "wide.npy", np.zeros((2, 40), np.float32))
    rows.append(f"{_image(tmp_path / 'w.png')},wide.npy")  # wrong shape
    nan = good.copy()
    nan[0, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    rows.append(f"{_image(tmp_path / 'n.png')},nan.npy")  # NaN
    rows.append(f"{_image(tmp_path / 't.png')},a sentence where an array belongs")  # text
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")

    checked = validate_pairs(read_pairs(tmp_path / "pairs.csv"), anchor_is_text=False)
    assert len(checked.pairs) == 4
    assert len(checked.problems) == 5
    joined = "\n".join(checked.problems)
    for reason in (
        "file not found",
        "anchor file not found",
        "shape (2, 40)",
        "NaN",
        "not an array file",
    ):
        assert reason in joined
    train, val = split_pairs(checked, val_fraction=0.25, seed=0)
    assert sorted(train + val) == [0, 1, 2, 3] and len(val) == 1


def test_built_in_pairs_are_decoded_once_and_line_up_with_the_kept_pairs(tmp_path: Path) -> None:
    """Image-text pairs: the check decodes each picture once, into the rows training uses;
    a corrupt picture, a missing one and an empty caption leave their pairs out, named."""
    from binding.inputs import prepare_one
    from binding.modality import Modality
    from binding.train.commands import _decode_pairs

    rows = ["anchor,input"]
    for index, colour in enumerate(((200, 30, 30), (30, 200, 30), (30, 30, 200))):
        Image.new("RGB", (40, 30), colour).save(tmp_path / f"ok{index}.png")
        rows.append(f"ok{index}.png,picture {index}")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    rows += ["broken.png,a broken picture", "gone.png,a missing picture", "ok0.png,"]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")

    pairs = read_pairs(tmp_path / "pairs.csv")
    checked, inputs, anchors = _decode_pairs(
        pairs, Modality.TEXT, Modality.IMAGE, keep_anchors=True
    )
    assert [pair.input for pair in checked.pairs] == [f"picture {i}" for i in range(3)]
    assert inputs is None  # text is tokenised later, in one go
    assert anchors is not None and anchors.shape == (3, 3, 224, 224)
    for row, pair in zip(anchors, checked.pairs, strict=True):
        assert torch.equal(row, prepare_one(Modality.IMAGE, pair.anchor)[0])
    joined = "\n".join(checked.problems)
    assert len(checked.problems) == 3
    assert "broken.png" in joined and "gone.png" in joined and "empty input text" in joined
    # a frozen anchor needs only its vectors: the pictures are checked, not kept
    again, _, dropped = _decode_pairs(pairs, Modality.TEXT, Modality.IMAGE, keep_anchors=False)
    assert dropped is None and again.problems == checked.problems


def test_folder_convention_and_jsonl(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        _image(tmp_path / f"{stem}.jpg")
        np.save(tmp_path / f"{stem}.npy", np.zeros((1, 8), np.float32))
    pairs = read_pairs(tmp_path)
    assert [Path(p.input).name for p in pairs] == ["a.npy", "b.npy"]
    assert all(p.anchor.endswith(".jpg") for p in pairs)
    (tmp_path / "m.jsonl").write_text('{"anchor": "a dog", "input": "a.npy", "split": "val"}\n')
    (pair,) = read_pairs(tmp_path / "m.jsonl")
    assert pair.anchor == "a dog" and pair.split == "val" and Path(pair.input).is_absolute()


def test_recall_by_hand() -> None:
    eye = np.eye(3, dtype=np.float32)
    assert recall_at_k(eye, eye, ks=(1,)) == {1: 1.0}
    swapped = eye[[1, 0, 2]]  # queries 0 and 1 find the other's pair first
    assert recall_at_k(swapped, eye, ks=(1, 2)) == {
        1: pytest.approx(1 / 3),
        2: pytest.approx(1 / 3),
    }
    same = np.ones((4, 2), np.float32) / math.sqrt(2)
    assert recall_at_k(same, same, ks=(1,)) == {1: 0.0}  # ties count against the query
    assert chance_recall(50) == 0.02


def test_loss_is_symmetric_infonce() -> None:
    loss = ContrastiveLoss(temperature=0.5)
    u = torch.nn.functional.normalize(
        torch.randn(5, 8, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    v = torch.nn.functional.normalize(
        torch.randn(5, 8, generator=torch.Generator().manual_seed(1)), dim=-1
    )
    logits = 2.0 * u @ v.T
    labels = torch.arange(5)
    expected = (
        torch.nn.functional.cross_entropy(logits, labels)
        + torch.nn.functional.cross_entropy(logits.T, labels)
    ) / 2
    assert loss(u, v).item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss(u, v).item() == pytest.approx(loss(v, u).item(), rel=1e-5)
    assert loss.log_scale.requires_grad


def test_warmup_then_cosine() -> None:
    factors = [lr_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0
    assert factors[10] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
