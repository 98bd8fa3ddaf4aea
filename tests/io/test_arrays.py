"""Arrays of a trained modality read from files or bytes: formats by content, clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from binding.errors import InputError
from binding.io.arrays import decode_array


def _npz(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, first=array, second=array * 2)
    return buffer.getvalue()


def test_npy_npz_and_csv_read_alike_from_paths_and_bytes(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float64).reshape(2, 6) / 7
    np.save(tmp_path / "a.npy", array)
    (tmp_path / "a.npz").write_bytes(_npz(array))
    rows = "\n".join(f"{x!r},{y!r}" for x, y in array.T.tolist())
    (tmp_path / "a.csv").write_text("left,right\n" + rows + "\n")
    (tmp_path / "named-wrongly.bin").write_bytes((tmp_path / "a.npz").read_bytes())
    for name in ("a.npy", "a.npz", "a.csv", "named-wrongly.bin"):
        path = tmp_path / name
        for source in (path, path.read_bytes()):
            got = decode_array(source, name=name)
            assert got.dtype == np.float32 and got.shape == (2, 6), name
            np.testing.assert_allclose(got, array.astype(np.float32), rtol=1e-6)
    np.save(tmp_path / "one.npy", np.ones(5, dtype=np.int16))
    assert decode_array(tmp_path / "one.npy").shape == (1, 5)  # 1-D: one channel
    np.save(tmp_path / "map.npy", np.zeros((3, 4, 5), dtype=np.float32))
    assert decode_array(tmp_path / "map.npy").shape == (3, 4, 5)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"\xff\xfe\x00garbage", "not an array file"),
        (b"a,b\n1,2\n3\n", "every CSV row needs 2 values"),
        (b"a,b\n1,x\n", "non-numeric CSV value"),
        (b"1,2\n3,4\n", "the first CSV row must be a header"),
        (b"a,b\n", "needs a header row and at least one data row"),
        (b"PK\x03\x04broken", "unreadable .npz archive"),
    ],
)
def test_bad_bytes_are_refused_by_name(content: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        decode_array(content, name="reading.csv")
    assert caught.value.source == "reading.csv"


def test_bad_arrays_are_refused_by_name(tmp_path: Path) -> None:
    cases = {
        "nan.npy": np.array([[1.0, np.nan]]),
        "deep.npy": np.zeros((1, 2, 3, 4)),
        "flags.npy": np.zeros((2, 2), dtype=np.complex64),
    }
    reasons = {"nan.npy": "NaN or infinite", "deep.npy": "expected shape", "flags.npy": "dtype"}
    for name, array in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(InputError, match=reasons[name]) as caught:
            decode_array(tmp_path / name)
        assert caught.value.source == str(tmp_path / name)
    with pytest.raises(InputError, match="cannot read"):
        decode_array(tmp_path / "absent.npy")
