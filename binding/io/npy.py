"""Safe `.npy` reading: the header is checked before any array memory is allocated.

`np.load` trusts the header's shape; a 100-byte file may claim 10^12 elements. Here the
header is parsed first, the dtype must be a plain number type (no objects, so no pickle),
the element count must be under a limit, and the file must hold every byte the header
promises. Only then is the array built, straight from the bytes already in memory.
"""

from __future__ import annotations

import io

import numpy as np

from binding.errors import InputError

NPY_MAGIC = b"\x93NUMPY"
# Default ceiling on elements (same as the image pixel limit, PIL.Image.MAX_IMAGE_PIXELS)
MAX_NPY_ELEMENTS = 89_478_485


def is_npy(content: bytes) -> bool:
    """Whether `content` starts with the `.npy` magic string."""
    return content.startswith(NPY_MAGIC)


def load_npy(content: bytes, *, name: str, max_elements: int = MAX_NPY_ELEMENTS) -> np.ndarray:
    """The array in `.npy` bytes: bool, integer or float dtypes only; `InputError` otherwise."""
    stream = io.BytesIO(content)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as error:  # numpy raises ValueError, SyntaxError, EOFError on bad headers
        raise InputError(name, f"unreadable .npy header: {error}") from None
    if dtype.kind not in "biuf" or dtype.hasobject or dtype.fields is not None:
        raise InputError(name, f".npy dtype {dtype} is not a plain number type")
    if any(not isinstance(side, int) or side < 0 or side > max_elements for side in shape):
        raise InputError(name, f".npy header has an impossible shape {shape}")
    count = 1
    for side in shape:
        count *= side
    if count > max_elements:
        raise InputError(
            name, f".npy array of shape {shape} has {count:,} elements, over {max_elements:,}"
        )
    offset = stream.tell()
    expected = count * dtype.itemsize
    if len(content) - offset < expected:
        raise InputError(
            name,
            f"truncated .npy: shape {shape} needs {expected:,} data bytes, "
            f"the file has {len(content) - offset:,}",
        )
    try:
        flat = np.frombuffer(content, dtype=dtype, count=count, offset=offset)
        array = flat.reshape(shape, order="F" if fortran_order else "C")
        return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order
    except (ValueError, TypeError) as error:
        raise InputError(name, f"cannot read .npy data: {error}") from None
