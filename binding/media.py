"""The media store: accepted files kept by content hash, so every hit can be previewed.

A file lives at `<root>/<aa>/<bb>/<sha256><ext>`, where `aa`/`bb` are the first hex pairs
of its sha256 and `ext` comes from its sniffed type. A name a user chose never becomes a
path: it stays a payload string. Writes go to a temporary file inside the root and are
renamed into place, so a reader never sees half a file and a crash leaves no partial one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from binding.errors import InputError

#: Bytes read at a time when hashing or copying.
CHUNK = 1 << 20

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")


def check_sha256(sha256: str) -> str:
    """`sha256` as lower-case hex; anything else (a path, `..`, NUL) is an InputError."""
    digest = str(sha256).strip().lower()
    if not _SHA256.match(digest):
        raise InputError(repr(sha256)[:80], "not a sha256 hex digest")
    return digest


def check_ext(ext: str | None) -> str:
    """A file extension we may put in a stored name: `.png`, `.wav`...; '' for none."""
    if not ext:
        return ""
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if not _EXT.match(ext):
        raise ValueError(f"not a safe file extension: {ext!r}")
    return ext


def hash_file(path: Path, *, max_bytes: int | None = None) -> tuple[str, int]:
    """sha256 hex digest and size of a file, read in chunks; oversize files are InputErrors."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise InputError(path, f"larger than the limit of {max_bytes:,} bytes")
            digest.update(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class StoredMedia:
    """A file in the media store."""

    sha256: str
    size: int
    path: Path  # absolute
    relative: str  # path inside the store root, with '/' separators


class MediaStore:
    """Content-addressed files under `root` (normally `BINDING_DATA_DIR/media`)."""

    def __init__(self, root: Path, *, max_bytes: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.max_bytes = max_bytes

    # -- names ----------------------------------------------------------------------------

    def _dir(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4]

    def _stored(self, path: Path, size: int) -> StoredMedia:
        return StoredMedia(path.name[:64], size, path, self._relative(path))

    def find(self, sha256: str) -> StoredMedia | None:
        """The stored file with this hash, or None."""
        digest = check_sha256(sha256)
        folder = self._dir(digest)
        if not folder.is_dir():
            return None
        for candidate in sorted(folder.iterdir()):
            if candidate.name[:64] == digest and candidate.is_file():
                return self._stored(candidate, candidate.stat().st_size)
        return None

    def path(self, sha256: str) -> Path:
        """Where the file with this hash is; InputError if the store does not hold it."""
        found = self.find(sha256)
        if found is None:
            raise InputError(sha256, "no such file in the media store")
        return found.path

    def __contains__(self, sha256: object) -> bool:
        return (
            isinstance(sha256, str)
            and _SHA256.match(sha256) is not None
            and bool(self.find(sha256))
        )

    def __iter__(self) -> Iterator[StoredMedia]:
        """Every stored file, in hash order."""
        for entry in self._entries():
            path = Path(entry.path)
            yield StoredMedia(entry.name[:64], entry.stat().st_size, path, self._relative(path))

    def count(self) -> int:
        """How many files the store holds (a walk of its folders: linear in the count)."""
        return sum(1 for _ in self._entries())

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        for first in _sorted_dirs(self.root):
            for second in _sorted_dirs(Path(first.path)):
                with os.scandir(second.path) as entries:
                    files = [e for e in entries if e.is_file() and _SHA256.match(e.name[:64])]
                yield from sorted(files, key=lambda e: e.name)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- writing --------------------------------------------------------------------------

    def _check_size(self, size: int, source: str) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise InputError(
                source, f"{size:,} bytes is larger than the limit of {self.max_bytes:,}"
            )

    def _commit(self, temp: Path, sha256: str, size: int, ext: str) -> StoredMedia:
        existing = self.find(sha256)
        if existing is not None:  # the same content is already here: keep the first copy
            temp.unlink(missing_ok=True)
            return existing
        final = self._dir(sha256) / f"{sha256}{ext}"
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        return self._stored(final, size)

    def _temp(self) -> tuple[BinaryIO, Path]:
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
        return os.fdopen(fd, "wb"), Path(name)

    def put_bytes(
        self, data: bytes, *, ext: str | None = None, source: str = "<upload>"
    ) -> StoredMedia:
        """Store `data` under its hash (with extension `ext`); returns where it is."""
        self._check_size(len(data), source)
        ext = check_ext(ext)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.find(sha256)
        if existing is not None:
            return existing
        handle, temp = self._temp()
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return self._commit(temp, sha256, len(data), ext)
        finally:
            temp.unlink(missing_ok=True)

    def put_file(
        self, path: Path, *, ext: str | None = None, sha256: str | None = None
    ) -> StoredMedia:
        """Copy a file in under its hash (computed while copying); returns where it is.

        `sha256` is an optional shortcut: when the store already holds that hash, nothing
        is read.
        """
        if sha256 is not None:
            existing = self.find(sha256)
            if existing is not None:
                return existing
        ext = check_ext(ext)
        digest = hashlib.sha256()
        size = 0
        handle, temp = self._temp()
        try:
            with handle, open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    self._check_size(size, str(path))
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return self._commit(temp, digest.hexdigest(), size, ext)
        finally:
            temp.unlink(missing_ok=True)

    def delete(self, sha256: str) -> bool:
        """Remove the file with this hash; True if there was one."""
        found = self.find(sha256)
        if found is None:
            return False
        with contextlib.suppress(FileNotFoundError):
            found.path.unlink()
        return True


def _sorted_dirs(folder: Path) -> list[os.DirEntry[str]]:
    """The two-hex-digit sub-folders of `folder` (the hash fan-out), sorted; [] if none."""
    try:
        with os.scandir(folder) as entries:
            found = [e for e in entries if e.is_dir() and len(e.name) == 2 and e.name.isalnum()]
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda e: e.name)
