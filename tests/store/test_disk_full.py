"""A full disk under the embedded store: a clear error, never SIGBUS, never a corrupt store.

A real small file system: a tmpfs mounted here (root only; skipped with the reason when
mounting is not permitted), filled with a file allocated to leave exactly the free space a
step needs. Before the fix, the second upsert into a store on a 20 MiB tmpfs killed the
process with SIGBUS (its sparse memory-mapped files could not be backed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from binding.config import Settings
from binding.store import space
from binding.store.edge import EdgeStore
from binding.store.space import DiskFullError
from tests.store.conftest import DIM, EDGE_TEST_OPTIONS, MODEL, make_points

RESERVE = 8 * 2**20


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 MiB tmpfs, unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def leave_free(disk: Path, free: int) -> Path:
    """Allocate a filler file so that about `free` bytes stay free on `disk`."""
    filler = disk / "filler"
    current = filler.stat().st_size if filler.exists() else 0
    size = max(0, current + space.free_bytes(disk) - free)
    with open(filler, "ab") as f:
        f.truncate(min(size, current))
        if size > current:
            os.posix_fallocate(f.fileno(), 0, size)
    return filler


def open_store(folder: Path, **kwargs: object) -> EdgeStore:
    return EdgeStore(
        folder, model=MODEL, dim=DIM, options=EDGE_TEST_OPTIONS, reserve_bytes=RESERVE, **kwargs
    )


def test_a_full_disk_is_a_clear_error_and_the_store_survives(disk: Path) -> None:
    folder = disk / "store"
    first = make_points(200, seed=1)
    with open_store(folder) as store:
        store.upsert(first)

    # Too little space to open: refused before Qdrant maps a thing.
    leave_free(disk, RESERVE // 2)
    with pytest.raises(DiskFullError) as error:
        open_store(folder)
    message = str(error.value)
    print(f"open on a full disk: {message}")
    assert str(folder) in message and "MiB needed" in message and "free" in message
    assert "BINDING_STORE_RESERVE_BYTES" in message

    # Room to open, then the disk fills up: the upsert is refused, nothing is written.
    leave_free(disk, space.sparse_bytes(folder) + RESERVE + 2**20)
    store = open_store(folder)
    try:
        leave_free(disk, RESERVE + 2**20)
        more = make_points(5_000, seed=2)
        with pytest.raises(DiskFullError, match=r"not enough free disk space for the store in"):
            store.upsert(more)
        assert store.count() == 200
    finally:
        store.close()

    # Space freed: the store reopens, holds exactly what it held, and takes writes again.
    (disk / "filler").unlink()
    with open_store(folder) as store:
        assert store.count() == 200
        stored = {p.id: p.vector for p in store.retrieve([p.id for p in first])}
        assert all(np.allclose(stored[p.id], p.vector) for p in first)
        store.upsert(more)
        assert store.count() == 5_200
    with open_store(folder, read_only=True) as store:
        assert store.count() == 5_200


def test_a_new_store_on_a_full_disk_is_refused(disk: Path) -> None:
    leave_free(disk, 4 * 2**20)
    with pytest.raises(DiskFullError, match=r"16\.\d MiB needed|2\d\.\d MiB needed"):
        open_store(disk / "store")
    assert not (disk / "store" / "binding-store.json").exists()


# Upserts until the store refuses: before the fix, SIGBUS (exit status -7) on the second one.
_FILL = """
import sys, uuid
import numpy as np
from binding.store.base import Point
from binding.store.edge import EdgeOptions, EdgeStore
from binding.store.space import DiskFullError
store = EdgeStore(sys.argv[1], model="imagebind_tiny", dim=32, reserve_bytes=2**20,
                  options=EdgeOptions(auto_index_points=None))
rng = np.random.default_rng(0)
written = 0
try:
    while True:
        batch = [Point(id=uuid.uuid4(), vector=rng.normal(size=32).astype(np.float32),
                       payload={"modality": "image", "source": "x" * 200}) for _ in range(500)]
        store.upsert(batch)
        written += len(batch)
except DiskFullError as error:
    print(written, error)
store.close()
"""


def test_filling_a_small_disk_ends_in_an_error_not_sigbus(tmp_path: Path) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        result = subprocess.run(
            [sys.executable, "-c", _FILL, str(folder / "store")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        print(result.stdout.strip())
        assert result.returncode == 0, (result.returncode, result.stderr[-1500:])
        written, _, reason = result.stdout.strip().partition(" ")
        assert int(written) >= 500 and "not enough free disk space" in reason
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_the_filler_leaves_what_it_is_asked_to(disk: Path) -> None:
    """The test's own yardstick: `leave_free` grows and shrinks the filler to the byte."""
    leave_free(disk, 10 * 2**20)
    assert abs(space.free_bytes(disk) - 10 * 2**20) < 2**16
    leave_free(disk, 100 * 2**20)
    assert abs(space.free_bytes(disk) - 100 * 2**20) < 2**16


def test_the_cli_says_the_disk_is_full_and_resumes(
    disk: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`binding ingest` on a full disk exits 1 with the folder and the space (it died of
    SIGBUS, silently); once space is freed the same command embeds the file."""
    from PIL import Image
    from typer.testing import CliRunner

    from binding.cli import app

    monkeypatch.setenv("BINDING_DATA_DIR", str(disk / "data"))
    monkeypatch.setenv("BINDING_STORE_RESERVE_BYTES", str(RESERVE))
    pictures = []
    for seed in (1, 2):
        pixels = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        pictures.append(tmp_path / f"picture{seed}.png")
        Image.fromarray(pixels).save(pictures[-1])
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(pictures[0])]).exit_code == 0

    leave_free(disk, 4 * 2**20)
    result = runner.invoke(app, ["ingest", str(pictures[1])])
    print(result.output)
    assert result.exit_code == 1
    text = "".join(result.output.split())  # the message is wrapped to the terminal
    assert "notenoughfreediskspaceforthestorein" in text
    assert str(disk / "data" / "store" / "binding-imagebind_tiny") in text
    assert "4.0MiBfree" in text

    (disk / "filler").unlink()
    result = runner.invoke(app, ["ingest", str(pictures[1])])
    assert result.exit_code == 0, result.output
    assert "1 embedded" in result.output
