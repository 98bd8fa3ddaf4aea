"""Depth preprocessing: the documented disparity math, clamps, normalisation and layout."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from binding.errors import InputError
from binding.io.depth import DepthMap, decode_depth
from binding.preprocess.depth import (
    DEPTH_MEAN,
    DEPTH_STD,
    KINECT_BASELINE_M,
    MAX_DEPTH_M,
    MAX_DISPARITY,
    NYU_FOCAL_PX,
    depth_to_disparity,
    preprocess_depth,
)

BASELINE_FOCAL = 0.075 * 518.857901  # 38.914... pixel-metres


def expected_output(disparity: float) -> float:
    """What one pixel of constant disparity becomes: clamp, /75, normalise."""
    scaled = min(max(disparity, 0.01), 75.0) / 75.0
    return (scaled - 0.0418) / 0.0295


def test_constants_are_the_documented_ones() -> None:
    assert KINECT_BASELINE_M == 0.075 and NYU_FOCAL_PX == 518.857901
    assert (DEPTH_MEAN, DEPTH_STD, MAX_DEPTH_M, MAX_DISPARITY) == (0.0418, 0.0295, 75.0, 75.0)


def test_disparity_formula_on_known_values() -> None:
    depth = np.array([[1.0, 2.0], [0.5, 10.0]], dtype=np.float32)
    disparity = depth_to_disparity(depth)
    assert disparity.dtype == np.float32
    assert np.allclose(disparity, BASELINE_FOCAL / depth, rtol=1e-6)
    assert np.isclose(disparity[0, 0], 38.914342575, rtol=1e-6)
    custom = depth_to_disparity(depth, baseline=0.1, focal=600.0)
    assert np.allclose(custom, 60.0 / depth, rtol=1e-6)


def test_depth_clamps_and_missing_pixels() -> None:
    depth = np.array([[0.001, 1000.0, 0.0, -1.0]], dtype=np.float32)
    disparity = depth_to_disparity(depth)
    assert np.isclose(disparity[0, 0], BASELINE_FOCAL / 0.01, rtol=1e-6)  # near clamp
    assert np.isclose(disparity[0, 1], BASELINE_FOCAL / 75.0, rtol=1e-6)  # far clamp
    assert np.allclose(disparity[0, 2:], BASELINE_FOCAL / 75.0, rtol=1e-6)  # no data = far


@pytest.mark.parametrize("metres", [0.3, 1.0, 2.0, 5.0, 80.0])
def test_constant_depth_maps_to_the_documented_value(metres: float) -> None:
    tensor = preprocess_depth(np.full((200, 300), metres, dtype=np.float32))
    assert tensor.shape == (1, 224, 224) and tensor.dtype == torch.float32
    expected = expected_output(BASELINE_FOCAL / min(metres, 75.0))
    assert torch.allclose(tensor, torch.full_like(tensor, expected), atol=1e-4)


def test_ready_disparity_skips_the_conversion() -> None:
    disparity = np.full((224, 224), 30.0, dtype=np.float32)
    tensor = preprocess_depth(DepthMap(values=disparity, unit="disparity"))
    assert torch.allclose(tensor, torch.full_like(tensor, expected_output(30.0)), atol=1e-5)
    forced = preprocess_depth(disparity, is_disparity=True)
    assert torch.equal(tensor, forced)
    as_metres = preprocess_depth(DepthMap(values=disparity, unit="disparity"), is_disparity=False)
    assert torch.allclose(
        as_metres, torch.full_like(as_metres, expected_output(BASELINE_FOCAL / 30))
    )


def test_orientation_is_preserved() -> None:
    """Near on the left, far on the right: disparity (and the output) falls left to right."""
    depth = np.tile(np.linspace(0.6, 8.0, 320, dtype=np.float32), (240, 1))  # (240, 320)
    depth[120:] *= 1.5  # the bottom half farther
    tensor = preprocess_depth(depth)[0]
    columns = tensor.mean(dim=0)
    assert torch.all(columns[1:] < columns[:-1])
    assert tensor[:100].mean() > tensor[124:].mean()  # farther bottom -> lower disparity


def test_16_bit_png_to_tensor() -> None:
    millimetres = np.full((60, 80), 2000, dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(millimetres).save(buffer, "PNG")
    tensor = preprocess_depth(decode_depth(buffer.getvalue(), name="d.png"))
    assert torch.allclose(tensor, torch.full_like(tensor, expected_output(BASELINE_FOCAL / 2)))


def test_resize_works_on_floats_without_8_bit_steps() -> None:
    depth = np.full((100, 100), 2.0, dtype=np.float32)
    depth[:, 50:] = 2.001  # 1 mm step: lost by any 8-bit round trip of disparity / 75
    tensor = preprocess_depth(depth)[0]
    assert tensor[:, :50].mean() > tensor[:, -50:].mean()


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(InputError, match="2-D"):
        preprocess_depth(np.ones((4, 4, 3), np.float32))
    with pytest.raises(InputError, match="2-D"):
        preprocess_depth(np.ones((0, 4), np.float32))
    with pytest.raises(InputError, match="finite"):
        preprocess_depth(np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="positive"):
        preprocess_depth(np.ones((4, 4), np.float32), focal=0.0)
