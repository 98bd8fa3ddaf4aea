"""Checkpoints, verifying: sha256 of a file (recorded beside it, trusted while its mtime
holds), and where a download lives in the cache. See `binding.models.checkpoint`."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from pathlib import Path

from binding.errors import CheckpointError

log = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = "checkpoints"  # <cache_dir>/checkpoints/<filename>
CHUNK_BYTES = 1 << 20  # unit of reading, hashing and writing: memory stays flat for 4.8 GB

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# --- reading ----------------------------------------------------------------------------------


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if not _SHA256_RE.match(digest):
        raise CheckpointError(f"{sha256!r} is not a sha256 (64 hexadecimal digits)")
    return digest


def _hash_file(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _path_key(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]


def _sidecars(path: Path, cache_dir: Path | None) -> list[Path]:
    """Where a file's recorded sha256 may live: beside it, else in the cache."""
    places = [path.with_name(path.name + ".sha256")]
    if cache_dir is not None:
        name = f"{path.name}-{_path_key(path)}.sha256"
        places.append(Path(cache_dir) / CHECKPOINT_SUBDIR / "verified" / name)
    return places


def _recorded_sha256(path: Path, cache_dir: Path | None) -> str | None:
    """The sha256 recorded for this exact file, or None if none was or the file changed since."""
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError:
        return None
    for sidecar in _sidecars(path, cache_dir):
        try:
            if sidecar.stat().st_mtime_ns != mtime_ns:
                continue
            digest = sidecar.read_text(encoding="utf-8").split(maxsplit=1)[0].lower()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if _SHA256_RE.match(digest):
            return digest
    return None


def _record_sha256(path: Path, digest: str, cache_dir: Path | None) -> None:
    """Write `<file>.sha256` (`sha256sum -c` reads it) with the file's own mtime."""
    stat = path.stat()
    for sidecar in _sidecars(path, cache_dir):
        tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        try:
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
            os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(tmp, sidecar)
            return
        except OSError as exc:  # a read-only folder: try the next place
            log.debug("cannot record the sha256 of %s in %s: %s", path, sidecar, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
    log.warning("could not record the sha256 of %s; it will be hashed again next time", path)


def verify_checkpoint(
    path: str | Path, *, sha256: str | None = None, cache_dir: Path | None = None
) -> str:
    """Hash `path` now and return its sha256; raise `CheckpointError` on a mismatch.

    The file is compared with `sha256` when given, else with the hash recorded when it was
    downloaded (if any). The result is recorded, so loads of this exact file skip hashing.
    """
    path = Path(path)
    expected = _normalise_sha256(sha256)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    recorded = None
    for sidecar in _sidecars(path, cache_dir):  # also a stale record: did the file change?
        with contextlib.suppress(OSError, IndexError, UnicodeDecodeError):
            recorded = sidecar.read_text(encoding="utf-8").split(maxsplit=1)[0].lower()
            break
    digest = _hash_file(path)
    if expected is not None and digest != expected:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, expected {expected}: "
            "it is corrupt, a different file, or the publisher replaced the file"
        )
    if expected is None and recorded and _SHA256_RE.match(recorded) and digest != recorded:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, but {recorded} was recorded when it was "
            "first verified: the file changed on disk; delete it and download it again"
        )
    _record_sha256(path, digest, cache_dir)
    return digest


def cached_checkpoint_path(cache_dir: Path, filename: str) -> Path:
    """Where the download of `filename` lives: `<cache_dir>/checkpoints/<filename>`."""
    if (
        not filename
        or filename in (".", "..")
        or Path(filename).name != filename
        or "\0" in filename
    ):
        raise CheckpointError(f"{filename!r} is not a plain file name for a checkpoint")
    return Path(cache_dir).expanduser() / CHECKPOINT_SUBDIR / filename
