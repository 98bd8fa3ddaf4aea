"""Training built-in towers from scratch, stage by stage, and assembling them (docs/train.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from binding import models
from binding.config import Settings
from binding.errors import ConfigurationError
from binding.train.anchors import weights_hash
from binding.train.assemble import AssembleError, assemble
from binding.train.commands import TrainRequest, run_training
from binding.train.loop import LoopConfig
from binding.train.saved import read_spec
from binding.world import write_world

LOOP = LoopConfig(epochs=1, batch_size=8, precision="fp32", checkpoint_every=1000)


@pytest.fixture
def world(tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("BINDING_SEED")  # from scratch: no base weights at all
    write_world(tmp_path / "world", n=16, seed=5, split="train", modalities=("text", "audio"))
    write_world(tmp_path / "world", n=8, seed=6, split="val", modalities=("text", "audio"))
    return tmp_path / "world"


def _request(**kw: object) -> TrainRequest:
    return TrainRequest(model="imagebind_tiny", device="cpu", from_scratch=True, loop=LOOP, **kw)  # type: ignore[arg-type]


def test_two_stages_from_scratch_assemble_into_one_network(world: Path, tmp_path: Path) -> None:
    stage1 = tmp_path / "stage1"
    run_training(
        _request(
            kind="pair", manifest=str(world / "pairs_text.csv"), modality="text", out=str(stage1)
        ),
        quiet=True,
    )
    assert read_spec(stage1)["tower"]["from_scratch"] is True
    first = tmp_path / "stage1.safetensors"
    result = assemble([str(stage1)], str(first), model="imagebind_tiny", fp16=False)
    assert result["towers"] == ["vision", "text"]

    audio = tmp_path / "audio"
    summary = run_training(
        _request(
            kind="bind",
            manifest=str(world / "pairs_audio.csv"),
            modality="audio",
            out=str(audio),
            checkpoint=str(first),
        ),
        quiet=True,
    )
    spec = read_spec(audio)
    assert spec["tower"] == {
        "type": "base",
        "model": "imagebind_tiny",
        "network_input": "audio",
        "from_scratch": True,
    }
    # the frozen anchor was the stage-1 image tower, read from --checkpoint
    vision = models.build("imagebind_tiny", modalities=["vision"], checkpoint=first)
    assert spec["anchor"]["hash"] == weights_hash(vision)
    assert "zero_shot_accuracy" in summary  # stage 1's text tower scores the emergent zero-shot

    final = tmp_path / "net.safetensors"
    result = assemble([str(stage1), str(audio)], str(final), model="imagebind_tiny")
    assert result["towers"] == ["vision", "text", "audio"]
    state = load_file(str(final))
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    network = models.build(
        "imagebind_tiny", modalities=["vision", "text", "audio"], checkpoint=final
    )
    key = "modality_trunks.vision.blocks.0.attn.in_proj_weight"
    torch.testing.assert_close(
        network.state_dict()[key], vision.state_dict()[key], atol=1e-2, rtol=1e-2
    )

    with pytest.raises(AssembleError, match="already taken"):
        assemble([str(stage1), str(stage1)], str(final), model="imagebind_tiny")
    with pytest.raises(AssembleError, match="towers absent: depth, thermal, imu"):
        assemble([str(stage1), str(audio)], str(final), model="imagebind_tiny", complete=True)


def test_from_scratch_needs_a_built_in_tower(world: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="built-in tower"):
        run_training(
            _request(
                kind="bind",
                manifest=str(world / "pairs_audio.csv"),
                modality="tactile",
                out=str(tmp_path / "x"),
            ),
            quiet=True,
        )
