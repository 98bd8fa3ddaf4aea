"""Depth and thermal decoding: units, scaling, shapes, and bad files (R10, R15)."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from binding.errors import InputError
from binding.io.depth import DepthMap, decode_depth
from binding.io.npy import load_npy
from binding.io.thermal import decode_thermal


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "TIFF")
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def depth_mm(height: int = 48, width: int = 64) -> np.ndarray:
    """A uint16 millimetre ramp, 500 mm at the left to 4000 mm at the right, one hole."""
    ramp = np.linspace(500, 4000, width).round().astype(np.uint16)
    values = np.tile(ramp, (height, 1))
    values[height // 2, width // 2] = 0  # no measurement
    return values


# --- depth: units ------------------------------------------------------------------------


def test_16_bit_png_round_trips_as_millimetres(tmp_path: Path) -> None:
    millimetres = depth_mm()
    path = tmp_path / "depth.png"
    path.write_bytes(png(millimetres))
    depth = decode_depth(path)
    assert isinstance(depth, DepthMap) and depth.unit == "m" and not depth.is_disparity
    assert depth.values.dtype == np.float32 and depth.values.shape == (48, 64)
    assert np.array_equal(depth.values, millimetres.astype(np.float32) / np.float32(1000))
    assert depth.values[24, 32] == 0.0


def test_16_bit_tiff_is_millimetres_and_float_tiff_is_metres() -> None:
    millimetres = depth_mm()
    assert np.allclose(decode_depth(tiff(millimetres), name="d.tif").values, millimetres / 1000)
    metres = millimetres.astype(np.float32) / 1000
    decoded = decode_depth(tiff(metres), name="d.tif")
    assert decoded.unit == "m" and np.array_equal(decoded.values, metres)


def test_npy_float_is_metres_and_integer_is_millimetres() -> None:
    metres = np.linspace(0.5, 5.0, 12, dtype=np.float64).reshape(3, 4)
    assert np.allclose(decode_depth(npy(metres), name="m.npy").values, metres)
    assert np.allclose(decode_depth(npy(depth_mm()), name="mm.npy").values, depth_mm() / 1000)
    as_mm = decode_depth(npy(metres * 1000), name="x.npy", unit="mm")
    assert np.allclose(as_mm.values, metres)


def test_channel_axis_of_one_is_squeezed() -> None:
    metres = np.full((5, 7), 2.0, np.float32)
    assert decode_depth(npy(metres[..., None]), name="a.npy").values.shape == (5, 7)
    assert decode_depth(npy(metres[None]), name="b.npy").values.shape == (5, 7)


def test_disparity_unit_keeps_values_and_allows_8_bit() -> None:
    disparity = np.linspace(1, 60, 20, dtype=np.float32).reshape(4, 5)
    decoded = decode_depth(npy(disparity), name="disp.npy", unit="disparity")
    assert decoded.is_disparity and np.array_equal(decoded.values, disparity)
    eight = decode_depth(png(np.arange(1, 21, dtype=np.uint8).reshape(4, 5)), unit="disparity")
    assert eight.is_disparity and eight.values.max() == 20.0


def test_8_bit_png_is_relative_disparity_unless_a_unit_is_forced(tmp_path: Path) -> None:
    path = tmp_path / "estimated.png"
    path.write_bytes(png(np.arange(1, 65, dtype=np.uint8).reshape(8, 8)))
    decoded = decode_depth(path)  # what monocular estimators write: bright = near
    assert decoded.is_disparity and decoded.values.max() > decoded.values.min() > 0
    with pytest.raises(InputError, match="8-bit .* cannot hold depth in mm") as caught:
        decode_depth(path, unit="mm")
    assert str(path) in str(caught.value) and "'auto'" in str(caught.value)


def test_bad_unit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unit must be"):
        decode_depth(npy(np.ones((2, 2))), unit="feet")  # type: ignore[arg-type]


# --- depth: bad inputs (R10) -------------------------------------------------------------

BAD_DEPTH: dict[str, tuple[bytes, str]] = {
    "rgb_3_channels.npy": (npy(np.ones((8, 8, 3), np.float32)), "2-D depth map"),
    "one_dimensional.npy": (npy(np.ones(16, np.float32)), "2-D depth map"),
    "four_dimensional.npy": (npy(np.ones((1, 2, 3, 4), np.float32)), "2-D depth map"),
    "nan.npy": (npy(np.array([[1.0, np.nan], [2.0, 3.0]])), "NaN"),
    "inf.npy": (npy(np.array([[1.0, np.inf], [2.0, 3.0]])), "infinite"),
    "negative.npy": (npy(np.array([[1.0, -0.5], [2.0, 3.0]])), "negative depth"),
    "all_zero.png": (png(np.zeros((8, 8), np.uint16)), "no depth measurement"),
    "empty.npy": (npy(np.zeros((0, 5), np.float32)), "empty"),
    "mask.npy": (npy(np.ones((4, 4), bool)), "mask"),
    "colour.png": (
        png(np.stack([np.full((8, 8), v, np.uint8) for v in (200, 30, 90)], -1)),
        "picture of depth",
    ),
    "jpeg.jpg": (b"", "empty file"),
    "object.npy": (b"", "not a plain number type"),
    "truncated.npy": (npy(np.ones((64, 64), np.float32))[:200], "truncated .npy"),
    "text.csv": (b"1,2,3\n4,5,6\n", "not a readable image"),
}


def pickled_object_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, "a"], dtype=object), allow_pickle=True)
    return buffer.getvalue()


BAD_DEPTH["object.npy"] = (pickled_object_npy(), "not a plain number type")


@pytest.mark.parametrize("file_name", sorted(BAD_DEPTH))
def test_bad_depth_files_are_input_errors_naming_file_and_problem(
    tmp_path: Path, file_name: str
) -> None:
    content, problem = BAD_DEPTH[file_name]
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as caught:
        decode_depth(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_npy_header_claiming_a_huge_array_is_refused_before_allocating() -> None:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    padded = header.ljust(118) + "\n"
    content = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(padded)) + padded.encode()
    started = time.perf_counter()
    with pytest.raises(InputError, match="1,000,000,000,000 elements"):
        decode_depth(content, name="huge.npy")
    with pytest.raises(InputError, match="elements"):
        load_npy(content, name="huge.npy")
    assert time.perf_counter() - started < 0.5


def test_depth_image_bomb_is_refused() -> None:
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 16, 0, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc
    end = b"\x00\x00\x00\x00IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    with pytest.raises(InputError, match="pixels"):
        decode_depth(b"\x89PNG\r\n\x1a\n" + chunk + end, name="bomb.png")


# --- thermal -----------------------------------------------------------------------------


def test_8_bit_thermal_is_divided_by_255() -> None:
    values = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    frame = decode_thermal(png(values), name="t.png")
    assert frame.dtype == np.float32 and frame.shape == (16, 16)
    assert np.array_equal(frame, values.astype(np.float32) / np.float32(255))


def test_16_bit_thermal_full_range_and_min_max() -> None:
    values = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    full = decode_thermal(png(values), name="t16.png")
    assert np.allclose(full, values / 65535.0)
    stretched = decode_thermal(png(values), name="t16.png", scaling="min_max")
    assert np.allclose(stretched, [[0.0, 0.25], [0.5, 1.0]])


def test_thermal_npy_dtypes() -> None:
    unit = np.array([[0.0, 0.5], [0.25, 1.0]], np.float32)
    assert np.array_equal(decode_thermal(npy(unit), name="u.npy"), unit)
    celsius = np.array([[20.0, 30.0], [25.0, 40.0]])
    assert np.allclose(decode_thermal(npy(celsius), name="c.npy"), [[0, 0.5], [0.25, 1.0]])
    assert np.allclose(decode_thermal(npy(np.full((2, 2), 37.0)), name="k.npy"), 0.0)
    raw = np.array([[0, 65535]], np.uint16)
    assert np.allclose(decode_thermal(npy(raw), name="r.npy"), [[0.0, 1.0]])


def test_gray_saved_as_rgb_equals_gray() -> None:
    gray = np.random.default_rng(3).integers(0, 256, (12, 10), dtype=np.uint8)
    as_rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert np.array_equal(decode_thermal(png(as_rgb), name="rgb.png"), gray / np.float32(255))
    assert np.allclose(decode_thermal(npy(as_rgb), name="rgb.npy"), gray / 255.0)
    buffer = io.BytesIO()
    Image.fromarray(as_rgb).save(buffer, "JPEG", quality=95)
    assert decode_thermal(buffer.getvalue(), name="llvip.jpg").shape == (12, 10)


BAD_THERMAL: dict[str, tuple[bytes, str]] = {
    "nan.npy": (npy(np.array([[0.1, np.nan]])), "NaN"),
    "inf.npy": (npy(np.array([[0.1, -np.inf]])), "infinite"),
    "one_dimensional.npy": (npy(np.ones(9)), "2-D thermal frame"),
    "four_channels.npy": (npy(np.ones((4, 4, 4))), "2-D thermal frame"),
    "empty.npy": (npy(np.zeros((3, 0))), "empty"),
    "mask.npy": (npy(np.zeros((3, 3), bool)), "mask"),
    "zero_length.png": (b"", "empty file"),
    "truncated.png": (png(np.ones((32, 32), np.uint8))[:40], "truncated|not a readable"),
}


@pytest.mark.parametrize("file_name", sorted(BAD_THERMAL))
def test_bad_thermal_files_are_input_errors_naming_the_file(tmp_path: Path, file_name: str) -> None:
    content, problem = BAD_THERMAL[file_name]
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as caught:
        decode_thermal(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_bad_scaling_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="scaling must be"):
        decode_thermal(npy(np.ones((2, 2))), scaling="log")  # type: ignore[arg-type]


# --- fuzzing (R15) -----------------------------------------------------------------------

_VALID = [
    png(depth_mm(12, 16)),
    tiff(depth_mm(12, 16)),
    npy(depth_mm(12, 16).astype(np.float32) / 1000),
    npy(depth_mm(6, 8)),
    png(np.arange(0, 192, dtype=np.uint8).reshape(12, 16)),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(content) - 1, 0)))
        action = draw(st.sampled_from(["flip", "truncate", "insert"]))
        if action == "flip" and content:
            content[position] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del content[position:]
        else:
            content[position:position] = draw(st.binary(min_size=1, max_size=12))
    return bytes(content)


def _only_input_error(content: bytes) -> None:
    for decode in (decode_depth, decode_thermal):
        try:
            result = decode(content, name="fuzz.bin")
        except InputError as error:
            assert str(error).startswith("fuzz.bin: ")
        else:
            values = result.values if isinstance(result, DepthMap) else result
            assert values.ndim == 2 and values.dtype == np.float32
            assert np.isfinite(values).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutated_depth_and_thermal_files(content: bytes) -> None:
    _only_input_error(content)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x89PNG\r\n\x1a\n", b""]),
    st.binary(max_size=600),
)
def test_fuzz_random_depth_and_thermal_bytes(prefix: bytes, tail: bytes) -> None:
    _only_input_error(prefix + tail)


def npy_with_header(header: str, body: bytes = b"", version: int = 1) -> bytes:
    text = (header.ljust(118) + "\n").encode("latin-1")
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + body


@pytest.mark.parametrize(
    "shape", ["(0, -1)", "(-1,)", "(7, -1, 7)", "(1099511627776, 0, 2147483648)"]
)
def test_npy_headers_with_impossible_shapes_are_refused(shape: str) -> None:
    """Found by fuzzing: numpy's header reader accepts negative and giant dimensions."""
    content = npy_with_header(f"{{'descr': '<f8', 'fortran_order': True, 'shape': {shape}, }}")
    for decode in (decode_depth, decode_thermal):
        with pytest.raises(InputError, match="impossible shape"):
            decode(content + b"\x00" * 50, name="odd.npy")


_DESCRS = ["<f4", ">f8", "<u2", ">u2", "|u1", "|b1", "<i8", "<c8", "|O", "<U4", "|V8", "<f2"]
_SIDES = st.sampled_from([0, 1, 2, 3, 7, 100, -1, 2**31, 2**40])


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_DESCRS),
    st.booleans(),
    st.lists(_SIDES, max_size=4),
    st.sampled_from([1, 2, 3]),
    st.binary(max_size=400),
)
def test_fuzz_npy_headers(
    descr: str, fortran: bool, shape: list[int], version: int, body: bytes
) -> None:
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)}, }}"
    _only_input_error(npy_with_header(header, body, version))
