"""Long and lying videos: caps counted from the stream, a decode time budget, bounded memory.

The hostile files are real MP4s made here, then patched: the `stts` box (sample-to-time
table) of a 20-frame, 1 fps MP4 is edited to claim 2^31 frames, or a frame duration of
2^31 - 1 ticks (a declared length of weeks). Both are rejected in milliseconds with the reason;
before, the first grew to gigabytes. The memory test ingests a short and a long generated
video in one child process and compares the peak RSS each adds.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest

from binding.api import Engine
from binding.config import Settings
from binding.encoder import Encoder
from binding.errors import InputError
from binding.io.video import decode_video


def make_video(frames: int, *, fps: int = 1, width: int = 64, height: int = 48) -> bytes:
    """An H.264 MP4 whose frames change brightness (so none is a copy of the one before)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            pixels = np.full((height, width, 3), (index * 37) % 256, np.uint8)
            pixels[:, : (index % width)] = 255 - pixels[0, 0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def patch_stts(data: bytes, *, count: int | None = None, delta: int | None = None) -> bytes:
    """The MP4 with its (single-entry) stts box claiming `count` frames of `delta` ticks."""
    at = data.index(b"stts")
    entries, old_count, old_delta = struct.unpack(">III", data[at + 8 : at + 20])
    assert entries == 1, "a constant frame rate video has one stts entry"
    patched = bytearray(data)
    patched[at + 12 : at + 20] = struct.pack(">II", count or old_count, delta or old_delta)
    return bytes(patched)


@pytest.fixture(scope="module")
def small_video() -> bytes:
    return make_video(20)


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"count": 2**31}, "claims 2,147,483,648 frames"),  # the 6.8 GB file of issue 10
        ({"delta": 2**31 - 1}, "corrupt or hostile header"),  # weeks per frame
    ],
)
def test_a_lying_header_is_rejected_in_milliseconds(
    tiny_engine: Engine, tmp_path: Path, small_video: bytes, patch: dict[str, int], reason: str
) -> None:
    warm = tmp_path / "warm.mp4"  # opens the store and imports the decoders first
    warm.write_bytes(small_video)
    assert tiny_engine.ingest([warm]).counts["embedded"] == 1
    path = tmp_path / "lying.mp4"
    path.write_bytes(patch_stts(small_video, **patch))
    started = time.perf_counter()
    (outcome,) = tiny_engine.ingest([path]).files
    elapsed = time.perf_counter() - started
    print(f"hostile header {patch}: rejected in {elapsed:.3f} s: {outcome.reason}")
    assert outcome.status == "rejected"
    assert reason in (outcome.reason or "")
    assert elapsed < 5.0
    assert tiny_engine.store.count() == 3  # the warm-up video's points only


def test_caps_count_the_stream_not_the_header(tmp_path: Path, small_video: bytes) -> None:
    path = tmp_path / "twenty.mp4"
    path.write_bytes(small_video)
    with decode_video(path) as video:
        assert video.info.frame_count == 20
    with pytest.raises(InputError, match=r"video too long: it holds at least 11 frames") as error:
        decode_video(path, max_frames=10)
    assert "BINDING_VIDEO_MAX_FRAMES" in str(error.value) and "twenty.mp4" in str(error.value)
    with pytest.raises(InputError, match=r"BINDING_VIDEO_MAX_SECONDS"):
        decode_video(path, max_seconds=15)


def test_the_time_budget_stops_decoding(tmp_path: Path, small_video: bytes) -> None:
    path = tmp_path / "slow.mp4"
    path.write_bytes(small_video)
    with decode_video(path, time_budget_s=0.05) as video:
        video.read_frames([0])  # inside the budget
        video._budget.spent += 1.0  # as if decoding had taken a second so far
        with pytest.raises(InputError, match=r"over the budget of 0.05 s.*VIDEO_TIME_BUDGET"):
            video.read_frames([19])


def test_a_video_over_the_settings_is_rejected_and_the_batch_goes_on(
    tiny_settings: Settings, tiny_encoder: Encoder, tmp_path: Path, small_video: bytes
) -> None:
    (tmp_path / "long.mp4").write_bytes(small_video)
    (tmp_path / "short.mp4").write_bytes(make_video(5))
    settings = tiny_settings.model_copy(update={"video_max_seconds": 10.0})
    with Engine(settings, encoder=tiny_encoder) as engine:
        outcomes = {Path(o.source).name: o for o in engine.ingest([tmp_path]).files}
    assert outcomes["short.mp4"].status == "embedded"
    assert outcomes["long.mp4"].status == "rejected"
    assert "video too long" in (outcomes["long.mp4"].reason or "")


# The child ingests a short video, then a long one, and prints the peak RSS after each.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys, warnings
    from binding.api import Engine
    from binding.config import Settings
    from binding.encoder import Encoder
    warnings.simplefilter("ignore")
    encoder = Encoder.load("imagebind_tiny", seed=0, device="cpu", precision="fp32")
    peaks = {}
    with Engine(Settings(), encoder=encoder) as engine:
        for name in sys.argv[1:]:
            (outcome,) = engine.ingest([name]).files
            assert outcome.status == "embedded", outcome
            peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            peaks[name + ":points"] = outcome.points
    print(json.dumps(peaks))
    """
)


def test_memory_does_not_grow_with_a_videos_length(tiny_settings: Settings, tmp_path: Path) -> None:
    short, long = tmp_path / "short.mp4", tmp_path / "long.mp4"
    short.write_bytes(make_video(20))
    long.write_bytes(make_video(400))  # 40 windows of 10 s: 0.7 GB of clips held at once before
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(short), str(long)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    assert peaks[str(long) + ":points"] == 41
    growth = (peaks[str(long)] - peaks[str(short)]) / 2**20
    print(
        f"peak RSS after 20 s: {peaks[str(short)] / 2**20:.0f} MiB; a 400 s video added {growth:.0f} MiB"
    )
    # One window's clips are 18 MiB (15 x 3 x 2 x 224 x 224 float32); 40 held would be 720.
    assert growth < 100
