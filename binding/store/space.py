"""Free disk space for the embedded store: checked before it grows, ENOSPC made clear.

Qdrant Edge keeps its vectors, payloads, indexes and write-ahead log in memory-mapped files
that it creates sparse (32 MiB of which a few KiB are allocated) and fills as points arrive.
When the disk is full, the kernel cannot back a page the store writes into, and the process
gets SIGBUS: it dies with no message, whatever Python would catch. The only defence is not to
write then. So before the store grows (opening it for writing, each upsert, copying a shard
for an index build) the free space of its folder is compared with what the write may take
plus a reserve (`BINDING_STORE_RESERVE_BYTES`, 256 MiB by default): enough for the files
Qdrant creates as it grows (a new 32 MiB vector chunk, payload page or log segment). Short of
it, `DiskFullError` names the folder, the space needed and the space free, and nothing is
written: the store stays as it was, and opens and verifies once space is freed.

Opening a store (read-only too) needs the holes of its sparse files to be free: replaying
the write-ahead log writes into them, and on tmpfs merely mapping a file allocates it
(measured: reopening a 500-point store took 66 MiB of a tmpfs; on ext4 or XFS a read of a
hole allocates nothing, so this is conservative there: about 160 MiB for a small store).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from binding.errors import TransientError

#: Default of `BINDING_STORE_RESERVE_BYTES`.
DEFAULT_RESERVE_BYTES = 256 * 2**20
#: Bytes a new, empty store allocates (measured: 15 MiB; its sparse files are larger).
NEW_STORE_BYTES = 16 * 2**20
#: Bytes a stored point may take per byte of its vector and payload: the segment's copy, the
#: write-ahead log's copy, payload indexes and page granularity (measured: about 2.5x).
GROWTH_FACTOR = 4
#: Bytes per point on top of that (ids, version and flag pages).
POINT_OVERHEAD = 256


class DiskFullError(TransientError):
    """Not enough free space where the store (or the media store) writes; nothing was written.

    `folder` is where the space is missing, `needed` and `free` are in bytes. A fault of the
    machine, not of the input: transient for `binding.transient` (a worker retries the task
    with backoff, a stream consumer waits), so once space is freed the work goes on; the
    CLI exits with the message."""

    def __init__(self, folder: str | Path, needed: int, free: int, what: str = "the store") -> None:
        self.folder = str(folder)
        self.needed = int(needed)
        self.free = int(free)
        super().__init__(
            f"not enough free disk space for {what} in {self.folder}: {_size(needed)} needed "
            f"(including the reserve, BINDING_STORE_RESERVE_BYTES), {_size(free)} free. Free "
            "some space there (or lower the reserve) and run again; nothing was written, the "
            "store is intact"
        )


def _size(count: int) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    if count >= 2**20:
        return f"{count / 2**20:.1f} MiB"
    return f"{count / 2**10:.0f} KiB"


def free_bytes(folder: str | Path) -> int:
    """Bytes an unprivileged process can still write on the file system of `folder`."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def check_space(folder: str | Path, needed: int, reserve: int, what: str = "the store") -> None:
    """Raise `DiskFullError` unless `needed` bytes plus `reserve` are free at `folder`."""
    free = free_bytes(folder)
    if free < needed + reserve:
        raise DiskFullError(folder, needed + reserve, free, what)


def check_open(folder: str | Path, reserve: int, *, read_only: bool = False) -> None:
    """Raise `DiskFullError` unless a store at `folder` (made or not) has the space to open:
    the holes of its sparse files (a new store: `NEW_STORE_BYTES`), plus `reserve` to write."""
    path = Path(folder)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    made = (path / "binding-store.json").exists()
    needed = (sparse_bytes(path) if made else NEW_STORE_BYTES) + (0 if read_only else reserve)
    free = free_bytes(existing)
    if free < needed:
        raise DiskFullError(path, needed, free)


def upsert_bytes(vector_bytes: int, payload_bytes: int, points: int) -> int:
    """What an upsert of `points` points may add to the store's files, at most (an estimate)."""
    return GROWTH_FACTOR * (vector_bytes + payload_bytes) + POINT_OVERHEAD * points


def allocated_bytes(folder: str | Path) -> int:
    """Bytes the files under `folder` occupy on disk (sparse holes not counted)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def sparse_bytes(folder: str | Path) -> int:
    """Bytes of the holes of the sparse files under `folder`: what writes into them (or, on
    tmpfs, mapping them) may still allocate."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += max(0, info.st_size - info.st_blocks * 512)
    return total


def is_disk_full(error: BaseException) -> bool:
    """True for ENOSPC (or EDQUOT), from Python or as text from Qdrant Edge's Rust errors."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "os error 28" in text
