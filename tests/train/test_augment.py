"""Per-step augmentations of training batches (binding/train/augment.py) and `--augment`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from binding.config import Settings
from binding.train import augment
from binding.train.commands import TrainRequest, run_training
from binding.train.loop import LoopConfig
from binding.world import write_world


def _dots(n: int, side: int = 32) -> torch.Tensor:
    """n pictures (3 channels) with one bright pixel at row 10, column 6."""
    x = torch.zeros(n, 3, side, side)
    x[:, :, 10, 6] = 1.0
    return x


def test_pictures_are_shifted_by_at_most_an_eighth_and_flipped_about_half_the_time() -> None:
    n, side = 400, 32
    out = augment.shift_and_flip(_dots(n), torch.Generator().manual_seed(0), n, slice(0, n))
    assert out.shape == (n, 3, side, side)
    most = int(side * augment.MAX_SHIFT)
    flipped, rows = 0, set()
    for picture in out:
        lit = picture[0].nonzero()
        assert len(lit) <= 1  # a shift can push the dot out of the frame, never duplicate it
        if not len(lit):
            continue
        row, col = (int(v) for v in lit[0])
        rows.add(row)
        assert abs(row - 10) <= most
        # unflipped: the dot stays near column 6; flipped: near column 25 (the mirror)
        if abs(col - (side - 1 - 6)) <= most:
            flipped += 1
        else:
            assert abs(col - 6) <= most
    assert 0.35 < flipped / n < 0.65
    assert len(rows) >= 2 * most  # the shifts vary (a dot 10 from the edge survives most of them)


def test_recordings_are_rolled_in_time_and_keep_their_values() -> None:
    n = 50
    x = torch.randn(n, 6, 200)
    out = augment.time_shift(x, torch.Generator().manual_seed(1), n, slice(0, n))
    moved = 0
    for before, after in zip(x, out, strict=True):
        shift = next(s for s in range(200) if torch.equal(before.roll(s, dims=-1), after))
        moved += shift != 0
    assert moved >= n - 2


@pytest.mark.parametrize("name", ["shift_and_flip", "time_shift"])
def test_a_batch_split_over_two_processes_is_augmented_as_one(name: str) -> None:
    """Each process augments its slice of the global batch exactly as one process would."""
    apply = getattr(augment, name)
    x = torch.randn(8, 1, 16, 16)
    whole = apply(x, torch.Generator().manual_seed(7), 8, slice(0, 8))
    halves = [
        apply(x[p], torch.Generator().manual_seed(7), 8, p) for p in (slice(0, 4), slice(4, 8))
    ]
    assert torch.equal(whole, torch.cat(halves))
    again = apply(x, torch.Generator().manual_seed(7), 8, slice(0, 8))
    assert torch.equal(whole, again)


def test_which_modalities_get_which_augmentation() -> None:
    assert augment.for_modality("image") is augment.shift_and_flip
    assert augment.for_modality("depth") is augment.shift_and_flip
    assert augment.for_modality("imu") is augment.time_shift
    assert augment.for_modality("audio") is augment.time_shift
    assert augment.for_modality("text") is None


def test_augment_changes_what_a_pair_run_learns_and_is_recorded(
    tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BINDING_SEED")
    write_world(tmp_path / "world", n=16, seed=5, split="train", modalities=("text",))
    write_world(tmp_path / "world", n=8, seed=6, split="val", modalities=("text",))
    loop = LoopConfig(epochs=1, batch_size=8, precision="fp32", checkpoint_every=1000)
    anchors = {}
    for flag in (False, True):
        out = tmp_path / f"augment_{flag}"
        run_training(
            TrainRequest(
                kind="pair",
                manifest=str(tmp_path / "world" / "pairs_text.csv"),
                modality="text",
                out=str(out),
                model="imagebind_tiny",
                device="cpu",
                from_scratch=True,
                augment=flag,
                loop=loop,
            ),
            quiet=True,
        )
        anchors[flag] = load_file(str(out / "anchor.safetensors"))
        assert f'"augment": {str(flag).lower()}' in (out / "report.json").read_text()
    # same seed, same data: only the augmented image batches differ
    assert any(not torch.equal(anchors[False][k], anchors[True][k]) for k in anchors[False])
