"""Reading stored media for previews: thumbnails, frame strips, waveforms, colour maps, IMU.

Everything here reads files the engine already accepted into its content-addressed media
store, so a path always comes from a sha256, never from a name a user typed. The readers
still bound what they load (pixels, frames, samples): a preview must stay cheap. Results are
cached by (path, size, modification time) in bounded `st.cache_data` caches.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard.components import colormaps

#: Longest side of a thumbnail in pixels (a card is about 300 px wide; 2x for sharp screens).
THUMBNAIL_PX = 480
#: Largest side of a depth/thermal preview before colouring.
FIELD_PX = 480
#: Points per channel drawn for IMU and bins drawn for a waveform.
CURVE_POINTS = 320
#: Cap on the IMU samples and text characters read for a preview.
MAX_IMU_SAMPLES = 2_000_000
MAX_TEXT_CHARS = 4_000
#: Pillow formats a stored picture can be in (the decoders accept no others).
IMAGE_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]
#: IMU channel names in the order ImageBind reads them (accelerometer, then gyroscope).
IMU_CHANNELS = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, int(stat.st_mtime_ns)


def _open_image(path: str) -> Any:
    from PIL import Image, ImageOps

    image = Image.open(path, formats=IMAGE_FORMATS)
    return ImageOps.exif_transpose(image)


def _encode(image: Any) -> bytes:
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA", "P"):
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(path: str, size: int, mtime: int, px: int) -> bytes:
    image = _open_image(path)
    image.draft("RGB", (px, px))  # JPEG: decode at reduced size
    image.thumbnail((px, px))
    return _encode(image)


def thumbnail(path: Path, px: int = THUMBNAIL_PX) -> bytes:
    """A JPEG (or PNG with transparency) no larger than `px` on its longest side."""
    return _thumbnail(*_stamp(path), px)


# --- video -------------------------------------------------------------------------------


@st.cache_data(max_entries=256, show_spinner=False)
def _frame_strip(
    path: str, size: int, mtime: int, start: float | None, end: float | None, count: int
) -> bytes | None:
    import av
    from PIL import Image

    frames: list[Any] = []
    with av.open(path) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        lo = float(start) if start is not None else 0.0
        hi = float(end) if end is not None else (duration or 0.0)
        times = np.linspace(lo, hi, count + 2)[1:-1] if hi > lo else np.zeros(1)
        for t in times:
            try:
                if stream.time_base is not None and t > 0:
                    container.seek(int(t / stream.time_base), stream=stream, backward=True)
                for decoded, frame in enumerate(container.decode(stream)):
                    if frame.time is None or frame.time >= t - 1e-3 or decoded > 300:
                        frames.append(frame.to_image())
                        break
            except (av.error.FFmpegError, StopIteration):
                break
    if not frames:
        return None
    # four frames as a 2 x 2 mosaic keep the video's own shape in a card; fewer in a row
    height = 160
    tiles = [f.resize((max(1, round(f.width * height / f.height)), height)) for f in frames]
    columns = 2 if len(tiles) == 4 else len(tiles)
    rows = -(-len(tiles) // columns)
    width = tiles[0].width
    mosaic = Image.new(
        "RGB", (columns * width + 2 * (columns - 1), rows * height + 2 * (rows - 1)), "white"
    )
    for i, tile in enumerate(tiles):
        mosaic.paste(tile, ((i % columns) * (width + 2), (i // columns) * (height + 2)))
    return _encode(mosaic)


def frame_strip(
    path: Path, start: float | None = None, end: float | None = None, count: int = 4
) -> bytes | None:
    """`count` frames evenly spread over [start, end] (the whole video by default), as one
    picture (a 2 x 2 mosaic for four); None when nothing decodes."""
    return _frame_strip(*_stamp(path), start, end, count)


# --- audio -------------------------------------------------------------------------------


@st.cache_data(max_entries=256, show_spinner=False)
def _waveform(path: str, size: int, mtime: int, bins: int) -> dict[str, Any]:
    import soundfile as sf

    info = sf.info(path)
    frames = int(info.frames)
    rate = int(info.samplerate)
    per_bin = max(1, math.ceil(frames / bins))
    lows: list[float] = []
    highs: list[float] = []
    for block in sf.blocks(path, blocksize=per_bin, dtype="float32", always_2d=True):
        mono = block.mean(axis=1)
        lows.append(float(mono.min()) if mono.size else 0.0)
        highs.append(float(mono.max()) if mono.size else 0.0)
    duration = frames / rate if rate else 0.0
    times = [(i + 0.5) * per_bin / rate for i in range(len(lows))] if rate else []
    return {"t": times, "lo": lows, "hi": highs, "duration": duration, "sample_rate": rate}


def waveform(path: Path, bins: int = CURVE_POINTS) -> dict[str, Any]:
    """The min/max envelope of the (mono-mixed) signal in `bins` bins, its duration and rate."""
    return _waveform(*_stamp(path), bins)


# --- depth and thermal -------------------------------------------------------------------


def read_field(path: str) -> np.ndarray:
    """A stored depth or thermal frame as (H, W) float32 (the first channel of a stack)."""
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        values = np.load(path, allow_pickle=False, mmap_mode="r")
        values = np.asarray(values).squeeze()
        while values.ndim > 2:
            values = values[0] if values.shape[0] <= 4 else values[..., 0]
        if values.ndim != 2:
            raise ValueError(f"expected a 2-D frame, got shape {values.shape}")
        step = max(1, math.ceil(max(values.shape) / FIELD_PX))
        return np.asarray(values[::step, ::step], dtype=np.float32)
    image = _open_image(path)
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F", "L"):
        image = image.convert("L")
    step = max(1, math.ceil(max(image.size) / FIELD_PX))
    values = np.asarray(image, dtype=np.float32)
    return values[::step, ::step]


@st.cache_data(max_entries=256, show_spinner=False)
def _field(path: str, size: int, mtime: int, colormap: str) -> tuple[bytes, float, float]:
    from PIL import Image

    values = read_field(path)
    low, high = colormaps.robust_range(values)
    rgb = colormaps.apply(values, colormap, low, high)
    return _encode(Image.fromarray(rgb, "RGB")), low, high


def colored_field(path: Path, colormap: str) -> tuple[bytes, float, float]:
    """A depth/thermal frame coloured with `colormap`, and the values at its ends."""
    return _field(*_stamp(path), colormap)


# --- IMU ---------------------------------------------------------------------------------


def read_imu(path: str) -> np.ndarray:
    """A stored IMU recording as (6, T) float32: accelerometer xyz then gyroscope xyz.

    `.npy` arrays may be (6, T) or (T, 6); csv/text files may have a header row and a
    leading time column (the last six numeric columns are taken).
    """
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        values = np.asarray(np.load(path, allow_pickle=False, mmap_mode="r"), dtype=np.float32)
    else:
        rows: list[list[float]] = []
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                cells = [c.strip() for c in line.replace(";", ",").replace("\t", ",").split(",")]
                try:
                    numbers = [float(c) for c in cells if c]
                except ValueError:
                    continue  # a header or a comment
                if len(numbers) >= 6:
                    rows.append(numbers[-6:])
                if len(rows) * 6 >= MAX_IMU_SAMPLES:
                    break
        values = np.asarray(rows, dtype=np.float32)
    if values.ndim != 2 or 6 not in values.shape:
        raise ValueError(f"expected six channels, got shape {values.shape}")
    if values.shape[0] != 6:
        values = values.T
    return values[:, : MAX_IMU_SAMPLES // 6]


@st.cache_data(max_entries=256, show_spinner=False)
def _imu(
    path: str, size: int, mtime: int, points: int, window: tuple[int, int] | None
) -> dict[str, Any]:
    values = read_imu(path)
    if window is not None:
        values = values[:, max(0, window[0]) : max(window[0] + 1, window[1])]
    samples = values.shape[1]
    step = max(1, math.ceil(samples / points))
    return {"values": values[:, ::step].copy(), "step": step, "samples": samples}


def imu_curves(
    path: Path, points: int = CURVE_POINTS, window: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The six channels (of samples `window[0]:window[1]` when given) thinned to about
    `points` samples each, and the thinning step."""
    return _imu(*_stamp(path), points, window)


# --- text --------------------------------------------------------------------------------


@st.cache_data(max_entries=512, show_spinner=False)
def _text(path: str, size: int, mtime: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read(MAX_TEXT_CHARS)


def read_text(path: Path) -> str:
    """The start of a stored text file."""
    return _text(*_stamp(path))
