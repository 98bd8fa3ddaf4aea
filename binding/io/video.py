"""Video decoding with PyAV (FFmpeg): probe a file, then read only the frames asked for.

`decode_video` opens a container (MP4, MOV, WebM, MKV, AVI, Ogg Theora... whatever this
FFmpeg build demuxes), checks it has a decodable video stream with frames, a frame rate and a
sane size, and returns a `Video`. `Video.read_frames(indices)` seeks to the keyframe before
each wanted frame and decodes forward from there, so a long file is never decoded whole.

Frames are numbered as ImageBind's decoder (decord) numbers them: in presentation order
from 0, frame i showing at i / fps from the stream's start, with fps the stream's average
frame rate and the duration frame_count / fps. Rotation metadata is ignored, as decord
ignores it, so the network sees what the reference saw.

A header is not trusted for size: the probe counts the stream's packets (demuxing only, as
decord indexes a file when it opens it), so a header claiming 2^31 frames over a few real ones
is rejected in milliseconds, and length caps (`max_frames`, `max_seconds`) apply to what the
file holds. Decoding has a time budget (`time_budget_s`, counted while this module demuxes or
decodes): FFmpeg's own reads are interrupted when one blocks past it, and a file whose probe
and frames together take longer is rejected.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from binding.errors import InputError
from binding.io.audio import MAX_AUDIO_SAMPLES, Audio, decode_audio_track
from binding.io.files import source_name

#: Largest frame accepted, in pixels (8K UHD is 33 Mpx); decoded frames are width x height x 3 bytes.
MAX_VIDEO_PIXELS = 8192 * 8192
#: Longest video accepted, in seconds (frames / fps, counted from the stream, not the header).
MAX_VIDEO_SECONDS = 4 * 3600.0
#: Most frames accepted (4 hours at 60 fps is 864,000).
MAX_VIDEO_FRAMES = 1_000_000
#: Seconds one file may spend being demuxed and decoded (probe and frames together).
VIDEO_TIME_BUDGET_S = 600.0
#: A header's frame count is used (as decord does) while it is within this many frames, or
#: this fraction, of the packets counted; otherwise the count of packets is.
_HEADER_SLACK_FRAMES, _HEADER_SLACK_FRACTION = 2, 0.05
#: Frames decoded on towards a wanted one, instead of seeking, until the keyframe interval is known.
_SEEK_AFTER_FRAMES = 60


@dataclass(frozen=True)
class VideoInfo:
    """What a probe of a video file found."""

    duration_s: float  # frame_count / fps, as ImageBind's decoder computes it
    fps: float  # the stream's average frame rate
    width: int
    height: int
    frame_count: int
    codec: str
    container: str
    has_audio: bool


class Video:
    """An open video file: its `info`, and frames read on demand. Close it, or use `with`."""

    def __init__(
        self, container: Any, info: VideoInfo, source: str, budget: _Budget | None = None
    ) -> None:
        self._container = container
        self._budget = budget or _Budget(source, VIDEO_TIME_BUDGET_S)
        self._stream = container.streams.video[0]
        self.info = info
        self.source = source
        self._start = self._stream.start_time or 0  # in stream time_base units
        self._frames: Any = None  # the running decode iterator, None after a seek is needed
        self._pending: Any = None  # a frame decoded but not yet consumed
        self._last: tuple[int, np.ndarray] | None = None  # the last frame handed out
        self.frames_decoded = 0  # frames FFmpeg decoded so far (seeking keeps this small)
        self._last_key: int | None = None  # index of the last keyframe seen since a seek
        self._gop: int | None = None  # frames between keyframes, once two have been seen

    def __enter__(self) -> Video:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (again: nothing)."""
        self._frames = None
        self._last = self._pending = None
        self._container.close()

    def _index_of(self, frame: Any) -> int:
        if frame.pts is None:
            return -1
        seconds = float((frame.pts - self._start) * self._stream.time_base)
        return round(seconds * self.info.fps)

    def _seek(self, index: int) -> None:
        seconds = index / self.info.fps
        target = self._start + int(seconds / float(self._stream.time_base))
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._pending = None
        self._last_key = None

    def _next(self) -> Any:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        self._budget.check()
        frame = next(self._frames, None)
        if frame is not None:
            self.frames_decoded += 1
        return frame

    def _read_one(self, index: int) -> np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        current = self._last[0] if self._last is not None else None
        # Decoding on is cheaper than a seek while the frame is closer than the next keyframe.
        reach = self._gop or _SEEK_AFTER_FRAMES
        ahead = current is not None and current < index <= current + reach
        if self._frames is None or not ahead:
            self._seek(index)
        chosen = self._decode_up_to(index)
        if chosen is None and ahead:  # ran off the end while decoding forward: try a seek
            self._seek(index)
            chosen = self._decode_up_to(index)
        if chosen is None:
            if self._last is None:
                raise InputError(self.source, f"frame {index} could not be decoded")
            return self._last[1]  # the stream ends early: repeat the last frame shown
        pixels = chosen.to_ndarray(format="rgb24")  # (H, W, 3) uint8
        self._last = (index, pixels)
        return pixels

    def _decode_up_to(self, index: int) -> Any:
        """The latest frame at or before `index` (or the first one decoded), from the iterator."""
        chosen: Any = None
        while (frame := self._next()) is not None:
            position = self._index_of(frame)
            if frame.key_frame:
                if self._last_key is not None and position > self._last_key:
                    self._gop = position - self._last_key
                self._last_key = position
            if position > index and chosen is not None:
                self._pending = frame  # the next wanted frame may be this one
                break
            chosen = frame
            if position >= index:
                break
        return chosen

    def read_frames(self, indices: Sequence[int]) -> list[np.ndarray]:
        """The frames with these indices (0 .. frame_count - 1), each (H, W, 3) uint8 RGB.

        Frames are decoded in increasing order whatever the order asked; a frame missing
        from the stream (variable frame rate, dropped frames) is replaced by the last one
        shown before it. Raises `InputError` on corrupt data.
        """
        wanted = sorted({int(i) for i in indices})
        for index in wanted:
            if not 0 <= index < self.info.frame_count:
                raise ValueError(f"frame {index} is outside 0..{self.info.frame_count - 1}")
        found: dict[int, np.ndarray] = {}
        try:
            with self._budget:
                for index in wanted:
                    found[index] = self._read_one(index)
        except InputError:
            raise
        except Exception as error:  # av.error.FFmpegError and friends: corrupt data
            self._budget.check()  # an FFmpeg read interrupted by the budget says so
            raise InputError(self.source, f"cannot decode video frames ({error})") from None
        return [found[int(i)] for i in indices]

    def read_frames_at(self, times_s: Sequence[float]) -> list[np.ndarray]:
        """The frames showing at these times (seconds from the start), each (H, W, 3) uint8."""
        last = self.info.frame_count - 1
        indices = [min(max(int(t * self.info.fps + 1e-6), 0), last) for t in times_s]
        return self.read_frames(indices)

    def read_clips(self, indices: Sequence[Sequence[int]]) -> list[list[np.ndarray]]:
        """`read_frames` for several clips at once: one list of frames per clip."""
        flat = self.read_frames([i for clip in indices for i in clip])
        clips, offset = [], 0
        for clip in indices:
            clips.append(flat[offset : offset + len(clip)])
            offset += len(clip)
        return clips


