"""Read one input of a new modality: `.npy`, `.npz` or CSV with a header -> float32 array.

Shapes are `(channels, length)` for signals and `(channels, height, width)` for maps. A CSV
holds one column per channel (the header names them) and one row per sample, so it is read
as `(length, channels)` and transposed to `(channels, length)`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


class ArrayError(ValueError):
    """An input file that is not a usable array; the message names the file and the problem."""


def read_array(path: str | Path) -> np.ndarray:
    """The array in `path` as float32 of shape (C, L) or (C, H, W); ArrayError otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise ArrayError(f"{path}: not an array file (expected {', '.join(ARRAY_SUFFIXES)})")
    if not path.is_file():
        raise ArrayError(f"{path}: file not found")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if not archive.files:
                    raise ArrayError(f"{path}: the .npz archive holds no array")
                array = archive[archive.files[0]]
        else:
            array = _read_csv(path)
    except ArrayError:
        raise
    except (OSError, ValueError) as error:
        raise ArrayError(f"{path}: unreadable array ({error})") from error
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ArrayError(f"{path}: expected numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]  # a single-channel signal
    if array.ndim not in (2, 3):
        raise ArrayError(f"{path}: expected shape (C, L) or (C, H, W), got {array.shape}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ArrayError(f"{path}: holds NaN or infinite values")
    return array


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ArrayError(f"{path}: a CSV array needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    try:
        [float(cell) for cell in header]
    except ValueError:
        pass
    else:
        raise ArrayError(f"{path}: the first CSV row must be a header naming the channels")
    try:
        values = np.array([[float(cell) for cell in row] for row in body], dtype=np.float64)
    except ValueError as error:
        raise ArrayError(f"{path}: non-numeric CSV value ({error})") from error
    if values.ndim != 2 or values.shape[1] != len(header):
        raise ArrayError(f"{path}: every CSV row needs {len(header)} values (one per channel)")
    return values.T
