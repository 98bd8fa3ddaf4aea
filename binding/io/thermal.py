"""Thermal frame decoding: one channel of sensor intensity, scaled to [0, 1].

ImageBind's thermal tower saw LLVIP's infrared frames: 8-bit single-channel intensity as
the camera exports it (stored as JPEG with three equal channels). So the defaults keep the
sensor's own scale ("full_range"):

| input | "full_range" (default) | "min_max" |
|---|---|---|
| 8-bit gray (PNG, JPEG, BMP, TIFF, WebP; uint8 `.npy`) | / 255 | per-frame min-max |
| 16-bit gray (PNG, TIFF; uint16 `.npy`) | / 65535 | per-frame min-max |
| float in [0, 1] (TIFF, `.npy`) | as is | per-frame min-max |
| float outside [0, 1] (e.g. degrees), other integer types | per-frame min-max | per-frame min-max |
| colour image | luminance (ITU-R 601), then as 8-bit gray | |

Radiometric 16-bit frames often use a narrow band of the 16-bit range; /65535 then gives a
dark, low-contrast frame. That is still the honest scale, so it is the default; pass
`scaling="min_max"` to stretch each frame to [0, 1] (which discards absolute temperature).
A constant frame under min-max becomes all zeros.

Colour images are reduced to luminance: exact for gray frames saved as RGB (LLVIP), but a
false-colour palette (ironbow, rainbow) does not map back to temperature through luminance.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

from binding.errors import InputError
from binding.io.files import MediaSource, read_media, source_name
from binding.io.image import (
    IMAGE_FORMATS,
    MAX_IMAGE_PIXELS,
    open_image,
    upright,
)
from binding.io.npy import is_npy, load_npy

ThermalScaling = Literal["full_range", "min_max"]
# Luma weights of ITU-R BT.601 (what Pillow's convert("L") uses)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def decode_thermal(
    source: MediaSource, *, name: str | None = None, scaling: ThermalScaling = "full_range"
) -> np.ndarray:
    """Decode a thermal frame (image or `.npy`) to (H, W) float32 in [0, 1].

    See the module docstring for how each input is scaled. Raises `InputError` naming the
    file for a wrong shape (not 2-D; (H, W, 1), (1, H, W) are squeezed and (H, W, 3) is taken
    as colour), NaN or infinite values, an empty array, or anything unreadable.
    """
    if scaling not in ("full_range", "min_max"):
        raise ValueError(f"scaling must be 'full_range' or 'min_max', got {scaling!r}")
    label = source_name(source, name)
    content = read_media(source, name=label)
    if is_npy(content):
        raw = _npy_plane(load_npy(content, name=label), label)
    else:
        raw = _image_plane(open_image(content, name=label, formats=IMAGE_FORMATS), label)
    height, width = raw.shape
    if height == 0 or width == 0:
        raise InputError(label, f"thermal frame is empty (shape {raw.shape})")
    if height * width > MAX_IMAGE_PIXELS:
        raise InputError(label, f"thermal frame {width}x{height} is over {MAX_IMAGE_PIXELS:,}")
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise InputError(label, "thermal frame has NaN or infinite values")
    return _scale(raw, scaling)


def _npy_plane(array: np.ndarray, label: str) -> np.ndarray:
    if array.dtype.kind == "b":
        raise InputError(label, "a boolean array is a mask, not a thermal frame")
    plane = array
    if plane.ndim == 3 and 1 in (plane.shape[0], plane.shape[-1]):
        plane = plane[0] if plane.shape[0] == 1 else plane[..., 0]
    elif plane.ndim == 3 and plane.shape[-1] == 3:
        plane = _luminance(plane)
    if plane.ndim != 2:
        raise InputError(
            label, f"expected a 2-D thermal frame (H, W), got shape {tuple(array.shape)}"
        )
    return plane


def _image_plane(image: Image.Image, label: str) -> np.ndarray:
    try:
        turned = upright(image)
        if turned.mode in ("L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            return np.asarray(turned)
        return np.asarray(turned.convert("L"))  # colour, palette, 1-bit, alpha dropped
    except Exception as error:
        raise InputError(label, f"cannot read thermal pixels: {error}") from None


def _luminance(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    gray = rgb.astype(np.float64) @ weights
    if rgb.dtype.kind in "iu":
        return np.rint(gray).astype(rgb.dtype)
    return gray.astype(np.float32)


def _scale(raw: np.ndarray, scaling: ThermalScaling) -> np.ndarray:
    values = raw.astype(np.float32)
    if scaling == "full_range":
        if raw.dtype.kind == "u" and raw.dtype.itemsize == 1:
            return values / np.float32(255)
        if raw.dtype.kind == "u" and raw.dtype.itemsize == 2:  # either byte order
            return values / np.float32(65535)
        if raw.dtype.kind == "f" and values.min() >= 0 and values.max() <= 1:
            return values
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros_like(values)
    # float64 for the span: a float32 frame may hold values near its limits
    return ((values.astype(np.float64) - low) / (high - low)).astype(np.float32)