class _Budget:
    """Seconds a file may spend in demuxing and decoding, counted only while inside them.

    Entered around each batch of reads; `check()` between packets and frames raises once the
    time is spent. FFmpeg's blocking reads are interrupted too (`av.open(timeout=...)`)."""

    def __init__(self, source: str, seconds: float) -> None:
        self.source = source
        self.seconds = seconds
        self.spent = 0.0
        self._since: float | None = None

    def __enter__(self) -> _Budget:
        self._since = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def used(self) -> float:
        running = time.monotonic() - self._since if self._since is not None else 0.0
        return self.spent + running

    def check(self) -> None:
        if self.used() > self.seconds:
            raise InputError(
                self.source,
                f"decoding took over the budget of {self.seconds:g} s per file "
                "(BINDING_VIDEO_TIME_BUDGET)",
            )


def _count_frames(container: Any, stream: Any, limit: int, budget: _Budget) -> int:
    """Packets of the stream (demuxing only, no decoding), as decord counts when it indexes a
    file, stopping once over `limit`; then rewind."""
    count = 0
    for packet in container.demux(stream):
        if packet.size:
            count += 1
            if count > limit:
                break
        if count % 256 == 0:
            budget.check()
    container.seek(0, stream=stream, backward=True, any_frame=False)
    return count


