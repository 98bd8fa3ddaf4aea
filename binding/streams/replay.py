"""Recordings as entries: what a producer replays, and embedded-mode ingest with no Redis."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np

from binding.errors import InputError
from binding.modality import Modality, parse_modality
from binding.streams.embedding import embed_windows
from binding.streams.keys import (
    SAMPLES_PER_ENTRY,
    STREAM_MODALITIES,
    check_stream_id,
    stream_id_for,
)
from binding.streams.windows import Window, stream_windows
from binding.streams.wire import (
    decode_entry,
    encode_end_entry,
    encode_frame_entry,
    encode_imu_entry,
)

if TYPE_CHECKING:
    from binding.ingest import IngestContext


@dataclass(frozen=True)
class Recording:
    """What a publisher replays: IMU readings, or frames, with a run id from their content."""

    modality: Modality
    rate: float
    run: str
    readings: np.ndarray | None = None  # IMU: (T, 6) float32
    frames: tuple[tuple[bytes, str], ...] = ()  # (encoded frame, format)

    @property
    def count(self) -> int:
        return int(self.readings.shape[0]) if self.readings is not None else len(self.frames)


def frame_format(content: bytes) -> str:
    """The `fmt` of a frame, from its bytes (informative: consumers sniff again)."""
    from binding.io.sniff import sniff

    kind = sniff(content[:8192])
    return kind.format if kind is not None else "unknown"


def read_recording(
    sources: Sequence[Path | str],
    *,
    modality: Modality | str = Modality.IMU,
    rate: float | None = None,
) -> Recording:
    """A recording to replay: one IMU file (CSV or `.npy`), or frames (image files, folders of
    them, or 3-D `.npy` stacks (N, H, W)). `rate` is the IMU sample rate (default: the file's)
    or the frame rate (default 1 frame/s). The run id is the content's hash, so the same
    recording always gives the same windows and point ids."""
    kind = parse_modality(str(modality))
    if kind not in STREAM_MODALITIES:
        raise InputError(f"modality {kind}", "streams carry imu, thermal or depth")
    paths = [Path(s).expanduser() for s in sources]
    if not paths:
        raise InputError("stream", "no file given")
    if kind is Modality.IMU:
        if len(paths) != 1:
            raise InputError(", ".join(map(str, paths)), "an IMU stream replays one file")
        from binding.io.imu import decode_imu

        recording = decode_imu(paths[0], sample_rate=rate)
        readings = np.ascontiguousarray(recording.samples.T, dtype=np.float32)  # (T, 6)
        digest = hashlib.sha256(readings.tobytes() + repr(float(recording.sample_rate)).encode())
        return Recording(
            kind, float(recording.sample_rate), digest.hexdigest()[:32], readings=readings
        )
    frames: list[tuple[bytes, str]] = []
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                content = file.read_bytes()
            except OSError as error:
                raise InputError(file, f"cannot read: {error.strerror or error}") from None
            if content.startswith(b"\x93NUMPY"):
                from binding.io.npy import load_npy

                array = load_npy(content, name=str(file))
                if array.ndim == 3:  # a stack of frames (N, H, W)
                    for plane in array:
                        buffer = _npy_bytes(plane)
                        frames.append((buffer, "npy"))
                    continue
            frames.append((content, frame_format(content)))
    if not frames:
        raise InputError(", ".join(map(str, paths)), "no frames found")
    digest = hashlib.sha256()
    for content, _ in frames:
        digest.update(hashlib.sha256(content).digest())
    fps = 1.0 if rate is None else float(rate)
    return Recording(kind, fps, digest.hexdigest()[:32], frames=tuple(frames))


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def recording_fields(
    recording: Recording, *, start_time: float, samples_per_entry: int = SAMPLES_PER_ENTRY
) -> Iterator[tuple[float, dict[str, str | bytes]]]:
    """The entries of a recording, with the run-relative second each becomes due, end last."""
    if recording.readings is not None:
        readings = recording.readings
        step = max(1, int(samples_per_entry))
        for first in range(0, readings.shape[0], step):
            chunk = readings[first : first + step]
            due = (first + chunk.shape[0]) / recording.rate
            yield (
                due,
                encode_imu_entry(
                    recording.run, first, start_time + first / recording.rate, recording.rate, chunk
                ),
            )
    else:
        for index, (frame, fmt) in enumerate(recording.frames):
            yield (
                index / recording.rate,
                encode_frame_entry(
                    recording.modality,
                    recording.run,
                    index,
                    start_time + index / recording.rate,
                    recording.rate,
                    frame,
                    fmt,
                ),
            )
    yield recording.count / recording.rate, encode_end_entry(recording.run, recording.count)


@dataclass(frozen=True)
class StreamIngestReport:
    """What `ingest_recording` stored: the stream, its run, and each window's point id."""

    stream: str
    modality: str
    run: str
    ids: list[UUID]
    incomplete: int = 0
    rejected: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ids"] = [str(i) for i in self.ids]
        out["windows"] = len(self.ids)
        return out


def ingest_recording(
    engine: IngestContext,
    sources: Sequence[Path | str],
    *,
    stream: str | None = None,
    modality: Modality | str = Modality.IMU,
    rate: float | None = None,
    hop_s: float | None = None,
    tags: Sequence[str] = (),
    start_time: float | None = None,
) -> StreamIngestReport:
    """Embedded mode: window a recording exactly as a stream consumer would, with no Redis,
    and upsert the windows into `engine`'s store (stream id, time span). Returns the ids.

    `engine` is a `binding.api.Engine` (anything with `model`, `encoder`, `store`, `media`).
    The stream id defaults to the file's stem; `start_time` (epoch seconds of the first
    sample) to now. Point ids equal those a consumer gives the same recording published to
    the same stream id.
    """
    recording = read_recording(sources, modality=modality, rate=rate)
    stream_id = check_stream_id(stream or stream_id_for(sources[0]))
    cutter = stream_windows(stream_id, recording.modality, hop_s=hop_s)
    origin = time.time() if start_time is None else float(start_time)
    windows: list[Window] = []
    for number, (_, fields) in enumerate(recording_fields(recording, start_time=origin)):
        entry = decode_entry(stream_id, f"0-{number}", {"n": str(number), **fields})
        windows += cutter.add(entry)
    ids: list[UUID] = []
    rejected: list[str] = []
    batch = 256
    for first in range(0, len(windows), batch):
        result = embed_windows(
            engine.encoder,
            engine.model,
            windows[first : first + batch],
            media=engine.media,
            tags=tags,
        )
        if result.points:
            engine.store.upsert(result.points, wait=True)
        ids += [p.id for p in result.points]
        rejected += [f"{w.segment}: {reason}" for w, reason in result.failed]
    return StreamIngestReport(
        stream_id, recording.modality.value, recording.run, ids, cutter.incomplete, rejected
    )
