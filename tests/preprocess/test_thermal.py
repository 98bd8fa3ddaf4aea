"""Thermal preprocessing: resize/crop in [0, 1], no normalisation unless asked."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from binding.errors import InputError
from binding.io.thermal import decode_thermal
from binding.preprocess.image import CLIP_MEAN, CLIP_STD
from binding.preprocess.thermal import preprocess_thermal


def test_shape_dtype_and_no_normalisation_by_default() -> None:
    tensor = preprocess_thermal(np.full((120, 160), 0.25, dtype=np.float32))
    assert tensor.shape == (1, 224, 224) and tensor.dtype == torch.float32
    assert torch.allclose(tensor, torch.full_like(tensor, 0.25), atol=1e-6)


def test_values_stay_in_unit_range_despite_bicubic_overshoot() -> None:
    frame = np.zeros((97, 131), dtype=np.float32)
    frame[:, ::2] = 1.0  # sharp stripes make bicubic ring
    tensor = preprocess_thermal(frame)
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0


def test_normalise_option() -> None:
    frame = np.full((224, 224), 0.5, dtype=np.float32)
    tensor = preprocess_thermal(frame, normalize=(CLIP_MEAN[0], CLIP_STD[0]))
    expected = (0.5 - CLIP_MEAN[0]) / CLIP_STD[0]
    assert torch.allclose(tensor, torch.full_like(tensor, expected), atol=1e-6)
    with pytest.raises(ValueError, match="std"):
        preprocess_thermal(frame, normalize=(0.5, 0.0))


def test_orientation_is_preserved() -> None:
    frame = np.tile(np.linspace(0.0, 1.0, 200, dtype=np.float32)[:, None], (1, 300))  # (200, 300)
    tensor = preprocess_thermal(frame)[0]
    rows = tensor.mean(dim=1)
    assert torch.all(rows[1:] >= rows[:-1]) and rows[-1] > rows[0]  # dark top, hot bottom


def test_from_an_8_bit_file() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((60, 80), 51, dtype=np.uint8)).save(buffer, "PNG")
    tensor = preprocess_thermal(decode_thermal(buffer.getvalue(), name="t.png"))
    assert torch.allclose(tensor, torch.full_like(tensor, 0.2), atol=1e-6)


def test_bad_frames_are_refused() -> None:
    with pytest.raises(InputError, match="2-D"):
        preprocess_thermal(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(InputError, match="float"):
        preprocess_thermal(np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        preprocess_thermal(np.full((8, 8), 2.0, np.float32))
    with pytest.raises(InputError, match="NaN"):
        preprocess_thermal(np.full((8, 8), np.nan, np.float32))
