"""Reading what a user hands us: a path or the bytes themselves, with errors that name it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, TypeAlias

from binding.errors import InputError

#: What the decoders accept: a path, or the encoded bytes themselves.
MediaSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview

# Largest encoded file read into memory (a 89 Mpx PNG of noise is about 270 MB).
MAX_MEDIA_BYTES = 512 * 1024 * 1024

_BYTES_NAME = "<bytes>"


def source_name(source: MediaSource, name: str | None = None) -> str:
    """What error messages call `source`: `name` if given, else the path, else `<bytes>`."""
    if name is not None:
        return name
    if isinstance(source, bytes | bytearray | memoryview):
        return _BYTES_NAME
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


@contextmanager
def open_source(path: str | os.PathLike[str], label: str) -> Iterator[BinaryIO]:
    """`open(path, "rb")` whose failures, opening or reading, are `InputError`s naming `label`."""
    try:
        with open(path, "rb") as file:
            yield file
    except FileNotFoundError:
        raise InputError(label, "no such file") from None
    except IsADirectoryError:
        raise InputError(label, "is a directory, not a file") from None
    except PermissionError:
        raise InputError(label, "permission denied") from None
    except OSError as error:
        raise InputError(label, f"cannot read file: {error.strerror or error}") from None


def read_media(
    source: MediaSource, *, name: str | None = None, max_bytes: int = MAX_MEDIA_BYTES
) -> bytes:
    """The encoded bytes of `source` (a path or bytes), refusing empty and oversized inputs."""
    label = source_name(source, name)
    if isinstance(source, bytes | bytearray | memoryview):
        content = bytes(source)
    elif isinstance(source, str | os.PathLike):
        with open_source(source, label) as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise InputError(label, f"file is {size:,} bytes, over the {max_bytes:,} limit")
            # Read what fstat promised, plus one byte to notice a file that grew: asking
            # for max_bytes + 1 would make CPython reserve the whole limit up front.
            content = file.read(size + 1)
    else:
        raise InputError(label, f"expected a path or bytes, got {type(source).__name__}")
    if not content:
        raise InputError(label, "empty file (0 bytes)")
    if len(content) > max_bytes:
        raise InputError(label, f"input is over the {max_bytes:,} byte limit")
    return content


def read_head(source: MediaSource, label: str, head_bytes: int) -> tuple[bytes, int]:
    """The first `head_bytes` of `source`, and its whole size in bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:head_bytes]), len(source)
    with open_source(source, label) as file:
        return file.read(head_bytes), os.fstat(file.fileno()).st_size


def csv_delimiter(header_line: str) -> str | None:
    """The delimiter of a CSV header line: comma, tab or semicolon (in that order of preference)."""
    for delimiter in (",", "\t", ";"):
        if delimiter in header_line:
            return delimiter
    return None
