"""Video decoding with PyAV (FFmpeg): probe a file, then read only the frames asked for.

`decode_video` opens a container (MP4, MOV, WebM, MKV, AVI, Ogg Theora... whatever this
FFmpeg build demuxes), checks it has a decodable video stream with frames, a frame rate and a
sane size, and returns a `Video`. `Video.read_frames(indices)` seeks to the keyframe before
each wanted frame and decodes forward from there, so a long file is never decoded whole.

Frames are numbered as ImageBind's decoder (decord) numbers them: in presentation order
from 0, frame i showing at i / fps from the stream's start, with fps the stream's average
frame rate and the duration frame_count / fps. Rotation metadata is ignored, as decord
ignores it, so the network sees what the reference saw.
"""

from __future__ import annotations

import io
import os
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

    def __init__(self, container: Any, info: VideoInfo, source: str) -> None:
        self._container = container
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
        self._frames = None
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
            for index in wanted:
                found[index] = self._read_one(index)
        except InputError:
            raise
        except Exception as error:  # av.error.FFmpegError and friends: corrupt data
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


def _count_frames(container: Any, stream: Any) -> int:
    # Matroska/WebM do not store a frame count: count packets (demuxing only, no decoding), as
    # decord does when it indexes a file, then rewind.
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0, stream=stream, backward=True, any_frame=False)
    return count


def decode_video(
    source: Path | str | bytes, *, name: str | None = None, max_pixels: int = MAX_VIDEO_PIXELS
) -> Video:
    """Open and probe a video file (a path or its bytes); frames are read later, on demand.

    Raises `InputError` naming the file for an empty, corrupt or unsupported file, one with no
    video stream, no frames, no frame rate, or frames over `max_pixels`.
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
    try:
        container = av.open(file, mode="r", metadata_errors="ignore")
    except Exception as error:  # av.error.InvalidDataError etc.
        raise InputError(label, f"not a readable video file ({error})") from None
    try:
        info = _probe(container, label, max_pixels)
    except BaseException:
        container.close()
        raise
    return Video(container, info, label)


def _probe(container: Any, label: str, max_pixels: int) -> VideoInfo:
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
    try:
        frame_count = int(stream.frames) or _count_frames(container, stream)
    except Exception as error:
        raise InputError(label, f"corrupt video stream ({error})") from None
    if frame_count <= 0:
        raise InputError(label, "video has no frames (zero duration)")
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
