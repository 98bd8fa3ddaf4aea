"""Depth map decoding: 16-bit PNG/TIFF in millimetres, float `.npy`/TIFF in metres, or disparity.

What a file holds is decided by its content and `unit`:

| input | `unit="auto"` reads it as |
|---|---|
| 16-bit gray PNG/TIFF, integer `.npy` (16 bits or more) | millimetres (Kinect, RealSense, NYU, SUN RGB-D after its bit shift) |
| float TIFF, float `.npy` | metres |
| 8-bit gray PNG/TIFF, uint8 `.npy` | refused: 0-255 mm is 25 cm of range, so such a file is almost always a normalised *picture* of depth, whose scale is lost |
| colour images | refused always: a colour-mapped visualisation is not depth |

`unit="mm"` or `"m"` forces the scale; `unit="disparity"` says the values already are
disparity (`baseline * focal / depth`, before ImageBind's /75 scaling; see
`binding.preprocess.depth`), and then 8-bit gray is accepted too.

A pixel of 0 means "no measurement" (sensors write 0 where they see nothing); NaN and
infinities are refused rather than guessed (write 0 for missing pixels). A map whose every
pixel is 0 is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from binding.errors import InputError
from binding.io.files import MediaSource, read_media, source_name
from binding.io.image import (
    MAX_IMAGE_PIXELS,
    open_image,
    upright,
)
from binding.io.npy import is_npy, load_npy

DepthUnit = Literal["auto", "mm", "m", "disparity"]
#: Pillow formats tried for depth images (lossless, 16-bit capable).
DEPTH_FORMATS: tuple[str, ...] = ("PNG", "TIFF")
# Millimetres per metre (16-bit depth PNGs store integer millimetres)
MM_PER_M = 1000.0


@dataclass(frozen=True, eq=False)
class DepthMap:
    """A decoded depth map: `values` (H, W) float32 in metres, or disparity if so marked."""

    values: np.ndarray  # (H, W) float32
    unit: Literal["m", "disparity"]

    @property
    def is_disparity(self) -> bool:
        return self.unit == "disparity"


def decode_depth(
    source: MediaSource, *, name: str | None = None, unit: DepthUnit = "auto"
) -> DepthMap:
    """Decode a depth file (PNG, TIFF or `.npy`) into a `DepthMap` (see the module docstring).

    Raises `InputError` naming the file for a wrong shape (not 2-D; (H, W, 1) and (1, H, W)
    are squeezed), NaN or infinite values, negative depth, a map with no valid pixel, an
    8-bit or colour image read as depth, or anything unreadable.
    """
    if unit not in ("auto", "mm", "m", "disparity"):
        raise ValueError(f"unit must be 'auto', 'mm', 'm' or 'disparity', got {unit!r}")
    label = source_name(source, name)
    content = read_media(source, name=label)
    if is_npy(content):
        raw = load_npy(content, name=label)
        origin = f".npy of dtype {raw.dtype}"
    else:
        image = open_image(content, name=label, formats=DEPTH_FORMATS)
        raw = _image_values(image, label)
        origin = f"{image.format or 'image'} of mode {image.mode}"
    plane = _squeeze_plane(raw, label)
    if plane.dtype.kind == "b":
        raise InputError(label, f"a boolean {origin} is a mask, not a depth map")
    resolved = _resolve_unit(plane, unit, label, origin)
    values = plane.astype(np.float32)
    _check_values(values, label, resolved)
    if resolved == "mm":
        values /= np.float32(MM_PER_M)
    return DepthMap(values=values, unit="disparity" if resolved == "disparity" else "m")


def _image_values(image: Image.Image, label: str) -> np.ndarray:
    if image.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "P", "PA", "LA", "La"):
        raise InputError(
            label,
            f"a {image.mode} image is a picture of depth, not depth values; save depth as a "
            "16-bit gray PNG in millimetres or a float .npy in metres",
        )
    try:
        turned = upright(image)
        return np.asarray(turned)
    except Exception as error:
        raise InputError(label, f"cannot read depth pixels: {error}") from None


def _squeeze_plane(raw: np.ndarray, label: str) -> np.ndarray:
    plane = raw
    if plane.ndim == 3 and 1 in (plane.shape[0], plane.shape[-1]):
        plane = plane[0] if plane.shape[0] == 1 else plane[..., 0]
    if plane.ndim != 2:
        raise InputError(label, f"expected a 2-D depth map (H, W), got shape {tuple(raw.shape)}")
    height, width = plane.shape
    if height == 0 or width == 0:
        raise InputError(label, f"depth map is empty (shape {tuple(raw.shape)})")
    if height * width > MAX_IMAGE_PIXELS:
        raise InputError(label, f"depth map {width}x{height} is over {MAX_IMAGE_PIXELS:,} pixels")
    return plane


def _resolve_unit(
    plane: np.ndarray, unit: DepthUnit, label: str, origin: str
) -> Literal["mm", "m", "disparity"]:
    eight_bit = plane.dtype.kind in "iu" and plane.dtype.itemsize == 1
    if eight_bit and unit != "disparity":
        raise InputError(
            label,
            f"an 8-bit {origin} cannot hold depth (0-255 mm is 25 cm); it is most likely a "
            "normalised picture of depth. Save 16-bit PNG in mm or float .npy in metres, or "
            "pass unit='disparity' if the values are disparity",
        )
    if unit != "auto":
        return unit
    return "m" if plane.dtype.kind == "f" else "mm"


def _check_values(values: np.ndarray, label: str, unit: str) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        nan = int(np.isnan(values).sum())
        infinite = int(values.size - finite.sum()) - nan
        raise InputError(
            label,
            f"depth map has {nan:,} NaN and {infinite:,} infinite values; "
            "write 0 where there is no measurement",
        )
    if unit != "disparity" and float(values.min()) < 0:
        raise InputError(label, f"negative depth values (min {float(values.min()):g} {unit})")
    if not values.any():
        raise InputError(label, "every pixel is 0: the map holds no depth measurement")
