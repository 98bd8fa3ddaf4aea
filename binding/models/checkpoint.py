"""Checkpoints: find, download, verify, cache, convert and read weights.

- `resolve_checkpoint` turns a URL or a local path into a complete, verified local file.
- `ensure_safetensors` gives a `.pth` a memory-mapped `.safetensors` twin, converted once.
- `read_state_dict` reads the tensors under some key prefixes, so a text-only node never
  holds the vision tower.
- `checkpoint_status` and `verify_checkpoint` are for `binding doctor`.

Files in the cache (`<cache_dir>/checkpoints/`), for a checkpoint named `imagebind_huge.pth`:

    imagebind_huge.pth            the complete, verified download (renamed into place)
    imagebind_huge.pth.part       an unfinished download, resumed with an HTTP Range request
    imagebind_huge.pth.part.json  the URL and ETag the partial download came from
    imagebind_huge.pth.sha256     a `sha256sum` line; its mtime is set to the file's, so a
                                  file replaced later is hashed again instead of trusted
    imagebind_huge.pth.lock       flock'ed while downloading, so two processes never write it
    imagebind_huge.safetensors    the twin; its header names its source's size and mtime

The work is split by concern, and every public name is re-exported here:
`checkpoint_download` (resolve, download, resume, retry), `checkpoint_verify` (sha256, the
recorded hash, cache paths), `checkpoint_convert` (the safetensors twin, reading tensors);
`checkpoint_status` (for `binding doctor`) is here.

Downloads use only the standard library (`urllib`, `fcntl`); torch and safetensors are
imported only where a checkpoint is read or converted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from binding.models.checkpoint_convert import (  # re-exported: the public names stay here
    TWIN_FORMAT,
    TWIN_FORMAT_VERSION,
    ensure_safetensors,
    read_state_dict,
    safetensors_twin,
)
from binding.models.checkpoint_download import (  # re-exported: the public names stay here
    BACKOFF_S,
    MAX_RESTARTS,
    RETRIES,
    TIMEOUT_S,
    USER_AGENT,
    _local_path,
    _part_path,
    resolve_checkpoint,
)
from binding.models.checkpoint_verify import (  # re-exported: the public names stay here
    CHECKPOINT_SUBDIR,
    CHUNK_BYTES,
    _normalise_sha256,
    _recorded_sha256,
    cached_checkpoint_path,
    verify_checkpoint,
)


@dataclass(frozen=True)
class CheckpointStatus:
    """What is on disk for one checkpoint. Reading it never touches the network or hashes."""

    path: Path  # where the file is (or would be, once downloaded)
    source: Literal["cache", "local"]  # downloaded into the cache, or a path the user gave
    exists: bool  # the complete file is there (a partial download does not count)
    size: int | None  # its bytes on disk
    expected_size: int | None
    sha256: str | None  # recorded when it was last hashed, if this exact file was
    expected_sha256: str | None
    verified: bool  # size matches and a recorded hash matches (when one is expected)
    partial_bytes: int  # bytes of an unfinished download waiting to be resumed
    safetensors: Path | None  # the up-to-date twin, if one exists
    problem: str | None  # why it cannot be used as it is, or None

    @property
    def cached(self) -> bool:
        """The complete file is on disk and nothing is known to be wrong with it."""
        return self.exists and self.problem is None

    def as_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings) for JSON or a table."""
        values = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        return {**values, "cached": self.cached}


def checkpoint_status(
    url: str, filename: str, size: int | None, sha256: str | None, cache_dir: Path
) -> CheckpointStatus:
    """Whether the checkpoint for `url` is on disk, its size, whether verified, its twin."""
    expected = _normalise_sha256(sha256)
    cache_dir = Path(cache_dir).expanduser()
    local = _local_path(url)
    path = local if local is not None else cached_checkpoint_path(cache_dir, filename)
    part = _part_path(path)
    partial = part.stat().st_size if local is None and part.is_file() else 0
    exists = path.is_file()
    actual = path.stat().st_size if exists else None
    recorded = _recorded_sha256(path, cache_dir) if exists else None
    problem: str | None = None
    if not exists:
        problem = "not downloaded yet" if local is None else "the file does not exist"
    elif size is not None and actual != size:
        problem = f"it has {actual:,} bytes, expected {size:,}"
    elif expected is not None and recorded is not None and recorded != expected:
        problem = f"its sha256 is {recorded}, expected {expected}"
    verified = exists and problem is None and recorded is not None and expected in (None, recorded)
    return CheckpointStatus(
        path=path,
        source="cache" if local is None else "local",
        exists=exists,
        size=actual,
        expected_size=size,
        sha256=recorded,
        expected_sha256=expected,
        verified=verified,
        partial_bytes=partial,
        safetensors=safetensors_twin(path, cache_dir) if exists else None,
        problem=problem,
    )


__all__ = [
    "BACKOFF_S",
    "CHECKPOINT_SUBDIR",
    "CHUNK_BYTES",
    "CheckpointStatus",
    "MAX_RESTARTS",
    "RETRIES",
    "TIMEOUT_S",
    "TWIN_FORMAT",
    "TWIN_FORMAT_VERSION",
    "USER_AGENT",
    "cached_checkpoint_path",
    "checkpoint_status",
    "ensure_safetensors",
    "read_state_dict",
    "resolve_checkpoint",
    "safetensors_twin",
    "verify_checkpoint",
]
