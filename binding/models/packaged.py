"""Weights that ship inside the package (`binding/models/weights/`): no download, offline.

A spec with `packaged=True` names its file (`filename`), exact `size_bytes` and `sha256`;
the file is checked against both before it is read (once per process while it is unchanged).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from binding.errors import CheckpointError
from binding.models.registry import ModelSpec

#: Where packaged weights live (package data, installed with the wheel).
WEIGHTS_DIR = Path(__file__).parent / "weights"
#: How to make them again (docs/mini.md).
REGENERATE = "scripts/train_mini.sh (see docs/mini.md)"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _verified(path: Path, size: int, mtime_ns: int, want_size: int, want_sha: str) -> str | None:
    """None when the file matches; else the problem. Cached by the file's size and mtime."""
    if size != want_size:
        return f"{size} bytes, the registry expects {want_size}"
    got = file_sha256(path)
    if got != want_sha:
        return f"sha256 {got}, the registry expects {want_sha}"
    return None


def packaged_path(spec: ModelSpec) -> Path:
    """The verified path of `spec`'s packaged weights; `CheckpointError` naming the file."""
    if not spec.packaged or spec.filename is None:
        raise ValueError(f"{spec.name} has no packaged weights")
    path = WEIGHTS_DIR / spec.filename
    if not path.is_file():
        raise CheckpointError(
            f"{spec.name}: its weights file {path} is missing (not trained yet, or left out of "
            f"this install); make it with {REGENERATE}, or pass --checkpoint FILE"
        )
    if spec.size_bytes is None or spec.sha256 is None:
        raise CheckpointError(
            f"{spec.name}: {path} exists but the registry pins no size/sha256 for it yet "
            "(set them in binding/models/registry.py after training)"
        )
    stat = path.stat()
    problem = _verified(path, stat.st_size, stat.st_mtime_ns, spec.size_bytes, spec.sha256)
    if problem:
        raise CheckpointError(
            f"{spec.name}: weights file {path} does not match the registry ({problem}); "
            f"reinstall the package or regenerate it with {REGENERATE}"
        )
    return path