def decode_video(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_seconds: float = MAX_VIDEO_SECONDS,
    max_frames: int = MAX_VIDEO_FRAMES,
    time_budget_s: float = VIDEO_TIME_BUDGET_S,
) -> Video:
    """Open and probe a video file (a path or its bytes); frames are read later, on demand.

    Raises `InputError` naming the file for an empty, corrupt or unsupported file, one with no
    video stream, no frames, no frame rate, frames over `max_pixels`, more than `max_frames`
    frames or `max_seconds` seconds (counted from the stream; a header claiming more than the
    limits over a stream within them is refused as corrupt), or whose probe and reads take
    longer than `time_budget_s` seconds.
    """
    label = source_name(source, name)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise InputError(label, "empty file (0 bytes)")
        file: Any = io.BytesIO(bytes(source))
    else:
        try:
            if os.path.getsize(source) == 0:
                raise InputError(label, "empty file (0 bytes)")
        except FileNotFoundError:
            raise InputError(label, "no such file") from None
        except OSError as error:
            raise InputError(label, f"cannot read file: {error.strerror or error}") from None
        file = os.fspath(source)
    budget = _Budget(label, time_budget_s)
    try:
        with budget:
            container = av.open(file, mode="r", metadata_errors="ignore", timeout=time_budget_s)
    except Exception as error:  # av.error.InvalidDataError etc.
        raise InputError(label, f"not a readable video file ({error})") from None
    try:
        with budget:
            info = _probe(container, label, max_pixels, max_seconds, max_frames, budget)
    except BaseException:
        container.close()
        raise
    return Video(container, info, label, budget)


def _probe(
    container: Any,
    label: str,
    max_pixels: int,
    max_seconds: float,
    max_frames: int,
    budget: _Budget,
) -> VideoInfo:
    if not container.streams.video:
        raise InputError(label, "no video stream")
    stream = container.streams.video[0]
    context = stream.codec_context
    width, height = int(context.width or 0), int(context.height or 0)
    if width <= 0 or height <= 0:
        raise InputError(label, f"video frames have no size ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            label, f"video frames are {width}x{height}, over the limit of {max_pixels:,} pixels"
        )
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if not 0 < fps <= 1000:
        raise InputError(label, f"video has no usable frame rate ({fps})")
    limit = max(1, min(max_frames, int(max_seconds * fps)))
    try:
        counted = _count_frames(container, stream, limit, budget)
    except InputError:
        raise
    except Exception as error:
        budget.check()
        raise InputError(label, f"corrupt video stream ({error})") from None
    if counted <= 0:
        raise InputError(label, "video has no frames (zero duration)")
    if counted > limit:
        raise InputError(label, _too_long(counted, fps, max_seconds, max_frames))
    declared = max(int(stream.frames or 0), 0)
    if declared > limit:
        raise InputError(
            label,
            f"corrupt or hostile header: it claims {declared:,} frames "
            f"({declared / fps:,.0f} s) but the stream holds {counted:,}",
        )
    slack = max(_HEADER_SLACK_FRAMES, int(counted * _HEADER_SLACK_FRACTION))
    frame_count = declared if declared > 0 and abs(declared - counted) <= slack else counted
    return VideoInfo(
        duration_s=frame_count / fps,
        fps=fps,
        width=width,
        height=height,
        frame_count=frame_count,
        codec=context.name,
        container=container.format.name,
        has_audio=bool(container.streams.audio),
    )


def _too_long(frames: int, fps: float, max_seconds: float, max_frames: int) -> str:
    return (
        f"video too long: it holds at least {frames:,} frames ({frames / fps:,.0f} s at "
        f"{fps:g} fps); "
        f"the limits are {max_frames:,} frames (BINDING_VIDEO_MAX_FRAMES) and "
        f"{max_seconds:,.0f} s (BINDING_VIDEO_MAX_SECONDS)"
    )


def decode_video_audio(
    source: Path | str | bytes, *, name: str | None = None, max_samples: int = MAX_AUDIO_SAMPLES
) -> Audio | None:
    """A video's sound track as `Audio`, or None if it has none."""
    try:
        return decode_audio_track(source, name=name, max_samples=max_samples)
    except InputError as error:
        if error.reason == "no audio stream":
            return None
        raise
