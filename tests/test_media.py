"""The media store: content-addressed names, atomic writes, size limits, no user paths."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from binding.errors import InputError
from binding.media import MediaStore, check_ext, check_sha256, hash_file


def _leftovers(store: MediaStore) -> list[Path]:
    tmp = store.root / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_put_bytes_names_by_hash(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    data = b"\x89PNG not really"
    sha = hashlib.sha256(data).hexdigest()
    stored = store.put_bytes(data, ext=".png")
    assert stored.sha256 == sha and stored.size == len(data)
    assert stored.path == store.root / sha[:2] / sha[2:4] / f"{sha}.png"
    assert stored.relative == f"{sha[:2]}/{sha[2:4]}/{sha}.png"
    assert stored.path.read_bytes() == data
    assert store.find(sha) == stored and store.path(sha) == stored.path and sha in store
    # the same content again, even with another extension, is the same file
    assert store.put_bytes(data, ext="wav") == stored
    assert [m.sha256 for m in store] == [sha] and store.count() == 1
    assert not _leftovers(store)


def test_put_file_streams_and_hashes(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: several chunks
    store = MediaStore(tmp_path / "media")
    stored = store.put_file(source, ext=".bin")
    assert (stored.sha256, stored.size) == hash_file(source)
    assert stored.path.read_bytes() == source.read_bytes()
    assert store.put_file(source, sha256=stored.sha256) == stored  # known hash: nothing read
    assert not _leftovers(store)


def test_oversize_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=1000)
    with pytest.raises(InputError, match="larger than the limit"):
        store.put_bytes(b"x" * 1001, source="upload:big.png")
    source = tmp_path / "big.bin"
    source.write_bytes(b"y" * 5000)
    with pytest.raises(InputError, match="larger than the limit"):
        store.put_file(source)
    with pytest.raises(InputError, match="larger than the limit"):
        hash_file(source, max_bytes=1000)
    assert list(store) == [] and not _leftovers(store)


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "a\x00b", "x" * 300, "", "0" * 63, "z" * 64]
)
def test_only_hashes_name_files(tmp_path: Path, bad: str) -> None:
    store = MediaStore(tmp_path / "media")
    with pytest.raises(InputError, match="not a sha256"):
        check_sha256(bad)
    with pytest.raises(InputError):
        store.path(bad)
    assert bad not in store
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize("bad", ["../x", "/png", ".p/ng", ".toolongext", ".p\x00g", "."])
def test_extensions_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        check_ext(bad)


def test_check_ext_normalises() -> None:
    assert check_ext("PNG") == ".png" and check_ext(".Wav") == ".wav" and check_ext(None) == ""


def test_delete(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    stored = store.put_bytes(b"abc", ext=".txt")
    assert store.delete(stored.sha256) is True
    assert not stored.path.exists() and store.find(stored.sha256) is None
    assert store.delete(stored.sha256) is False


def test_missing_hash(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert store.find(sha) is None
    with pytest.raises(InputError, match="no such file in the media store"):
        store.path(sha)
