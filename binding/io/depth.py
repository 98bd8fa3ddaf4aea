"""Depth map decoding: 16-bit PNG/TIFF in millimetres, float `.npy`/TIFF in metres, or disparity.

What a file holds is decided by its content and `unit`:

| input | `unit="auto"` reads it as |
|---|---|
| 16-bit gray PNG/TIFF, integer `.npy` (16 bits or more) | millimetres (Kinect, RealSense, NYU, SUN RGB-D after its bit shift) |
| float TIFF, float `.npy` | metres |
| 8-bit gray PNG/TIFF/JPEG, uint8 `.npy`, and RGB whose three channels are equal (gray saved as colour, JPEG noise allowed) | **relative disparity** (see below) |
| colour images | refused always: a colour-mapped visualisation is not depth |

8-bit maps hold no unit (0-255 mm would be 25 cm of range): they are what monocular depth
estimators (MiDaS, Depth Anything) and several datasets write, a normalised *inverse* depth
where bright is near. They are read as relative disparity: the value v becomes the
disparity `v / 255 * RELATIVE_DISPARITY_MAX`, a linear stretch over the range the depth
tower saw in training (0 up to Omnivore's mean + 3 standard deviations, ~9.8 before the
/75 scaling; `binding.preprocess.depth`). 0 is the far end. Absolute distances are lost, so
such maps match each other and images by layout, not by metric depth.

`unit="mm"` or `"m"` forces the scale (and refuses 8-bit maps); `unit="disparity"` says
the values already are disparity (`baseline * focal / depth`, before ImageBind's /75
scaling), taken as they are, 8-bit ones too.

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
#: Pillow formats tried for depth images (PNG and TIFF for 16-bit; JPEG for 8-bit maps).
DEPTH_FORMATS: tuple[str, ...] = ("PNG", "TIFF", "JPEG")
#: Disparity an 8-bit value of 255 stands for: Omnivore's depth statistics (mean 0.0418,
#: std 0.0295 of disparity / 75) give mean + 3 std = 0.1303, times 75.
RELATIVE_DISPARITY_MAX = (0.0418 + 3 * 0.0295) * 75.0
#: Largest mean difference between the channels of an RGB image still read as gray (JPEG
#: noise and chroma subsampling move equal channels apart by a few levels).
GRAY_TOLERANCE = 3.0
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
    are squeezed), NaN or infinite values, negative depth, a map with no valid pixel, a
    colour image, or anything unreadable.
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
    elif resolved == "relative":
        values *= np.float32(RELATIVE_DISPARITY_MAX / 255.0)
    return DepthMap(values=values, unit="m" if resolved in ("m", "mm") else "disparity")


def _image_values(image: Image.Image, label: str) -> np.ndarray:
    colour = image.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "P", "PA", "LA", "La")
    try:
        turned = upright(image)
        if not colour:
            return np.asarray(turned)
        rgb = np.asarray(turned.convert("RGB"), dtype=np.int16)
    except Exception as error:
        raise InputError(label, f"cannot read depth pixels: {error}") from None
    spread = float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())
    if spread > GRAY_TOLERANCE:
        raise InputError(
            label,
            f"a {image.mode} image in colour is a picture of depth, not depth values; save "
            "depth as a 16-bit gray PNG in millimetres, a float .npy in metres, or 8-bit gray",
        )
    return np.rint(rgb.mean(axis=2)).astype(np.uint8)  # gray saved as colour: one plane


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
) -> Literal["mm", "m", "disparity", "relative"]:
    eight_bit = plane.dtype.kind in "iu" and plane.dtype.itemsize == 1
    if eight_bit and unit == "auto":
        return "relative"
    if eight_bit and unit != "disparity":
        raise InputError(
            label,
            f"an 8-bit {origin} cannot hold depth in {unit} (0-255 mm is 25 cm); leave the "
            "unit to 'auto' to read it as relative disparity, or pass unit='disparity'",
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
    if unit not in ("disparity", "relative") and float(values.min()) < 0:
        raise InputError(label, f"negative depth values (min {float(values.min()):g} {unit})")
    if not values.any():
        raise InputError(label, "every pixel is 0: the map holds no depth measurement")
