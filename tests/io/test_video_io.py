"""Video decoding with PyAV: real MP4/WebM/MKV/MOV files made here, frame-exact reads, bad files."""

from __future__ import annotations

import io
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from binding.errors import InputError
from binding.io.video import decode_video, decode_video_audio
from binding.preprocess.video import clip_frame_indices, video_clips

WIDTH, HEIGHT, BITS = 192, 32, 12  # each frame shows its index as 12 black/white stripes


def numbered_frame(index: int) -> np.ndarray:
    """A (H, W, 3) frame whose stripes spell `index` in binary (survives lossy coding)."""
    stripes = np.array([(index >> bit) & 1 for bit in range(BITS)], np.uint8) * 255
    row = np.repeat(stripes, WIDTH // BITS)
    frame = np.repeat(row[None, :, None], HEIGHT, axis=0).repeat(3, axis=2)
    frame[:, :, 1] = np.minimum(frame[:, :, 1], 200)  # a moving gradient would do too
    return frame


def frame_number(frame: np.ndarray) -> int:
    centres = frame[HEIGHT // 2, (np.arange(BITS) + 0.5).astype(int) * (WIDTH // BITS), 0]
    return sum(1 << bit for bit, value in enumerate(centres) if value > 128)


def make_video(
    fmt: str,
    codec: str,
    frames: int,
    *,
    fps: int = 25,
    audio_codec: str | None = None,
    gop: int = 25,
) -> bytes:
    """A video whose frame i shows the number i, with a 440 Hz tone if `audio_codec` is given."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.gop_size = gop
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "bframes": "2"}
        audio = None
        if audio_codec is not None:
            audio = container.add_stream(
                audio_codec, rate=48_000 if "opus" in audio_codec else 16_000
            )
            audio.layout = "mono"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            rate = audio.codec_context.sample_rate
            size = audio.codec_context.frame_size or 1024
            t = np.arange(int(frames / fps * rate)) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), size):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + size], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = rate, start
                for packet in audio.encode(chunk):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return buffer.getvalue()


CONTAINERS = {
    "clip.mp4": ("mp4", "libx264", "aac"),
    "clip.webm": ("webm", "libvpx", "libopus"),
    "clip.mkv": ("matroska", "libx264", None),
    "clip.mov": ("mov", "mpeg4", "aac"),
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_probe_and_read_the_reference_frames(name: str, tmp_path: Path) -> None:
    fmt, codec, audio_codec = CONTAINERS[name]
    path = tmp_path / name
    path.write_bytes(make_video(fmt, codec, 60, fps=10, audio_codec=audio_codec))
    with decode_video(path) as video:
        info = video.info
        assert (info.frame_count, info.fps, info.width, info.height) == (60, 10.0, WIDTH, HEIGHT)
        assert info.duration_s == pytest.approx(6.0)
        assert info.has_audio is (audio_codec is not None)
        indices = clip_frame_indices(info.frame_count, info.fps)
        assert indices == [[0, 19], [10, 29], [20, 39], [30, 49], [40, 59]]
        clips = video.read_clips(indices)
        assert [[frame_number(f) for f in clip] for clip in clips] == indices
        assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for c in clips for f in c)


def test_video_clips_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(make_video("mp4", "mpeg4", 30, fps=10))
    assert video_clips(path).shape == (15, 3, 2, 224, 224)
    with pytest.raises(InputError, match="nothing.mp4: empty file"):
        video_clips(b"", name="nothing.mp4")


def test_reads_any_order_and_times(tmp_path: Path) -> None:
    content = make_video("mp4", "libx264", 100)
    with decode_video(content, name="clip.mp4") as video:
        assert [frame_number(f) for f in video.read_frames([70, 3, 70, 0, 99])] == [
            70,
            3,
            70,
            0,
            99,
        ]
        assert [frame_number(f) for f in video.read_frames_at([0.0, 1.0, 1.99, 3.96, 99.0])] == [
            0,
            25,
            49,
            99,
            99,
        ]
        with pytest.raises(ValueError, match="outside"):
            video.read_frames([100])


def test_seeks_instead_of_decoding_everything() -> None:
    # 60 s at 25 fps, a keyframe every second: the ten frames of five clips need at most
    # ten GOPs decoded, not 1,500 frames.
    content = make_video("mp4", "mpeg4", 1500, gop=25)
    with decode_video(content, name="long.mp4") as video:
        indices = clip_frame_indices(video.info.frame_count, video.info.fps)
        clips = video.read_clips(indices)
        assert [[frame_number(f) for f in clip] for clip in clips] == indices
        assert video.frames_decoded <= 10 * 26, video.frames_decoded


def test_sound_track(tmp_path: Path) -> None:
    audio = decode_video_audio(make_video("mp4", "libx264", 50, audio_codec="aac"))
    assert audio is not None and audio.sample_rate == 16_000 and audio.channels == 1
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    assert decode_video_audio(make_video("matroska", "libx264", 10)) is None


# --- bad files: InputError naming the file, fast, small ------------------------------------------


def _audio_only_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16_000, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return buffer.getvalue()


def _truncated_mp4() -> bytes:
    whole = make_video("mp4", "libx264", 50)
    return whole[: len(whole) // 2]  # the moov box (the index) is at the end: gone


BAD_VIDEO: dict[str, tuple[Callable[[], bytes], str]] = {
    "random.mp4": (lambda: np.random.default_rng(0).bytes(8192), "not a readable video file"),
    "truncated.mp4": (_truncated_mp4, "not a readable video file"),
    "sound_only.mp4": (_audio_only_mp4, "no video stream"),
    "empty.mp4": (lambda: b"", "empty file"),
    "text.webm": (lambda: b"hello, world\n" * 100, "not a readable video file"),
}


@pytest.mark.parametrize("name", sorted(BAD_VIDEO))
def test_bad_video_is_rejected(name: str, tmp_path: Path) -> None:
    make, reason = BAD_VIDEO[name]
    path = tmp_path / name
    path.write_bytes(make())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        decode_video(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(path) in str(caught.value) and reason in str(caught.value), str(caught.value)
    assert elapsed < 1.0 and peak < 16 * 2**20
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024 < 64


def test_corrupt_payload_decodes_or_fails_cleanly() -> None:
    content = bytearray(make_video("mp4", "libx264", 100))
    rng = np.random.default_rng(3)
    for position in rng.integers(2000, len(content) - 2000, 200):
        content[position] ^= 0xFF
    try:
        with decode_video(bytes(content), name="damaged.mp4") as video:
            frames = video.read_frames([0, 50, 99])
    except InputError as error:
        assert "damaged.mp4" in str(error)
    else:
        assert all(f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    with pytest.raises(InputError, match="no such file"):
        decode_video(Path("/nonexistent/clip.mp4"))
