"""Content sniffing on real files made here, modality detection, and fuzzing (R11, R15)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from binding.errors import InputError
from binding.io.sniff import HEAD_BYTES, MediaKind, detect_modality, sniff
from binding.modality import Modality


def image_bytes(fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (16, 12), 128 if mode != "RGB" else (10, 20, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def sound_bytes(fmt: str, subtype: str | None = None, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    tone = (0.3 * np.sin(np.arange(rate // 2) / 5)).astype(np.float32)
    soundfile.write(buffer, tone, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def container_bytes(fmt: str, video: str | None, audio: str | None) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        streams = []
        if video is not None:
            stream = container.add_stream(video, rate=10)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
            for index in range(5):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 40, np.uint8))
                streams += [(p) for p in stream.encode(frame)]
            streams += list(stream.encode())
        if audio is not None:
            stream = container.add_stream(audio, rate=48_000 if audio == "libopus" else 16_000)
            stream.layout = "mono"
            size = stream.codec_context.frame_size or 1024
            for start in range(0, 8 * size, size):
                frame = av.AudioFrame.from_ndarray(
                    np.zeros((1, size), np.float32), format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = stream.codec_context.sample_rate, start
                streams += list(stream.encode(frame))
            streams += list(stream.encode())
        for packet in streams:
            container.mux(packet)
    return buffer.getvalue()


def ogg_page(packet: bytes) -> bytes:
    """A beginning-of-stream Ogg page holding one packet (CRC left zero: sniffing ignores it)."""
    header = b"OggS" + bytes([0, 0x02]) + struct.pack("<qIII", 0, 1, 0, 0)
    return header + bytes([1, len(packet)]) + packet


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


IMU_CSV = b"time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n" + b"0.0,1,2,3,4,5,6\n" * 300

CASES: dict[str, tuple[bytes, str, str, Modality]] = {
    "photo.jpg": (image_bytes("JPEG"), "jpeg", "image/jpeg", Modality.IMAGE),
    "photo.png": (image_bytes("PNG"), "png", "image/png", Modality.IMAGE),
    "anim.gif": (image_bytes("GIF"), "gif", "image/gif", Modality.IMAGE),
    "photo.webp": (image_bytes("WEBP"), "webp", "image/webp", Modality.IMAGE),
    "photo.bmp": (image_bytes("BMP"), "bmp", "image/bmp", Modality.IMAGE),
    "scan.tiff": (image_bytes("TIFF"), "tiff", "image/tiff", Modality.IMAGE),
    "sound.wav": (sound_bytes("WAV"), "wav", "audio/wav", Modality.AUDIO),
    "sound.flac": (sound_bytes("FLAC"), "flac", "audio/flac", Modality.AUDIO),
    "sound.ogg": (sound_bytes("OGG", "VORBIS"), "ogg-vorbis", "audio/ogg", Modality.AUDIO),
    "sound.opus": (sound_bytes("OGG", "OPUS", 48_000), "ogg-opus", "audio/ogg", Modality.AUDIO),
    "sound.mp3": (sound_bytes("MP3"), "mp3", "audio/mpeg", Modality.AUDIO),
    "clip.mp4": (container_bytes("mp4", "mpeg4", "aac"), "mp4", "video/mp4", Modality.VIDEO),
    "clip.mov": (container_bytes("mov", "mpeg4", None), "mov", "video/quicktime", Modality.VIDEO),
    "clip.webm": (
        container_bytes("webm", "libvpx", "libopus"),
        "webm",
        "video/webm",
        Modality.VIDEO,
    ),
    "clip.mkv": (
        container_bytes("matroska", "mpeg4", None),
        "matroska",
        "video/x-matroska",
        Modality.VIDEO,
    ),
    "voice.m4a": (container_bytes("ipod", None, "aac"), "m4a", "audio/mp4", Modality.AUDIO),
    "clip.ogv": (ogg_page(b"\x80theora" + bytes(34)), "ogg-theora", "video/ogg", Modality.VIDEO),
    "imu.csv": (IMU_CSV, "csv", "text/csv", Modality.IMU),
    "imu.npy": (
        npy_bytes(np.zeros((1000, 6), np.float32)),
        "npy",
        "application/x-npy",
        Modality.IMU,
    ),
    "imu6.npy": (
        npy_bytes(np.zeros((6, 1000), np.float64)),
        "npy",
        "application/x-npy",
        Modality.IMU,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sniff_and_modality_from_content(name: str, tmp_path: Path) -> None:
    content, fmt, mime, modality = CASES[name]
    kind = sniff(content[:HEAD_BYTES])
    assert isinstance(kind, MediaKind) and (kind.format, kind.mime) == (fmt, mime)
    assert kind.extension.startswith(".")
    assert detect_modality(content) is modality
    # the extension does not matter: the same bytes under a misleading name
    path = tmp_path / "misleading.jpg"
    path.write_bytes(content)
    assert detect_modality(path) is modality


def sound_only_mp4(path: Path, *, faststart: bool) -> bytes:
    """3 s of noise as AAC in an MP4, its track list (`moov`) at the front or at the end."""
    options = {"movflags": "faststart"} if faststart else {}
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 48_000)).astype(np.float32)
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("aac", rate=16_000)
        stream.layout = "mono"
        for start in range(0, noise.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(noise[:, start : start + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16_000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    content = path.read_bytes()
    assert (content.find(b"moov") < HEAD_BYTES) is faststart
    return content


def test_m4a_by_content_when_the_track_list_is_at_the_front(tmp_path: Path) -> None:
    content = sound_only_mp4(tmp_path / "front.mp4", faststart=True)
    assert sniff(content).format == "m4a"  # type: ignore[union-attr]
    assert detect_modality(content) is Modality.AUDIO


def test_extension_breaks_only_the_container_tie(tmp_path: Path) -> None:
    # An MP4 whose track list is not in the head: video unless named like audio.
    content = sound_only_mp4(tmp_path / "end.mp4", faststart=False)
    assert sniff(content).format == "mp4"  # type: ignore[union-attr]
    assert detect_modality(content) is Modality.VIDEO
    assert detect_modality(content, name="voice.m4a") is Modality.AUDIO
    path = tmp_path / "voice.m4a"
    path.write_bytes(content)
    assert detect_modality(path) is Modality.AUDIO
    # but an extension never turns an image into audio
    assert detect_modality(image_bytes("PNG"), name="sound.m4a") is Modality.IMAGE


AMBIGUOUS: dict[str, tuple[bytes, str]] = {
    "depth.npy": (npy_bytes(np.zeros((480, 640), np.float32)), "could be a depth or thermal map"),
    "cube.npy": (npy_bytes(np.zeros((6, 6, 6), np.float32)), "could be a depth or thermal map"),
    "depth16.png": (image_bytes("PNG", "I;16"), "16-bit single-channel PNG"),
    "table.csv": (b"name,price\napple,1\npear,2\n", "does not name the six IMU channels"),
    "latin1.txt": ("caf\xe9 cr\xe8me\n".encode("latin-1"), "not UTF-8"),
    "blob.bin": (bytes(range(256)) * 4, "unrecognised content"),
    "empty.jpg": (b"", "empty file"),
    "bad_header.npy": (b"\x93NUMPY\x01\x00\x10\x00{not a dict}    \n", "unreadable .npy header"),
}


def test_text_files_are_text() -> None:
    assert detect_modality(b"just some words\nin a file\n", name="notes.txt") is Modality.TEXT
    assert detect_modality("# Notes\n\nA caf\u00e9.\n".encode(), name="n.md") is Modality.TEXT


@pytest.mark.parametrize("name", sorted(AMBIGUOUS))
def test_ambiguous_or_unknown_content_says_what_to_do(name: str) -> None:
    content, reason = AMBIGUOUS[name]
    with pytest.raises(InputError) as caught:
        detect_modality(content, name=name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and reason in message
    if "could be" in reason or "16-bit" in reason:
        assert "--modality" in message
    if "IMU channels" in reason:  # neither a folder nor --modality helps: the names do
        assert "['name', 'price']" in message and "accl_x" in message
        assert "folder" not in message


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        detect_modality(Path("/nonexistent/photo.jpg"))


def test_only_the_head_is_read(tmp_path: Path) -> None:
    # A WAV followed by a gigabyte would be sniffed from its first bytes alone.
    path = tmp_path / "big.wav"
    with open(path, "wb") as file:
        file.write(sound_bytes("WAV"))
        file.truncate(1 << 30)  # sparse: costs no disk
    assert detect_modality(path) is Modality.AUDIO


def test_mpeg_sync_needs_two_frames() -> None:
    assert sniff(b"\xff\xfb" + bytes(4094)) is None  # one plausible-looking header is not enough
    assert sniff(sound_bytes("MP3")[:HEAD_BYTES]).format == "mp3"  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=HEAD_BYTES + 16))
def test_sniff_never_raises(head: bytes) -> None:
    kind = sniff(head)
    assert kind is None or isinstance(kind, MediaKind)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([c[0][:512] for c in CASES.values()]),
    st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=8),
)
def test_detect_modality_raises_only_input_error(seed: bytes, edits: list[tuple[int, int]]) -> None:
    content = bytearray(seed)
    for position, value in edits:
        if position < len(content):
            content[position] = value
    try:
        assert isinstance(detect_modality(bytes(content), name="fuzz"), Modality)
    except InputError as error:
        assert str(error).startswith("fuzz: ")
