"""Image preprocessing equals the reference torchvision pipeline on the same files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from binding.errors import InputError
from binding.io.image import decode_image
from binding.preprocess.image import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGE_SIZE,
    crop_offsets,
    preprocess_image,
    resize_center_crop,
    resized_size,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preprocess"
MANIFEST = json.loads((FIXTURES / "images.json").read_text())
REFERENCE = np.load(FIXTURES / "image_reference.npz")
# Files whose reference decoding (`convert("RGB")`) is the same as ours; the alpha file
# differs on purpose (we flatten onto white) and has its own test.
PLAIN_FILES = sorted(name for name in MANIFEST["images"] if not name.startswith("alpha"))
TOLERANCE = 1e-6


def ours(file_name: str) -> np.ndarray:
    return preprocess_image(decode_image(FIXTURES / "images" / file_name)).numpy()


def test_fixtures_are_the_files_the_reference_saw() -> None:
    assert MANIFEST["format_version"] == 1
    for file_name, entry in MANIFEST["images"].items():
        content = (FIXTURES / "images" / file_name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], file_name
    assert sorted(REFERENCE.files) == sorted(MANIFEST["images"])


@pytest.mark.parametrize("file_name", PLAIN_FILES)
def test_equals_torchvision_reference(file_name: str) -> None:
    tensor = ours(file_name)
    reference = REFERENCE[file_name]
    assert tensor.shape == reference.shape == (3, IMAGE_SIZE, IMAGE_SIZE)
    assert tensor.dtype == np.float32
    difference = float(np.abs(tensor - reference).max())
    assert difference <= TOLERANCE, f"{file_name}: max abs diff {difference}"


def test_alpha_differs_from_reference_only_where_transparent() -> None:
    """The reference's convert("RGB") shows the black hidden under alpha 0; we show white.

    alpha_120x90.png: columns 0-39 transparent, 40-59 half transparent, 60+ opaque. Resized to
    298x224 and cropped from x=37, source column c lands near crop column 2.48 * c - 37.
    """
    tensor = ours("alpha_120x90.png")
    reference = REFERENCE["alpha_120x90.png"]
    white = (1.0 - np.asarray(CLIP_MEAN)) / np.asarray(CLIP_STD)
    black = -np.asarray(CLIP_MEAN) / np.asarray(CLIP_STD)
    transparent = np.s_[:, :, :50]  # source columns < 35
    opaque = np.s_[:, :, 125:]  # source columns > 65
    assert np.allclose(tensor[transparent], white[:, None, None], atol=1e-5)
    assert np.allclose(reference[transparent], black[:, None, None], atol=1e-5)
    assert float(np.abs(tensor[opaque] - reference[opaque]).max()) <= TOLERANCE


def test_size_rule_is_torchvisions() -> None:
    assert resized_size(300, 200) == (336, 224)
    assert resized_size(200, 300) == (224, 336)
    assert resized_size(97, 131) == (224, 302)  # int(302.515...) truncates
    assert resized_size(131, 97) == (302, 224)
    assert resized_size(224, 224) == (224, 224)
    assert resized_size(1, 3) == (224, 672)


def test_crop_offsets_round_half_to_even_like_torchvision() -> None:
    assert crop_offsets(225, 224) == (0, 0)  # round(0.5) = 0
    assert crop_offsets(227, 224) == (2, 0)  # round(1.5) = 2
    assert crop_offsets(224, 229) == (0, 2)  # round(2.5) = 2
    assert crop_offsets(336, 224) == (56, 0)


def test_output_is_normalised_float32() -> None:
    image = Image.new("RGB", (50, 80), (255, 255, 255))
    tensor = preprocess_image(image)
    assert tensor.shape == (3, 224, 224) and tensor.dtype == torch.float32
    expected = (1.0 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    assert torch.allclose(tensor[:, 100, 100], expected)


def test_orientation_is_kept() -> None:
    pixels = np.zeros((300, 400, 3), dtype=np.uint8)
    pixels[:150] = (255, 0, 0)  # top red, bottom blue
    pixels[150:] = (0, 0, 255)
    tensor = preprocess_image(Image.fromarray(pixels, "RGB"))
    assert tensor[0, 10].mean() > tensor[0, 200].mean()  # red channel high at the top
    assert tensor[2, 200].mean() > tensor[2, 10].mean()


def test_non_rgb_images_follow_the_decoders_rules() -> None:
    rgba = Image.new("RGBA", (224, 224), (255, 0, 0, 0))  # fully transparent red
    gray = Image.new("L", (224, 224), 255)
    assert torch.equal(preprocess_image(rgba), preprocess_image(gray.convert("RGB")))


def test_extreme_aspect_ratio_is_refused() -> None:
    with pytest.raises(InputError, match="aspect ratio"):
        preprocess_image(Image.new("RGB", (10_000, 20)))


def test_resize_center_crop_for_float_maps() -> None:
    plane = np.tile(np.linspace(0.0, 1.0, 400, dtype=np.float32), (300, 1))  # (300, 400)
    cropped = resize_center_crop(plane, mode="bilinear")
    assert cropped.shape == (224, 224) and cropped.dtype == torch.float32
    assert torch.all(cropped[:, 1:] >= cropped[:, :-1])  # left-to-right ramp stays one
    with pytest.raises(InputError, match="2-D"):
        resize_center_crop(np.zeros((3, 4, 5), np.float32), mode="bilinear")
