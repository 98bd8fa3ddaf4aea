"""Arrays of a trained modality: `.npy`, `.npz` or CSV with a header -> float32 `(C, ...)`.

The format is read from the bytes (the `.npy` magic, a zip archive for `.npz`, else UTF-8
CSV), so an upload stored under another name still reads. Shapes are `(channels, length)`
for signals and `(channels, height, width)` for maps; a CSV holds one column per channel
(the header names them) and one row per sample, so it is transposed to `(channels, length)`.
The formats are those `binding train` reads (docs/train.md, "Data formats").
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from binding.errors import InputError
from binding.io.npy import MAX_NPY_ELEMENTS, is_npy, load_npy

#: Largest array file read (bytes): far above any sensor window, far below memory trouble.
MAX_ARRAY_BYTES = 256 << 20


def decode_array(source: Path | str | bytes, *, name: str | None = None) -> np.ndarray:
    """The array in `source` (a path or bytes) as float32 `(C, L)` or `(C, H, W)`.

    A 1-D array is one channel. `InputError` naming the file for anything else: another
    format, non-numeric values, NaN or infinity, too many dimensions.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "<bytes>"
        content = bytes(source)
    else:
        label = name or os.fspath(source)
        try:
            size = os.path.getsize(source)
            if size > MAX_ARRAY_BYTES:
                raise InputError(label, f"{size:,} bytes: over the array limit {MAX_ARRAY_BYTES:,}")
            content = Path(source).read_bytes()
        except OSError as error:
            raise InputError(label, f"cannot read: {error.strerror or error}") from None
    if not content:
        raise InputError(label, "empty file (0 bytes)")
    if is_npy(content):
        array = load_npy(content, name=label)
    elif content.startswith(b"PK\x03\x04"):
        array = _load_npz(content, label)
    else:
        array = _load_csv(content, label)
    if array.dtype.kind not in "biuf":
        raise InputError(label, f"expected numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim not in (2, 3):
        raise InputError(label, f"expected shape (C, L) or (C, H, W), got {array.shape}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError(label, "holds NaN or infinite values")
    return array


def _load_npz(content: bytes, label: str) -> np.ndarray:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            if not members:
                raise InputError(label, "the .npz archive holds no array")
            info = archive.getinfo(members[0])
            if info.file_size > MAX_ARRAY_BYTES:
                raise InputError(label, f"the .npz array is {info.file_size:,} bytes, too large")
            data = archive.read(members[0])
    except zipfile.BadZipFile as error:
        raise InputError(label, f"unreadable .npz archive ({error})") from None
    return load_npy(data, name=label, max_elements=MAX_NPY_ELEMENTS)


def _load_csv(content: bytes, label: str) -> np.ndarray:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(label, "not an array file (.npy, .npz or a CSV with a header)") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
    if len(rows) < 2:
        raise InputError(label, "a CSV array needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    if all(_is_number(cell) for cell in header):
        raise InputError(label, "the first CSV row must be a header naming the channels")
    if any(len(row) != len(header) for row in body):
        raise InputError(label, f"every CSV row needs {len(header)} values (one per channel)")
    try:
        values = np.array([[float(cell) for cell in row] for row in body], dtype=np.float64)
    except ValueError as error:
        raise InputError(label, f"non-numeric CSV value ({error})") from None
    return values.T


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
