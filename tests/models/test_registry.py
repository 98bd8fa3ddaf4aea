"""The model registry: names, specs, architecture numbers."""

from __future__ import annotations

import dataclasses

import pytest

from binding.models import (
    DEFAULT_MODEL,
    ModelSpec,
    PatchStem,
    RandomWeightsWarning,
    TowerConfig,
    get_spec,
    list_models,
)


def test_list_models_names_every_model() -> None:
    names = [spec.name for spec in list_models()]
    assert names == ["imagebind_huge", "imagebind_tiny", "binding_mini"]
    assert DEFAULT_MODEL == "imagebind_huge"
    assert all(isinstance(spec, ModelSpec) for spec in list_models())


def test_get_spec_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="imagebind_huge, imagebind_tiny"):
        get_spec("imagebind_giant")
    assert get_spec(" ImageBind_Huge ").name == "imagebind_huge"


def test_huge_spec_points_at_the_official_weights() -> None:
    spec = get_spec("imagebind_huge")
    assert spec.url == "https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth"
    assert spec.filename == "imagebind_huge.pth"
    assert spec.embed_dim == 1024
    assert spec.license == "CC BY-NC-SA 4.0"
    assert spec.size_bytes == 4_803_584_173
    assert spec.sha256 == "d6f6c22bedcc90708448d5d2fbb7b2db9c73f505dc89bd0b2e09b23af1b62157"
    assert not spec.random_weights_only


def test_tiny_spec_is_random_only_and_32_wide() -> None:
    spec = get_spec("imagebind_tiny")
    assert spec.random_weights_only and spec.url is None
    assert spec.embed_dim == 32
    assert {(t.width, t.blocks, t.heads) for t in spec.arch.towers} == {(32, 2, 2)}
    assert issubclass(RandomWeightsWarning, UserWarning)


def test_specs_are_frozen() -> None:
    spec = get_spec("imagebind_huge")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.arch.towers[0].width = 1  # type: ignore[misc]


# (width, blocks, heads, tokens, bias_kv, pre-LN, scale) of the reference `imagebind_huge()` in
# the ImageBind repository, imagebind/models/imagebind_model.py (arXiv 2305.05665)
HUGE_TABLE = {
    "vision": (1280, 32, 16, 257, False, True, None),
    "text": (1024, 24, 16, 77, False, False, pytest.approx(1 / 0.07)),
    "audio": (768, 12, 12, 229, True, False, 20.0),
    "depth": (384, 12, 8, 197, True, False, 5.0),
    "thermal": (768, 12, 12, 197, True, False, 10.0),
    "imu": (512, 6, 8, 251, True, False, 5.0),
}


@pytest.mark.parametrize("name", list(HUGE_TABLE))
def test_huge_towers_match_the_published_table(name: str) -> None:
    t = get_spec("imagebind_huge").arch.tower(name)
    assert (t.width, t.blocks, t.heads, t.num_tokens, t.bias_kv, t.pre_ln, t.logit_scale) == (
        HUGE_TABLE[name]
    )


def test_tower_order_is_the_checkpoint_order() -> None:
    arch = get_spec("imagebind_huge").arch
    assert arch.modalities == ("vision", "text", "audio", "depth", "thermal", "imu")
    with pytest.raises(ValueError, match="no tower 'smell'"):
        arch.tower("smell")


def test_tower_rejects_width_not_divisible_by_heads() -> None:
    stem = PatchStem(in_channels=1, kernel=(16, 16), stride=(16, 16), norm=True)
    with pytest.raises(ValueError, match="width 30 is not divisible by 4 heads"):
        TowerConfig(
            name="depth",
            width=30,
            blocks=1,
            heads=4,
            input_shape=(1, 224, 224),
            stem=stem,
            bias_kv=True,
            pre_ln=False,
            drop_path=0.0,
            logit_scale=5.0,
        )
