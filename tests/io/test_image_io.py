"""The safe image opener and decoder: formats, modes, orientation, and hostile files (R8, R15)."""

from __future__ import annotations

import functools
import io
import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from binding.errors import InputError
from binding.io.image import IMAGE_FORMATS, decode_image, open_image, read_media


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)


def header_only_bomb() -> bytes:
    """A 57-byte PNG whose header claims 30000 x 30000 RGB (2.7 GB decoded)."""
    return png_header(30000, 30000) + png_chunk(b"IEND", b"")


@functools.cache
def compressed_bomb() -> bytes:
    """A real, valid 20000 x 20000 1-bit PNG of zeros: ~49 KB on disk, 400 M pixels."""
    width = height = 20000
    row = b"\x00" * (1 + width // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_header(width, height, 1, 0) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def zero_frame_gif() -> bytes:
    """A GIF with a logical screen and a trailer but no image (0 frames)."""
    return b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b";"


def bad_files() -> dict[str, bytes]:
    jpeg = encode(picture(), "JPEG", quality=90)
    png = encode(picture(), "PNG")
    return {
        "bomb_header_30000x30000.png": header_only_bomb(),
        "bomb_compressed_20000x20000.png": compressed_bomb(),
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "header_only.jpg": jpeg[:64],
        "random_bytes.jpg": np.random.default_rng(7).bytes(4096),
        "zero_length.jpg": b"",
        "zero_frames.gif": zero_frame_gif(),
        "text_named.png": b"just some text, not an image\n" * 10,
    }


@pytest.mark.parametrize("file_name", sorted(bad_files()))
def test_bad_file_is_input_error_naming_the_file_quickly(tmp_path: Path, file_name: str) -> None:
    path = tmp_path / file_name
    path.write_bytes(bad_files()[file_name])
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        decode_image(path)
    elapsed = time.perf_counter() - started
    assert file_name in str(caught.value)
    assert caught.value.source == str(path)
    assert elapsed < 1.0, f"{file_name} took {elapsed:.3f} s"


def test_bombs_are_refused_from_the_header_with_the_size_in_the_message() -> None:
    with pytest.raises(InputError, match=r"900,000,000 pixels|900000000 pixels"):
        open_image(header_only_bomb(), name="bomb.png")
    with pytest.raises(InputError, match="pixels"):
        open_image(compressed_bomb(), name="bomb.png")


def test_our_pixel_limit_applies_below_pillows(tmp_path: Path) -> None:
    content = encode(picture(100, 100), "PNG")
    with pytest.raises(InputError, match="10,000 pixels, over the limit of 9,999"):
        open_image(content, name="big.png", max_pixels=9_999)
    assert open_image(content, max_pixels=10_000).size == (100, 100)


_PEAK_SCRIPT = """
import json, resource, sys
sys.path.insert(0, {tests!r})
from test_image_io import bad_files
from binding.errors import InputError
from binding.io.image import decode_image
files = bad_files()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name, content in files.items():
    try:
        decode_image(content, name=name)
    except InputError:
        pass
    else:
        raise SystemExit(f"{{name}} was accepted")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_kib": after - before, "peak_kib": after}}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_bad_files_are_rejected_without_large_allocations() -> None:
    """Peak RSS of a fresh process grows by < 32 MiB while rejecting every bad file.

    (tracemalloc cannot see Pillow's C allocations; the process high-water mark can. The
    bombs would need 2.7 GB and 50 MB to decode.)
    """
    script = _PEAK_SCRIPT.format(tests=str(Path(__file__).parent))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["growth_kib"] < 32 * 1024, report


def tall_tiff_with_12_rows_of_data(height: int = 1_000_000) -> bytes:
    """A valid 16x12 TIFF whose ImageLength tag is patched to `height` (strips unchanged)."""
    content = bytearray(encode(Image.fromarray(np.ones((12, 16), np.uint16)), "TIFF"))
    directory = struct.unpack_from("<I", content, 4)[0]
    for index in range(struct.unpack_from("<H", content, directory)[0]):
        entry = directory + 2 + 12 * index
        if struct.unpack_from("<H", content, entry)[0] == 257:  # ImageLength, type LONG
            struct.pack_into("<I", content, entry + 8, height)
    return bytes(content)


def test_header_larger_than_its_data_is_refused_before_decoding() -> None:
    """Found by fuzzing: Pillow would build a 16 x 1,000,000 image from 384 bytes of strips."""
    content = tall_tiff_with_12_rows_of_data()
    assert Image.open(io.BytesIO(content)).size == (16, 1_000_000)
    started = time.perf_counter()
    with pytest.raises(InputError, match="cover only 192 of them"):
        decode_image(content, name="tall.tif")
    assert time.perf_counter() - started < 0.5
    assert decode_image(tall_tiff_with_12_rows_of_data(12), name="ok.tif").size == (16, 12)


def test_missing_file_and_directory_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        decode_image(tmp_path / "absent.jpg")
    with pytest.raises(InputError, match="directory"):
        decode_image(tmp_path)


def test_bytes_inputs_are_called_by_their_name() -> None:
    with pytest.raises(InputError) as caught:
        decode_image(b"not an image", name="upload-17.jpg")
    assert str(caught.value).startswith("upload-17.jpg: ")
    with pytest.raises(InputError) as caught:
        decode_image(b"not an image")
    assert caught.value.source == "<bytes>"


def test_read_media_refuses_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(InputError, match="over the 1,024 limit"):
        read_media(path, max_bytes=1024)
    with pytest.raises(InputError, match="expected a path or bytes"):
        read_media(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_every_listed_format_decodes_to_rgb(fmt: str) -> None:
    source = picture(40, 30)
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    image = decode_image(encode(source, fmt, **options), name=f"x.{fmt.lower()}")
    assert image.mode == "RGB" and image.size == (40, 30)
    if fmt in ("PNG", "BMP", "TIFF", "WEBP"):  # lossless: the very pixels
        assert np.array_equal(np.asarray(image), np.asarray(source))


def test_formats_outside_the_list_are_refused() -> None:
    ppm = encode(picture(), "PPM")  # Pillow reads PPM, but it is not in our list
    assert Image.open(io.BytesIO(ppm)).size == (64, 48)
    with pytest.raises(InputError, match="not a readable image"):
        decode_image(ppm, name="x.ppm")
    with pytest.raises(InputError):
        open_image(encode(picture(), "JPEG"), name="x.jpg", formats=["PNG"])


def test_exif_orientation_is_applied() -> None:
    # Stored: left half red, right half blue. Orientation 6 = rotate 90 degrees clockwise
    # to display, so the stored left columns become the top rows.
    stored = np.zeros((40, 60, 3), dtype=np.uint8)
    stored[:, :30] = (255, 0, 0)
    stored[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    content = encode(Image.fromarray(stored, "RGB"), "PNG", exif=exif.tobytes())
    upright = np.asarray(decode_image(content, name="rotated.png"))
    assert upright.shape == (60, 40, 3)
    assert (upright[:30] == (255, 0, 0)).all() and (upright[30:] == (0, 0, 255)).all()


def test_animated_gif_gives_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = decode_image(buffer.getvalue(), name="anim.gif")
    assert (np.asarray(image) == (255, 0, 0)).all()


def test_alpha_is_flattened_onto_white() -> None:
    rgba = np.zeros((10, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red under every pixel
    rgba[:, :10, 3] = 0  # left: fully transparent
    rgba[:, 10:, 3] = 255  # right: opaque
    image = np.asarray(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), name="a.png"))
    assert (image[:, :10] == 255).all()  # white, not the hidden red
    assert (image[:, 10:] == (200, 0, 0)).all()


def test_half_transparent_blends_with_white_and_la_and_palette_alpha_too() -> None:
    la = Image.fromarray(np.dstack([np.zeros((4, 4), np.uint8), np.full((4, 4), 128, np.uint8)]))
    assert la.mode == "LA"
    gray = np.asarray(decode_image(encode(la, "PNG"), name="la.png"))
    assert np.all(np.abs(gray.astype(int) - 127) <= 1)  # black at alpha 128 over white
    palette = Image.new("P", (6, 6), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (3, 0, 6, 6))
    content = encode(palette, "PNG", transparency=0)
    image = np.asarray(decode_image(content, name="p.png"))
    assert (image[:, :3] == 255).all() and (image[:, 3:] == (255, 0, 0)).all()


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    image = decode_image(encode(Image.fromarray(values), "PNG"), name="g16.png")
    assert np.asarray(image)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_cmyk_and_one_bit_convert() -> None:
    cmyk = decode_image(encode(picture().convert("CMYK"), "JPEG"), name="c.jpg")
    assert cmyk.mode == "RGB"
    bits = Image.fromarray(np.eye(8, dtype=bool))
    one = np.asarray(decode_image(encode(bits, "PNG"), name="b.png"))
    assert one[0, 0].tolist() == [255, 255, 255] and one[0, 1].tolist() == [0, 0, 0]


# --- fuzzing (R15): only InputError may escape -------------------------------------------

_VALID = [
    encode(picture(24, 16, 1), "PNG"),
    encode(picture(24, 16, 2), "JPEG", quality=80),
    encode(picture(24, 16, 3).quantize(16), "GIF"),
    encode(picture(24, 16, 4), "BMP"),
    encode(picture(24, 16, 5), "TIFF"),
    encode(picture(24, 16, 6), "WEBP"),
]


def _decode_or_input_error(content: bytes) -> None:
    try:
        image = decode_image(content, name="fuzz.bin")
    except InputError as error:
        assert str(error).startswith("fuzz.bin: ")
    else:
        assert image.mode == "RGB"


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(len(content) - 1, 0)))
        if action == "flip" and content:
            content[position] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del content[position:]
        elif action == "insert":
            content[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif content:
            del content[position : position + draw(st.integers(1, 16))]
    return bytes(content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_fuzz_mutated_images_raise_only_input_error(content: bytes) -> None:
    _decode_or_input_error(content)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_raise_only_input_error(content: bytes) -> None:
    _decode_or_input_error(content)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00"]),
    st.binary(max_size=512),
)
def test_fuzz_magic_then_noise_raise_only_input_error(magic: bytes, tail: bytes) -> None:
    _decode_or_input_error(magic + tail)
