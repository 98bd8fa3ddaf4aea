"""Safe image decoding: the one Pillow opener for images, depth maps and thermal frames.

Every file goes through `open_image`, which
- reads the bytes first (files stay closed; a size cap applies before reading),
- lets Pillow try only an explicit list of formats (no exotic plugin sees user bytes),
- checks the pixel count from the header before any pixel is decoded (decompression bombs),
  and turns Pillow's own `DecompressionBombWarning` into an error as a second line,
- decodes the first frame at once, so truncated or corrupt data fail here, not later,
- turns every failure into `InputError(<file name>, <reason>)`.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps

from binding.errors import InputError
from binding.io.files import MediaSource, read_media, source_name

#: The formats Pillow may try on user bytes (Pillow format names).
IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
# Pillow's own warning threshold (PIL.Image.MAX_IMAGE_PIXELS, 1024 * 1024 * 1024 // 4 // 3).
MAX_IMAGE_PIXELS = 89_478_485
# Images up to this size skip the data-coverage check (2048 x 2048)
_COVERAGE_EXEMPT_PIXELS = 2048 * 2048


def open_image(
    source: MediaSource,
    *,
    name: str | None = None,
    formats: Sequence[str] = IMAGE_FORMATS,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Open an image safely and decode its first frame, in whatever mode the file has.

    `source` is a path or the encoded bytes; `name` is what errors call an in-memory input.
    Only `formats` are tried; an image over `max_pixels` (from its header) is refused before
    decoding. Raises `InputError` for anything that is not a whole, readable image.
    """
    label = source_name(source, name)
    content = read_media(source, name=label)
    try:
        with _pillow_warnings():
            image = Image.open(io.BytesIO(content), formats=list(formats))
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InputError(label, f"image has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise InputError(
                    label,
                    f"image is {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,} (a decompression bomb, or simply too large)",
                )
            _check_coverage(image, label)
            image.load()
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError(label, f"not a readable image (tried {', '.join(formats)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(label, f"image too large: {error}") from None
    except Exception as error:  # Pillow raises many types on corrupt data; all mean "bad input"
        raise InputError(label, f"corrupt or truncated image: {_describe(error)}") from None
    return image


def _check_coverage(image: Image.Image, label: str) -> None:
    """Refuse a large image whose data (Pillow's tiles) describe less than its declared area.

    A 500-byte TIFF may declare 16 x 2,000,000 pixels and carry strips for 12 rows; Pillow
    then builds the whole, mostly empty image. Small images are exempt: a GIF's first frame
    may legitimately be smaller than its screen, and small buffers cost nothing.
    """
    width, height = image.size
    tiles = getattr(image, "tile", None) or []
    if width * height <= _COVERAGE_EXEMPT_PIXELS or not tiles:
        return  # no tiles: the plugin decodes by itself (WebP, through libwebp)
    covered = 0
    for tile in tiles:
        x0, y0, x1, y1 = tile[1]
        covered += max(0, x1 - x0) * max(0, y1 - y0)
    if covered < width * height:
        raise InputError(
            label,
            f"header declares {width}x{height} pixels but the image data cover only "
            f"{covered:,} of them (corrupt or crafted file)",
        )


def decode_image(
    source: MediaSource, *, name: str | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """Decode an image file to an upright RGB Pillow image.

    - EXIF orientation is applied, so the image is the way up a viewer shows it.
    - Animated GIF/WebP/multi-page TIFF: the first frame.
    - Transparency is flattened onto WHITE: transparent areas are usually background
      (logos, cut-outs, screenshots), and white is how viewers and browsers show them; the
      colour hidden under alpha 0 is arbitrary (often black), so dropping alpha as
      `convert("RGB")` does would put invented content in the picture.
    - 16-bit and 32-bit grayscale are scaled to 8 bits (Pillow's plain `convert` would clip
      them, turning most 16-bit images white); palette, CMYK, YCbCr and 1-bit are converted
      with Pillow's standard conversions.
    """
    label = source_name(source, name)
    image = open_image(source, name=label, max_pixels=max_pixels)
    try:
        return to_rgb(upright(image))
    except Exception as error:
        raise InputError(label, f"cannot convert image to RGB: {_describe(error)}") from None


def upright(image: Image.Image) -> Image.Image:
    """`image` turned as its EXIF orientation says (a copy); corrupt EXIF is ignored."""
    with _pillow_warnings():
        return ImageOps.exif_transpose(image) or image


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` in RGB by `decode_image`'s rules (alpha onto white, 16-bit gray scaled)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_gray_to_uint8(np.asarray(image)), mode="L").convert("RGB")
    return image.convert("RGB")


def _gray_to_uint8(values: np.ndarray) -> np.ndarray:
    """16/32-bit integer gray: 0-65535 to 0-255; float gray: [0, 1] (or [0, 255]) to 0-255."""
    if values.dtype.kind == "f":
        scaled = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if scaled.size and scaled.max() <= 1.0:
            scaled *= 255.0
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)  # rounded 65535 -> 255


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's bomb warning as an error; its notes on corrupt metadata (UserWarning) muted.

    catch_warnings is process-global state: the explicit pixel check in `open_image` does
    not depend on it, so a race with another thread can only lose the second line of defence.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
