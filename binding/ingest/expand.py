"""How ingest turns one file of a built-in modality into units (whole file, then segments).

A modality whose spec has no `expand` is ingested as one unit: `decode`, then `preprocess`
(`generic_expansion`). Text, audio, video and IMU have their own, named in their specs
(`binding.builtin_modalities`): a text file is read as UTF-8, long audio and video also get
one unit per `segment_seconds` window, an IMU recording one per 5 s window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from binding.config import Settings
from binding.errors import InputError
from binding.modality import Expansion, ModalitySpec

if TYPE_CHECKING:
    import torch

#: The segment of a tail shorter than this joins the window before it (one 2 s audio clip).
MIN_TAIL_SECONDS = 2.0


def segment_windows(duration: float, length: float) -> list[tuple[float, float]]:
    """Windows of `length` seconds from 0, no overlap; a tail under MIN_TAIL_SECONDS joins
    the window before it. Empty when the media fits in one window."""
    if duration <= length:
        return []
    bounds: list[tuple[float, float]] = []
    start = 0.0
    while start < duration:
        end = min(start + length, duration)
        if end - start < MIN_TAIL_SECONDS and bounds:
            bounds[-1] = (bounds[-1][0], duration)
            break
        bounds.append((start, end))
        start = end
    return bounds


def generic_expansion(spec: ModalitySpec, path: Path, label: str) -> Expansion:
    """One unit: the spec's decode (with the file's label for messages), then preprocess."""
    assert spec.preprocess is not None, f"modality {spec.name} has no preprocess"
    decoded = spec.decode(path, name=label) if spec.decode is not None else path
    facts = spec.facts(decoded) if spec.facts is not None else {}
    return Expansion([(None, None, spec.preprocess(decoded))], facts)


def picture_facts(decoded: Any) -> dict[str, Any]:
    """Width and height of a Pillow image, a `DepthMap` or an (H, W) array."""
    size = getattr(decoded, "size", None)
    if isinstance(size, tuple) and len(size) == 2:  # a Pillow image: (width, height)
        return {"width": int(size[0]), "height": int(size[1])}
    values = np.asarray(getattr(decoded, "values", decoded))  # (H, W)
    return {"width": int(values.shape[1]), "height": int(values.shape[0])}


#: Most passages one text file may give (about 50,000 words).
MAX_PASSAGES = 1000


def read_text_file(path: Path, source: str) -> str:
    """A text file's content: UTF-8 (a BOM is dropped); any other encoding is an
    `InputError` saying where the first undecodable byte is."""
    content = path.read_bytes()
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            source,
            f"text that is not UTF-8 (byte 0x{content[error.start]:02x} at {error.start}); "
            "save it as UTF-8",
        ) from None


def expand_text(path: Path, label: str, settings: Settings) -> Expansion:
    """One unit for a short text; a long one gets a point per passage within the tokenizer's
    context (start/end: character offsets), the whole document their mean."""
    from binding.preprocess.text import split_passages, tokenize

    text = read_text_file(path, label)
    passages = split_passages(text)
    if not passages:
        raise InputError(label, "the text is empty")
    if len(passages) > MAX_PASSAGES:
        raise InputError(
            label,
            f"{len(passages):,} passages of text, over the limit of {MAX_PASSAGES:,}; "
            "split the file",
        )
    facts = {"characters": len(text), "passages": len(passages)}
    if len(passages) == 1:
        return Expansion([(None, None, tokenize([text]))], facts)
    tokens = tokenize([text[a:b] for a, b in passages])
    units: list[Any] = [
        (float(a), float(b), tokens[i : i + 1]) for i, (a, b) in enumerate(passages)
    ]
    return Expansion(units, facts, whole_from_segments=True)


def expand_audio(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.io.audio import Audio, decode_audio
    from binding.preprocess.audio import preprocess_audio

    audio = decode_audio(path, name=label)
    duration = audio.duration_s
    facts = {
        "duration": round(duration, 3),
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
    }
    units: list[Any] = [(None, None, preprocess_audio(audio))]
    for start, end in segment_windows(duration, settings.segment_seconds):
        first, last = round(start * audio.sample_rate), round(end * audio.sample_rate)
        piece = Audio(audio.samples[:, first:last], audio.sample_rate, audio.source)
        units.append((start, end, preprocess_audio(piece)))
    return Expansion(units, facts)


class LazyWindows:
    """A video's window units, each decoded and preprocessed when the iteration reaches it,
    so the memory of an ingest does not grow with a video's length."""

    def __init__(self, video: Any, windows: list[tuple[float, float]]) -> None:
        self.video = video
        self.windows = windows

    def __iter__(self) -> Iterator[tuple[float, float, torch.Tensor]]:
        info = self.video.info
        try:
            for begin, finish in self.windows:
                first = min(round(begin * info.fps), info.frame_count - 1)
                stop = min(max(round(finish * info.fps), first + 1), info.frame_count)
                yield begin, finish, video_span(self.video, first, stop)
        finally:
            self.close()

    def close(self) -> None:
        self.video.close()


def video_span(video: Any, first: int, stop: int) -> torch.Tensor:
    """Network items of frames `first` .. `stop - 1` of an open video, as the reference cuts them."""
    from binding.preprocess.video import clip_frame_indices, preprocess_video

    fps = video.info.fps
    indices = [[first + i for i in clip] for clip in clip_frame_indices(stop - first, fps)]
    return preprocess_video(video.read_clips(indices), source=video.source)


def expand_video(path: Path, label: str, settings: Settings) -> Expansion:
    """The whole video now; its windows later, one at a time (`Expansion.more`)."""
    from binding.io.video import decode_video

    video = decode_video(
        path,
        name=label,
        max_seconds=settings.video_max_seconds,
        max_frames=settings.video_max_frames,
        time_budget_s=settings.video_time_budget,
    )
    try:
        info = video.info
        facts = {
            "duration": round(info.duration_s, 3),
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "frames": info.frame_count,
        }
        units: list[Any] = [(None, None, video_span(video, 0, info.frame_count))]
        spans = segment_windows(info.duration_s, settings.segment_seconds)
    except BaseException:
        video.close()
        raise
    if not spans:
        video.close()
        return Expansion(units, facts)
    return Expansion(units, facts, more=LazyWindows(video, spans))


def expand_imu(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.io.imu import decode_imu
    from binding.preprocess.imu import IMU_WINDOW_S, imu_windows

    recording = decode_imu(path, name=label)
    windows = list(imu_windows(recording))
    if not windows:
        raise InputError(label, "too short for one IMU window")
    facts: dict[str, Any] = {
        "duration": round(recording.duration_s, 3),
        "sample_rate": float(recording.sample_rate),
        "samples": int(recording.samples.shape[1]),
    }
    padded = sum(IMU_WINDOW_S - (end - start) for start, end, _ in windows)
    if padded > 1e-3:  # a recording shorter than its windows: zeros fill the rest
        facts["padded_s"] = round(padded, 3)
    if len(windows) == 1:
        return Expansion([(None, None, windows[0][2].unsqueeze(0))], facts)
    units: list[Any] = [
        (float(start), float(end), window.unsqueeze(0)) for start, end, window in windows
    ]
    return Expansion(units, facts, whole_from_segments=True)
