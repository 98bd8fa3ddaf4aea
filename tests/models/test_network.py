"""The network's layout, building, strict loading, subsets, random weights and fast modes."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from binding.config import Settings
from binding.errors import CheckpointError
from binding.models import (
    ImageBind,
    RandomWeightsWarning,
    build,
    check_state_dict,
    get_spec,
    random_state_dict,
    registry,
    tower_prefixes,
)
from binding.models.quantize import quantize_int8

KEYS_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "imagebind_huge_keys.json"
HUGE = json.loads(KEYS_JSON.read_text())
TINY = get_spec("imagebind_tiny").arch
TOWERS = ("vision", "text", "audio", "depth", "thermal", "imu")


def tiny_inputs(batch: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 49406, (batch, 77), generator=g)
    ids[:, 0] = 49406
    for row in range(batch):
        ids[row, 10 + row] = 49407
        ids[row, 11 + row :] = 0
    return {
        "vision": torch.randn(batch, 3, 224, 224, generator=g),
        "text": ids,
        "audio": torch.randn(batch, 1, 128, 204, generator=g),
        "depth": torch.randn(batch, 1, 224, 224, generator=g),
        "thermal": torch.randn(batch, 1, 224, 224, generator=g),
        "imu": torch.randn(batch, 6, 2000, generator=g),
    }


@pytest.fixture(scope="module")
def tiny() -> ImageBind:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return build("imagebind_tiny", seed=0)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "imagebind_tiny.safetensors"
    save_file(random_state_dict(TINY, 0), str(path))
    return path


def numel(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() for t in state.values())


# --- layout -------------------------------------------------------------------------------


def test_huge_state_dict_equals_the_reference_layout() -> None:
    model = build("imagebind_huge", device="meta")
    shapes = {key: list(shape) for key, shape in model.expected_shapes().items()}
    assert shapes == HUGE["keys"]  # same keys, same shapes
    assert list(shapes) == list(HUGE["keys"])  # and in the same order
    assert len(shapes) == HUGE["num_keys"] == 1311
    assert sum(math.prod(s) for s in shapes.values()) == HUGE["num_elements"] == 1_200_786_990


@pytest.mark.parametrize(
    ("tower", "millions"),
    [
        ("vision", 632.8),
        ("text", 354.0),
        ("audio", 86.2),
        ("thermal", 86.2),
        ("depth", 21.9),
        ("imu", 19.6),
    ],
)
def test_huge_tower_sizes_match_the_published_ones(tower: str, millions: float) -> None:
    model = build("imagebind_huge", modalities=[tower], device="meta")
    elements = sum(s.numel() for s in model.expected_shapes().values())
    assert round(elements / 1e6, 1) == millions
    in_json = sum(
        math.prod(s) for k, s in HUGE["keys"].items() if k.startswith(tower_prefixes(tower))
    )
    assert elements == in_json


def test_huge_text_only_build_on_meta_has_only_the_text_tower() -> None:
    model = build("imagebind_huge", modalities=["text"], device="meta")
    assert model.modalities == ("text",)
    params = sum(p.numel() for p in model.parameters())
    # every text entry but the two buffers: the causal mask and nothing else (scale is learnable)
    text_keys = {k: s for k, s in HUGE["keys"].items() if k.startswith(tower_prefixes("text"))}
    assert params == sum(math.prod(s) for k, s in text_keys.items() if not k.endswith(".mask"))
    assert all(p.device.type == "meta" for p in model.parameters())


# --- building and loading ----------------------------------------------------------------


def test_subset_build_reads_only_its_towers(tiny: ImageBind, tiny_checkpoint: Path) -> None:
    # strict loading would reject any key of another tower, so success proves the subset read
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights from a file: no random-weights warning
        text_only = build("imagebind_tiny", modalities=["text"], checkpoint=tiny_checkpoint)
    full = random_state_dict(TINY, 0)
    text_state = {k: v for k, v in full.items() if k.startswith(tower_prefixes("text"))}
    assert text_only.modalities == ("text",)
    assert set(text_only.state_dict()) == set(text_state)
    assert numel(text_only.state_dict()) == numel(text_state) < numel(full)
    ids = tiny_inputs()["text"]
    with torch.no_grad():
        torch.testing.assert_close(text_only.embed("text", ids), tiny.embed("text", ids))


def test_build_from_pth_equals_seeded_build(tiny: ImageBind, tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(random_state_dict(TINY, 0), path)
    model = build("imagebind_tiny", modalities=["image", "video", "audio"], checkpoint=path)
    assert model.modalities == ("vision", "audio")  # user words map to towers
    x = tiny_inputs()
    with torch.no_grad():
        for tower in model.modalities:
            torch.testing.assert_close(model.embed(tower, x[tower]), tiny.embed(tower, x[tower]))


def test_strict_loading_names_missing_unexpected_and_misshapen_keys(tmp_path: Path) -> None:
    state = random_state_dict(TINY, 0, ["depth"])
    del state["modality_heads.depth.2.weight"]
    state["modality_trunks.depth.blocks.9.attn.bias_k"] = torch.zeros(1, 1, 32)
    state["modality_trunks.depth.blocks.0.mlp.fc1.weight"] = torch.zeros(64, 32)
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError) as info:
        build("imagebind_tiny", modalities=["depth"], checkpoint=path)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing keys: modality_heads.depth.2.weight" in message
    assert "1 unexpected keys: modality_trunks.depth.blocks.9.attn.bias_k" in message
    assert (
        "1 misshapen keys: modality_trunks.depth.blocks.0.mlp.fc1.weight "
        "(expected (128, 32), got (64, 32))" in message
    )


def test_check_state_dict_counts_what_it_does_not_list() -> None:
    expected = {f"k{i}": torch.Size([2]) for i in range(15)}
    with pytest.raises(CheckpointError, match=r"15 missing keys: k0, .*k9 and 5 more"):
        check_state_dict(expected, {})
    check_state_dict(expected, {k: torch.zeros(2) for k in expected})  # fits: no error


def test_checkpoint_without_the_wanted_towers_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "depth_only.safetensors"
    save_file(random_state_dict(TINY, 0, ["depth"]), str(path))
    with pytest.raises(CheckpointError, match="no weights for the towers imu"):
        build("imagebind_tiny", modalities=["imu"], checkpoint=path)


def test_default_weights_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the huge IMU tower alone (80 MB) in the cache where the download would put it; the
    # pinned size and sha256 of the real file would refuse it (tests/models/test_checkpoint.py
    # checks that), so this test lifts the pins to see where the weights are read from
    huge = get_spec("imagebind_huge")
    monkeypatch.setitem(
        registry._MODELS, "imagebind_huge", replace(huge, size_bytes=None, sha256=None)
    )
    state = random_state_dict(huge.arch, 3, ["imu"])
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "imagebind_huge.pth")
    settings = Settings(offline=True, cache_dir=tmp_path)
    model = build("imagebind_huge", modalities=["imu"], settings=settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        seeded = build("imagebind_huge", modalities=["imu"], seed=3)
    x = torch.randn(1, 6, 2000)
    with torch.no_grad():
        torch.testing.assert_close(model.embed("imu", x), seeded.embed("imu", x))


def test_offline_without_cached_weights_says_so(tmp_path: Path) -> None:
    settings = Settings(offline=True, cache_dir=tmp_path)
    with pytest.raises(CheckpointError):
        build("imagebind_huge", modalities=["text"], settings=settings)


def test_random_weights_warn() -> None:
    with pytest.warns(RandomWeightsWarning, match="meaningless"):
        build("imagebind_tiny", modalities=["imu"])  # tiny has no weights: seed 0
    with pytest.warns(RandomWeightsWarning, match="seed 5"):
        build("imagebind_tiny", modalities=["imu"], seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("imagebind_huge", device="meta")  # no weights at all: nothing to warn about


def test_build_argument_errors(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="either a checkpoint or a seed"):
        build("imagebind_tiny", checkpoint=tiny_checkpoint, seed=1)
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        build("imagebind_tiny", modalities=["smell"], seed=1)
    with pytest.raises(ValueError, match="unknown model"):
        build("imagebind_small")


def test_built_model_is_for_inference(tiny: ImageBind) -> None:
    assert not tiny.training
    assert not any(p.requires_grad for p in tiny.parameters())


# --- random weights ----------------------------------------------------------------------


def test_random_state_dict_is_deterministic_and_subset_independent() -> None:
    full = random_state_dict(TINY, 7)
    again = random_state_dict(TINY, 7, reversed(TOWERS))
    other = random_state_dict(TINY, 8)
    imu = random_state_dict(TINY, 7, ["imu"])
    assert list(full) == list(again)
    assert all(torch.equal(full[k], again[k]) for k in full)
    assert all(torch.equal(full[k], imu[k]) for k in imu)
    assert set(imu) == {k for k in full if k.startswith(tower_prefixes("imu"))}
    differing = [k for k in full if not torch.equal(full[k], other[k])]
    constant = {k for k in full if k.endswith(("log_logit_scale", ".mask"))}
    assert set(differing) == set(full) - constant


def test_random_state_dict_values_are_sane() -> None:
    state = random_state_dict(TINY, 0)
    assert state["modality_postprocessors.text.1.log_logit_scale"].item() == pytest.approx(
        math.log(1 / 0.07)
    )
    assert state["modality_postprocessors.audio.1.log_logit_scale"].exp().item() == (
        pytest.approx(20.0)
    )
    mask = state["modality_preprocessors.text.mask"]
    assert torch.equal(mask, torch.full((77, 77), float("-inf")).triu(1))
    ln = state["modality_trunks.vision.blocks.0.norm_1.weight"]
    assert (ln - 1).abs().max() < 0.2
    qkv = state["modality_trunks.vision.blocks.0.attn.in_proj_weight"]
    assert qkv.std().item() == pytest.approx(32**-0.5, rel=0.1)


# --- forward semantics -------------------------------------------------------------------


def test_forward_returns_scaled_embeddings_and_embed_normalises(tiny: ImageBind) -> None:
    x = tiny_inputs()
    scales = {"vision": 1.0, "text": 1 / 0.07, "audio": 20.0, "depth": 5.0, "thermal": 10.0}
    scales["imu"] = 5.0
    with torch.no_grad():
        out = tiny(x)
        for tower, raw in out.items():
            assert raw.shape == (2, 32)
            torch.testing.assert_close(raw.norm(dim=-1), torch.full((2,), scales[tower]))
            unit = tiny.embed(tower, x[tower], normalize=True)
            torch.testing.assert_close(unit, F.normalize(raw, dim=-1))


def test_clips_are_embedded_one_by_one_and_averaged(tiny: ImageBind) -> None:
    g = torch.Generator().manual_seed(2)
    clips = torch.randn(2, 3, 1, 128, 204, generator=g)  # (B, S, 1, 128, 204)
    video = torch.randn(1, 2, 3, 2, 224, 224, generator=g)  # (B, S, 3, T, H, W)
    with torch.no_grad():
        each = tiny.embed("audio", clips.flatten(0, 1)).view(2, 3, -1)
        torch.testing.assert_close(tiny.embed("audio", clips), each.mean(dim=1))
        # a 5-D input is clips to `embed`, so single clips go through the per-item path
        frames = tiny.embed_items("vision", video.flatten(0, 1)).view(1, 2, -1)
        torch.testing.assert_close(tiny.embed("vision", video), frames.mean(dim=1))


def test_an_image_equals_a_clip_of_two_identical_frames(tiny: ImageBind) -> None:
    image = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    clip = image.unsqueeze(2).expand(-1, -1, 2, -1, -1)  # (B, 3, 2, H, W)
    with torch.no_grad():
        torch.testing.assert_close(
            tiny.embed_items("vision", image), tiny.embed_items("vision", clip)
        )


def test_vision_accepts_other_image_sizes(tiny: ImageBind) -> None:
    with torch.no_grad():
        out = tiny.embed("vision", torch.randn(1, 3, 224, 336), normalize=True)
    assert out.shape == (1, 32)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("tower", "shape", "message"),
    [
        (
            "depth",
            (2, 1, 200, 224),
            r"depth: expected input \(B, 1, 224, 224\), got \(2, 1, 200, 224\)",
        ),
        ("audio", (2, 2, 128, 204), r"audio: expected input \(B, 1, \.\.\.\)"),
        ("imu", (2, 2000, 6), r"imu: expected input \(B, 6, 2000\), got \(2, 2000, 6\)"),
        ("vision", (2, 3, 3, 224, 224, 1), r"vision: expected input"),
    ],
)
def test_bad_shapes_are_named(
    tiny: ImageBind, tower: str, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tiny.embed(tower, torch.zeros(shape))


def test_text_needs_77_integer_ids(tiny: ImageBind) -> None:
    with pytest.raises(ValueError, match=r"token ids \(B, 77\), got \(1, 76\)"):
        tiny.embed("text", torch.zeros(1, 76, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token ids"):
        tiny.embed("text", torch.zeros(1, 77))


def test_missing_tower_is_named() -> None:
    model = build("imagebind_huge", modalities=["text"], device="meta")
    with pytest.raises(ValueError, match="no 'audio' tower; it was built with: text"):
        model.embed("audio", torch.zeros(1, 1, 128, 204))


# --- fast CPU modes ----------------------------------------------------------------------


def test_bf16_autocast_and_int8_stay_close_to_fp32() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        model = build("imagebind_tiny", seed=0)
        quantized = quantize_int8(build("imagebind_tiny", seed=0))
    x = tiny_inputs()
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(x)
        int8 = quantized(x)
    for tower in TOWERS:
        assert F.cosine_similarity(bf16[tower].float(), reference[tower]).min() > 0.99, tower
        assert F.cosine_similarity(int8[tower], reference[tower]).min() > 0.99, tower
    attn = quantized.modality_trunks["vision"].blocks[0].attn
    assert type(attn.qkv_int8).__module__.startswith("torch.ao.nn.quantized.dynamic")
