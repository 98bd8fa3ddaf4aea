"""Image preprocessing: the CLIP transform ImageBind's vision tower was trained with.

The reference (`imagebind/data.py`) runs torchvision's
`Resize(224, BICUBIC) -> CenterCrop(224) -> ToTensor() -> Normalize(CLIP)` on a PIL image.
`preprocess_image` reproduces it exactly without torchvision: Pillow's bicubic resize (which
torchvision calls for PIL inputs, always antialiased), torchvision's size rule
(`long = int(224 * long / short)`) and crop offsets (`int(round((size - 224) / 2))`, Python's
round-half-to-even), then the same float32 arithmetic. Tested equal to torchvision's output.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from binding.errors import InputError
from binding.io.image import to_rgb
from binding.models.registry import PREPROCESS

# CLIP's RGB normalisation (OpenAI CLIP `_transform`; ImageBind `load_and_transform_vision_data`)
CLIP_MEAN: tuple[float, float, float] = PREPROCESS.clip_mean
CLIP_STD: tuple[float, float, float] = PREPROCESS.clip_std
# Side of the square the towers see (ImageBind `Resize(224)` + `CenterCrop(224)`)
IMAGE_SIZE = PREPROCESS.image_size
# Longest/shortest side we accept; past it the resized strip would be huge (1x100000 -> 224 x
# 22.4 M pixels) and the centre crop would show a sliver of it anyway.
MAX_ASPECT_RATIO = 100.0

_MEAN = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)


def resized_size(width: int, height: int, size: int = IMAGE_SIZE) -> tuple[int, int]:
    """(width, height) after scaling the short side to `size`, by torchvision's rule."""
    if width <= 0 or height <= 0:
        raise InputError("<image>", f"image has no pixels ({width}x{height})")
    short, long = (width, height) if width <= height else (height, width)
    if long / short > MAX_ASPECT_RATIO:
        raise InputError(
            "<image>",
            f"aspect ratio {width}x{height} is over {MAX_ASPECT_RATIO:g}:1; crop it first",
        )
    new_long = int(size * long / short)
    return (size, new_long) if width <= height else (new_long, size)


def crop_offsets(width: int, height: int, size: int = IMAGE_SIZE) -> tuple[int, int]:
    """(left, top) of the centred `size` square, rounded as torchvision's `CenterCrop` does."""
    return int(round((width - size) / 2.0)), int(round((height - size) / 2.0))


def preprocess_image(image: Image.Image) -> torch.Tensor:
    """A Pillow image -> the vision tower's input, (3, 224, 224) float32.

    Short side to 224 (bicubic), centre crop 224, /255, CLIP mean/std. Pure: no file access;
    decode files with `binding.io.image.decode_image`. A non-RGB image is converted by the
    decoder's rules (`binding.io.image.to_rgb`: alpha onto white, 16-bit gray scaled).
    """
    if image.mode != "RGB":
        image = to_rgb(image)
    width, height = image.size
    new_width, new_height = resized_size(width, height)
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
    left, top = crop_offsets(new_width, new_height)
    pixels = np.array(image, dtype=np.uint8)[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)  # (3, 224, 224)
    tensor = tensor.to(torch.float32).div(255)
    return tensor.sub(_MEAN).div(_STD).contiguous()


def resize_center_crop(
    plane: np.ndarray | torch.Tensor, *, mode: Literal["bilinear", "bicubic"]
) -> torch.Tensor:
    """A float 2-D map (depth, thermal) -> (224, 224) float32: short side to 224, centre crop.

    Same size and crop rules as `preprocess_image`, computed in float32 on the map itself
    (antialiased when shrinking, like Pillow), so no precision is lost to 8-bit rounding.
    """
    values = torch.as_tensor(plane, dtype=torch.float32)
    if values.ndim != 2:
        raise InputError("<map>", f"expected a 2-D map (H, W), got shape {tuple(values.shape)}")
    height, width = values.shape
    new_width, new_height = resized_size(width, height)
    batch = values[None, None]  # (1, 1, H, W)
    if (new_width, new_height) != (width, height):
        batch = F.interpolate(
            batch, size=(new_height, new_width), mode=mode, align_corners=False, antialias=True
        )
    left, top = crop_offsets(new_width, new_height)
    return batch[0, 0, top : top + IMAGE_SIZE, left : left + IMAGE_SIZE].contiguous()
