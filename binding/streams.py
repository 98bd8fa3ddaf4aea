"""Sensor streams: readings flow in through Redis Streams, windows come out as points, once.

A stream is one sensor: a Redis stream `binding:stream:<id>` of timestamped readings (IMU
samples, several per entry) or frames (thermal, depth: one per entry). A producer
(`StreamProducer`, `publish_readings`, `publish_recording`) appends entries; a consumer
(`StreamConsumer`, what `binding worker streams` runs) cuts them into windows, embeds each
window, upserts it with the stream id and its time span, and acknowledges the entries only
after the upsert returned. `ingest_recording` windows a recording the same way with no Redis
at all (embedded mode), and gives the same point ids.

Wire format, version 1 (every field a Redis string; `docs/streams.md` has the full table):

| field | entries | meaning |
|---|---|---|
| `n` | all | sequence number in the stream, 0, 1, 2...; written by the producer's script |
| `v` | all | `1` (`WIRE_VERSION`) |
| `kind` | all | `imu`, `thermal`, `depth`, or `end` (a run is over) |
| `run` | all | id of the run (one recording, one sensor session) the entry belongs to |
| `i` | all | index of the entry's first sample (frame) within its run; `end`: samples in the run |
| `t` | all but `end` | seconds since the epoch of the first sample (frame) |
| `rate` | all but `end` | samples (frames) per second |
| `c`, `enc`, `x` | `imu` | sample count, `f32le` or `json`, the samples (c rows of 6: acc xyz, gyro xyz) |
| `fmt`, `x` | frames | `png`, `npy`, `tiff`, `jpeg`: one encoded frame |

Windows are cut on a grid anchored at sample 0 of each run: IMU windows of 5 s (2,000
samples at 400 Hz) every `hop` seconds (default 5 s: back to back), the last partial window
zero-padded when it holds at least 0.5 s of data (the rule of `binding.preprocess.imu`);
frames one per window. A window's identity is (stream, modality, run, first sample, end), so
a redelivered or re-published window lands on the same point id.

Delivery (see `docs/streams.md` for the reasoning):

- One consumer at a time reads a stream (a lease, `...:owner:<group>`), because a window
  spans many entries; consumers share the streams between them.
- An entry is acknowledged once every window it belongs to is stored, so after a crash the
  pending entries rebuild the unfinished windows: the next owner takes them with XAUTOCLAIM.
- An entry delivered more than `MAX_DELIVERIES` times, or one that cannot be decoded, goes to
  `binding:stream:<id>:dead` with the reason, and is acknowledged.
- Streams are bounded (`XADD MAXLEN ~`). Redis 7.0 trims unread and unacknowledged entries
  too, so the consumer counts what it never got: gaps in `n` at read time, and entries that
  XAUTOCLAIM reports deleted. At rest, `produced == processed + dropped + dead`, exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import numpy as np

from binding.errors import ConfigurationError, InputError
from binding.modality import Modality, parse_modality
from binding.points import clean_tags, make_payload, point_id, segment_label

if TYPE_CHECKING:
    import torch

    from binding.encoder import Encoder
    from binding.media import MediaStore
    from binding.store.base import Point

log = logging.getLogger(__name__)

#: Version of the entry layout; an entry of another version is dead-lettered.
WIRE_VERSION = 1
#: Prefix of every stream key: `binding:stream:<id>`.
KEY_PREFIX = "binding:stream:"
#: Set of the ids of every stream a producer has written to.
REGISTRY_KEY = "binding:streams"
#: Sorted set of live consumers (score: last heartbeat, ms), per group.
CONSUMERS_KEY = "binding:stream-consumers:"
#: The consumer group used unless told otherwise.
DEFAULT_GROUP = "binding"
#: Modalities a stream may carry: IMU readings, or frames.
STREAM_MODALITIES = (Modality.IMU, Modality.THERMAL, Modality.DEPTH)
FRAME_MODALITIES = (Modality.THERMAL, Modality.DEPTH)
#: IMU samples per entry by default: 100 ms at 400 Hz (a 1 kB entry).
SAMPLES_PER_ENTRY = 40
#: Default stream bound, in entries: ~17 min of 400 Hz IMU (~11 MB), or 1,000 frames.
DEFAULT_MAXLEN = {Modality.IMU: 10_000, Modality.THERMAL: 1_000, Modality.DEPTH: 1_000}
#: Deliveries after which an entry is dead-lettered (the first read is delivery 1).
MAX_DELIVERIES = 3
#: Bound of each dead-letter stream, in entries.
DEAD_MAXLEN = 10_000
#: Largest entry payload accepted: samples per IMU entry, bytes per frame.
MAX_ENTRY_SAMPLES = 40_000
MAX_FRAME_BYTES = 32 * 1024 * 1024
#: Frame rates accepted (frames per second).
MIN_FRAME_RATE, MAX_FRAME_RATE = 1e-3, 1_000.0

_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_stream_id(stream: str) -> str:
    """A stream id as used in keys: 1-64 letters, digits, `_`, `-`, `.` (no `:`)."""
    if not isinstance(stream, str) or not _STREAM_ID.fullmatch(stream):
        raise InputError(
            f"stream {stream!r}",
            "a stream id is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit",
        )
    return stream


def stream_id_for(path: Path | str) -> str:
    """A stream id made from a file name (its stem, with other characters as `_`)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip("._-")[:64]
    return stem or "stream"


@dataclass(frozen=True)
class StreamKeys:
    """The Redis keys of one stream."""

    stream: str

    @property
    def entries(self) -> str:
        return KEY_PREFIX + self.stream

    @property
    def meta(self) -> str:
        """Hash: modality, rate, bound, version, and `produced` (entries ever added)."""
        return f"{KEY_PREFIX}{self.stream}:meta"

    @property
    def dead(self) -> str:
        """Stream of dead letters: the entry, its reason, its deliveries."""
        return f"{KEY_PREFIX}{self.stream}:dead"

    def counts(self, group: str) -> str:
        """Hash of what `group` did: next, delivered, processed, dropped, dead, windows..."""
        return f"{KEY_PREFIX}{self.stream}:counts:{group}"

    def owner(self, group: str) -> str:
        """The lease: which consumer of `group` reads this stream now."""
        return f"{KEY_PREFIX}{self.stream}:owner:{group}"


def stream_keys(stream: str) -> StreamKeys:
    return StreamKeys(check_stream_id(stream))


# --- wire format ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One decoded stream entry."""

    id: str  # the Redis entry id
    seq: int | None  # `n`
    kind: str  # "imu", "thermal", "depth" or "end"
    run: str
    index: int  # first sample (frame) within the run; for "end": the run's sample count
    time: float | None = None  # epoch seconds of the first sample
    rate: float | None = None
    samples: np.ndarray | None = None  # (c, 6) float32, IMU only
    frame: bytes | None = None  # frames only
    fmt: str | None = None

    @property
    def count(self) -> int:
        """Samples (frames) the entry carries."""
        if self.samples is not None:
            return int(self.samples.shape[0])
        return 1 if self.frame is not None else 0


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def _base_fields(kind: str, run: str, index: int) -> dict[str, str | bytes]:
    if not _RUN_ID.fullmatch(run):
        raise InputError(f"run {run!r}", "a run id is 1-64 letters, digits, '_', '-' or '.'")
    if index < 0:
        raise ValueError(f"a sample index is never negative, got {index}")
    return {"v": str(WIRE_VERSION), "kind": kind, "run": run, "i": str(int(index))}


def encode_imu_entry(
    run: str,
    index: int,
    time_s: float,
    rate: float,
    samples: np.ndarray,
    *,
    encoding: Literal["f32le", "json"] = "f32le",
) -> dict[str, str | bytes]:
    """Fields of an IMU entry: `samples` is (c, 6), one row per sample (acc xyz, gyro xyz)."""
    rows = np.asarray(samples, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != 6 or rows.shape[0] < 1:
        raise ValueError(f"IMU samples must be (count, 6), got {rows.shape}")
    fields = _base_fields("imu", run, index)
    fields.update(t=repr(float(time_s)), rate=repr(float(rate)), c=str(rows.shape[0]))
    if encoding == "f32le":
        fields.update(enc="f32le", x=rows.astype("<f4").tobytes())
    elif encoding == "json":
        fields.update(enc="json", x=json.dumps(rows.tolist()))
    else:
        raise ValueError(f"encoding must be 'f32le' or 'json', not {encoding!r}")
    return fields


def encode_frame_entry(
    modality: Modality | str,
    run: str,
    index: int,
    time_s: float,
    rate: float,
    frame: bytes,
    fmt: str,
) -> dict[str, str | bytes]:
    """Fields of a frame entry: one encoded thermal or depth frame (PNG, TIFF, JPEG or .npy)."""
    kind = parse_modality(str(modality))
    if kind not in FRAME_MODALITIES:
        raise ValueError(f"frames are thermal or depth, not {kind}")
    fields = _base_fields(kind.value, run, index)
    fields.update(t=repr(float(time_s)), rate=repr(float(rate)), fmt=fmt, x=bytes(frame))
    return fields


def encode_end_entry(run: str, total: int) -> dict[str, str | bytes]:
    """Fields of the entry that ends a run of `total` samples (frames)."""
    return _base_fields("end", run, total)


def decode_entry(stream: str, entry_id: str, fields: dict[Any, Any]) -> Entry:
    """An entry from its Redis fields; `InputError` naming the entry for anything malformed."""
    label = f"stream {stream} entry {entry_id}"
    got = {_text(k): v for k, v in fields.items()}
    if not got:
        raise InputError(label, "the entry has no fields (deleted)")

    def number(name: str, kind: type = float) -> Any:
        if name not in got:
            raise InputError(label, f"no field {name!r}")
        try:
            value = kind(_text(got[name]))
        except ValueError:
            raise InputError(
                label, f"field {name!r} is not a number: {_text(got[name])!r}"
            ) from None
        if kind is float and not math.isfinite(value):
            raise InputError(label, f"field {name!r} is not finite")
        return value

    seq = number("n", int) if "n" in got else None
    version = _text(got.get("v", ""))
    if version != str(WIRE_VERSION):
        raise InputError(
            label, f"wire format version {version!r}; this consumer reads {WIRE_VERSION}"
        )
    kind = _text(got.get("kind", ""))
    run = _text(got.get("run", ""))
    if not _RUN_ID.fullmatch(run):
        raise InputError(label, f"bad run id {run!r}")
    index = number("i", int)
    if index < 0:
        raise InputError(label, f"negative sample index {index}")
    if kind == "end":
        return Entry(entry_id, seq, kind, run, index)
    time_s, rate = number("t"), number("rate")
    if kind == "imu":
        from binding.io.imu import MAX_IMU_RATE, MIN_IMU_RATE

        if not MIN_IMU_RATE <= rate <= MAX_IMU_RATE:
            raise InputError(
                label, f"IMU rate {rate:g} Hz is outside {MIN_IMU_RATE:g}-{MAX_IMU_RATE:g}"
            )
        count = number("c", int)
        if not 1 <= count <= MAX_ENTRY_SAMPLES:
            raise InputError(label, f"{count} samples; an entry holds 1 to {MAX_ENTRY_SAMPLES}")
        payload = got.get("x", b"")
        encoding = _text(got.get("enc", "f32le"))
        if encoding == "f32le":
            raw = (
                bytes(payload)
                if isinstance(payload, bytes | bytearray)
                else _text(payload).encode()
            )
            if len(raw) != count * 6 * 4:
                raise InputError(
                    label,
                    f"{len(raw)} bytes of samples; {count} samples of 6 float32 are {count * 24}",
                )
            samples = np.frombuffer(raw, dtype="<f4").reshape(count, 6).astype(np.float32)
        elif encoding == "json":
            try:
                rows = json.loads(_text(payload))
                samples = np.asarray(rows, dtype=np.float32)
            except (ValueError, TypeError):
                raise InputError(
                    label, "samples are not a JSON list of rows of 6 numbers"
                ) from None
            if samples.shape != (count, 6):
                raise InputError(label, f"samples of shape {samples.shape}; expected ({count}, 6)")
        else:
            raise InputError(label, f"unknown sample encoding {encoding!r} (f32le or json)")
        if not np.isfinite(samples).all():
            row = int(np.nonzero(~np.isfinite(samples))[0][0])
            raise InputError(label, f"NaN or infinity in sample {index + row}")
        return Entry(entry_id, seq, kind, run, index, time_s, rate, samples=samples)
    if kind in (Modality.THERMAL.value, Modality.DEPTH.value):
        if not MIN_FRAME_RATE <= rate <= MAX_FRAME_RATE:
            raise InputError(
                label, f"frame rate {rate:g} is outside {MIN_FRAME_RATE:g}-{MAX_FRAME_RATE:g}"
            )
        frame = got.get("x")
        if not isinstance(frame, bytes | bytearray) or not frame:
            raise InputError(label, "no frame bytes")
        if len(frame) > MAX_FRAME_BYTES:
            raise InputError(label, f"frame of {len(frame):,} bytes, over {MAX_FRAME_BYTES:,}")
        fmt = _text(got.get("fmt", ""))
        return Entry(entry_id, seq, kind, run, index, time_s, rate, frame=bytes(frame), fmt=fmt)
    raise InputError(label, f"unknown entry kind {kind!r}")


# --- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowGrid:
    """Where a run's windows fall, in samples at the stream's rate."""

    rate: float
    length: int  # samples per window
    hop: int  # samples between window starts
    min_tail: int  # fewest samples of real data in a padded last window

    @classmethod
    def for_imu(cls, rate: float, hop_s: float | None = None) -> WindowGrid:
        """5 s windows (2,000 samples at 400 Hz) every `hop_s` seconds (default: 5 s)."""
        from binding.io.imu import MIN_IMU_SECONDS
        from binding.preprocess.imu import IMU_WINDOW_S

        length = max(2, round(IMU_WINDOW_S * rate))
        hop = length if hop_s is None else round(hop_s * rate)
        if hop < 1:
            raise ValueError(f"hop must be at least one sample, got {hop_s} s at {rate:g} Hz")
        return cls(float(rate), length, hop, max(2, round(MIN_IMU_SECONDS * rate)))

    def spans(self, total: int) -> list[tuple[int, int]]:
        """[start, end) of each window of a run of `total` samples, end = where data ends.

        The rule of `binding.preprocess.imu.imu_windows`: one window if the run fits in one
        (none if it is shorter than `min_tail`); else full windows every `hop`, and a last
        padded one at the next hop if it would hold at least `min_tail` samples no window holds.
        """
        if total <= self.length:
            return [(0, total)] if total >= self.min_tail else []
        starts = list(range(0, total - self.length + 1, self.hop))
        tail = starts[-1] + self.hop
        uncovered = total - max(tail, starts[-1] + self.length)
        if tail < total and uncovered >= self.min_tail:
            starts.append(tail)
        return [(start, min(start + self.length, total)) for start in starts]


def window_identity(stream: str, modality: Modality | str, run: str, start: int, end: int) -> str:
    """The content identity of a window, as a sha256 hex digest: what makes its point id."""
    text = f"binding-stream-window/{WIRE_VERSION}\n{stream}\n{modality}\n{run}\n{start}\n{end}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class Window:
    """One window of a stream: the readings of [start, end) of a run (or one frame)."""

    stream: str
    modality: Modality
    run: str
    start: int  # first sample (frame) within the run
    end: int  # sample (frame) after the last real one
    rate: float
    time: float  # epoch seconds of the first sample
    entry_ids: tuple[str, ...]
    samples: np.ndarray | None = None  # IMU: (end - start, 6) float32
    frame: bytes | None = None
    fmt: str | None = None

    @property
    def identity(self) -> str:
        return window_identity(self.stream, self.modality.value, self.run, self.start, self.end)

    @property
    def start_s(self) -> float:
        """Seconds from the start of the run."""
        return self.start / self.rate

    @property
    def end_s(self) -> float:
        return self.end / self.rate

    @property
    def segment(self) -> str:
        return segment_label(self.start_s, self.end_s)

    def point_id(self, model: str) -> UUID:
        return point_id(model, self.modality, self.identity, self.segment)


def imu_window_item(samples: np.ndarray, rate: float) -> torch.Tensor:
    """(n, 6) samples at `rate` -> the IMU tower's (6, 2000) input: resampled to 400 Hz if
    needed, zero-padded at the end (as `binding.preprocess.imu.imu_windows` does)."""
    import torch

    from binding.io.imu import ImuRecording
    from binding.preprocess.imu import IMU_RATE, IMU_WINDOW, resample_imu

    channels = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).T)  # (6, n)
    if rate != IMU_RATE:
        channels = resample_imu(ImuRecording(channels, float(rate))).samples  # (6, n')
    item = torch.from_numpy(np.ascontiguousarray(channels[:, :IMU_WINDOW]))
    if item.shape[1] < IMU_WINDOW:
        item = torch.nn.functional.pad(item, (0, IMU_WINDOW - item.shape[1]))
    return item.contiguous()  # (6, 2000)


class ImuWindows:
    """The windows of one IMU stream, cut from its entries as they arrive in order.

    `add(entry)` returns the windows that entry completes. Windows missing samples (entries
    the stream dropped) are counted in `incomplete`, not returned. `ackable()` gives the
    entries every window of which is settled, so a caller that has stored the windows it was
    given may acknowledge them.
    """

    def __init__(self, stream: str, *, hop_s: float | None = None) -> None:
        self.stream = stream
        self.hop_s = hop_s
        self.run: str | None = None
        self.grid: WindowGrid | None = None
        self.incomplete = 0
        self._chunks: deque[tuple[int, np.ndarray, str]] = deque()  # (first sample, (c, 6), id)
        self._pending: deque[tuple[str, int]] = deque()  # (entry id, last window it is in)
        self._done: list[str] = []  # entries with nothing left to wait for
        self._expected = 0  # sample after the last one received
        self._next = 0  # next window index to settle
        self._origin_time = 0.0  # epoch of sample 0 of the run

    @property
    def holding(self) -> int:
        """Entries received and not yet ackable."""
        return len(self._pending) + len(self._done)

    def add(self, entry: Entry) -> list[Window]:
        windows: list[Window] = []
        if entry.kind == "end":
            if self.run is not None and entry.run == self.run:
                windows += self._close(max(entry.index, self._expected))
            elif self.run is not None:
                windows += self._close(self._expected)
            self._done.append(entry.id)
            return windows
        if entry.kind != "imu" or entry.samples is None or entry.rate is None:
            raise InputError(
                f"stream {self.stream} entry {entry.id}", f"a {entry.kind} entry in an IMU stream"
            )
        if entry.run != self.run:
            if self.run is not None:
                windows += self._close(self._expected)
            self._start(entry)
        assert self.grid is not None
        label = f"stream {self.stream} entry {entry.id}"
        if entry.rate != self.grid.rate:
            raise InputError(
                label, f"rate {entry.rate:g} Hz differs from the run's {self.grid.rate:g} Hz"
            )
        if entry.index < self._expected:
            raise InputError(
                label,
                f"samples from {entry.index} overlap those already received (up to {self._expected})",
            )
        count = entry.count
        self._chunks.append((entry.index, entry.samples, entry.id))
        self._expected = entry.index + count
        self._pending.append((entry.id, (entry.index + count - 1) // self.grid.hop))
        windows += self._settle_full()
        return windows

    def ackable(self) -> list[str]:
        """Entries whose windows are all settled; each is returned once."""
        out, self._done = self._done, []
        while self._pending and self._pending[0][1] < self._next:
            out.append(self._pending.popleft()[0])
        return out

    # -- internals ------------------------------------------------------------------------

    def _start(self, entry: Entry) -> None:
        assert entry.rate is not None and entry.time is not None
        self.run = entry.run
        self.grid = WindowGrid.for_imu(entry.rate, self.hop_s)
        self._chunks.clear()
        self._expected = entry.index
        # Windows starting before the first sample we get were settled by whoever acked the
        # entries before it (or lost with them): start at the first window at or after it.
        self._next = -(-entry.index // self.grid.hop)
        self._origin_time = entry.time - entry.index / entry.rate

    def _settle_full(self) -> list[Window]:
        assert self.grid is not None
        out = []
        grid = self.grid
        while self._next * grid.hop + grid.length <= self._expected:
            start = self._next * grid.hop
            window = self._window(start, start + grid.length)
            if window is not None:
                out.append(window)
            self._next += 1
        self._forget_before(self._next * grid.hop)
        return out

    def _close(self, total: int) -> list[Window]:
        """End the run at `total` samples: its remaining windows, padded tail included."""
        assert self.grid is not None
        out = []
        first = self._next * self.grid.hop
        for start, end in self.grid.spans(total):
            if start >= first:
                window = self._window(start, end)
                if window is not None:
                    out.append(window)
        self._done += [entry_id for entry_id, _ in self._pending]
        self._pending.clear()
        self._chunks.clear()
        self.run, self.grid = None, None
        self._expected = self._next = 0
        return out

    def _window(self, start: int, end: int) -> Window | None:
        """The window [start, end) if every sample of it was received, else None (counted)."""
        assert self.grid is not None and self.run is not None
        pieces, ids, cursor = [], [], start
        for first, samples, entry_id in self._chunks:
            last = first + samples.shape[0]
            if last <= cursor:
                continue
            if first > cursor or cursor >= end:
                break
            stop = min(end, last)
            pieces.append(samples[cursor - first : stop - first])
            ids.append(entry_id)
            cursor = stop
        if cursor < end:
            self.incomplete += 1
            return None
        return Window(
            stream=self.stream,
            modality=Modality.IMU,
            run=self.run,
            start=start,
            end=end,
            rate=self.grid.rate,
            time=self._origin_time + start / self.grid.rate,
            entry_ids=tuple(ids),
            samples=np.concatenate(pieces),  # (end - start, 6)
        )

    def _forget_before(self, sample: int) -> None:
        while self._chunks and self._chunks[0][0] + self._chunks[0][1].shape[0] <= sample:
            self._chunks.popleft()


class FrameWindows:
    """The windows of a thermal or depth stream: one per frame."""

    def __init__(self, stream: str, modality: Modality) -> None:
        self.stream = stream
        self.modality = modality
        self.incomplete = 0
        self._done: list[str] = []

    @property
    def holding(self) -> int:
        return len(self._done)

    def add(self, entry: Entry) -> list[Window]:
        self._done.append(entry.id)
        if entry.kind == "end":
            return []
        if entry.kind != self.modality.value or entry.frame is None:
            raise InputError(
                f"stream {self.stream} entry {entry.id}",
                f"a {entry.kind} entry in a {self.modality} stream",
            )
        assert entry.rate is not None and entry.time is not None
        return [
            Window(
                stream=self.stream,
                modality=self.modality,
                run=entry.run,
                start=entry.index,
                end=entry.index + 1,
                rate=entry.rate,
                time=entry.time,
                entry_ids=(entry.id,),
                frame=entry.frame,
                fmt=entry.fmt,
            )
        ]

    def ackable(self) -> list[str]:
        out, self._done = self._done, []
        return out


StreamWindows = ImuWindows | FrameWindows


def stream_windows(
    stream: str, modality: Modality | str, *, hop_s: float | None = None
) -> StreamWindows:
    """The window cutter for a stream of `modality`."""
    kind = parse_modality(str(modality))
    if kind is Modality.IMU:
        return ImuWindows(stream, hop_s=hop_s)
    if kind in FRAME_MODALITIES:
        return FrameWindows(stream, kind)
    raise InputError(f"stream {stream}", f"streams carry imu, thermal or depth, not {kind}")


# --- embedding windows ---------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedResult:
    """Points for the windows that embedded, and the windows that could not, with reasons."""

    points: list[Point]
    failed: list[tuple[Window, str]]


def embed_windows(
    encoder: Encoder,
    model: str,
    windows: Sequence[Window],
    *,
    media: MediaStore | None = None,
    tags: Sequence[str] = (),
) -> EmbedResult:
    """Embed windows in full batches per modality; frames are kept in `media` if given.

    A frame that cannot be decoded fails alone (`InputError` reasons come back in `failed`);
    any other error propagates (the consumer crashes and the entries are redelivered).
    """
    import torch

    from binding.inputs import prepare_one
    from binding.store.base import Point

    tag_list = clean_tags(list(tags))
    failed: list[tuple[Window, str]] = []
    ready: dict[Modality, list[tuple[Window, torch.Tensor]]] = {}
    for window in windows:
        try:
            if window.modality is Modality.IMU:
                assert window.samples is not None
                item = imu_window_item(window.samples, window.rate)  # (6, 2000)
            else:
                item = prepare_one(window.modality, window.frame)[0]  # (1, 224, 224)
        except InputError as error:
            failed.append((window, error.reason))
            continue
        ready.setdefault(window.modality, []).append((window, item))
    points: list[Point] = []
    for modality, items in ready.items():
        limit = encoder.batch_size(modality)
        for first in range(0, len(items), limit):
            chunk = items[first : first + limit]
            raw = encoder.forward_items(
                modality, torch.stack([item for _, item in chunk])
            )  # (B, D)
            for (window, _), row in zip(chunk, raw.double().numpy(), strict=True):
                norm = float(np.linalg.norm(row))
                if not np.isfinite(row).all() or norm < 1e-12:
                    failed.append((window, "the network returned a zero or non-finite vector"))
                    continue
                points.append(
                    Point(
                        id=window.point_id(model),
                        vector=(row / norm).astype(np.float32),
                        payload=_window_payload(window, model, media, tag_list),
                    )
                )
    return EmbedResult(points, failed)


def _window_payload(
    window: Window, model: str, media: MediaStore | None, tags: list[str]
) -> dict[str, Any]:
    sha256, mime, size, stored = window.identity, None, 0, None
    facts: dict[str, Any] = {
        "run": window.run,
        "first_sample": window.start,
        "samples": window.end - window.start,
        "rate": window.rate,
        "time_end": window.time + (window.end - window.start) / window.rate,
    }
    if window.frame is not None:
        from binding.io.sniff import sniff

        kind = sniff(window.frame[:8192])
        sha256 = hashlib.sha256(window.frame).hexdigest()  # frames: content hash, as files
        mime, size = (kind.mime if kind else None), len(window.frame)
        if media is not None:
            stored = media.put_bytes(window.frame, ext=kind.extension if kind else None).relative
        facts["frame_format"] = window.fmt
    return make_payload(
        model=model,
        modality=window.modality,
        source=f"stream:{window.stream}",
        name=f"{window.stream} {window.segment}",
        sha256=sha256,
        mime=mime,
        size=size,
        media=stored,
        time=window.time,
        tags=tags,
        facts=facts,
        start=window.start_s,
        end=window.end_s,
        stream=window.stream,
    )


# --- recordings as entries (the producer's input, and embedded-mode ingest) ---------------


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


def _frame_format(content: bytes) -> str:
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
            frames.append((content, _frame_format(content)))
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
    engine: Any,
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


# --- Redis scripts -------------------------------------------------------------------------
# Each script does a stream command and the count that goes with it atomically, so a crash
# between the two cannot make the books disagree.

# KEYS: stream, meta. ARGV: maxlen (0: unbounded), '~' or '=', then field/value pairs.
_PRODUCE = """
local n = redis.call('HINCRBY', KEYS[2], 'produced', 1) - 1
local id
if tonumber(ARGV[1]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[1], '*', 'n', n, unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', 'n', n, unpack(ARGV, 3))
end
return {n, id}
"""

# KEYS: stream, counts. ARGV: group, consumer, count. Entries the group never got (trimmed
# before anyone read them) show as gaps in `n`: they are counted as dropped here.
_READ = """
local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not res then return {} end
local entries = res[1][2]
local expect = tonumber(redis.call('HGET', KEYS[2], 'next') or '0')
local skipped = 0
for _, e in ipairs(entries) do
  local f = e[2]
  for j = 1, #f, 2 do
    if f[j] == 'n' then
      local seq = tonumber(f[j + 1])
      if seq then
        if seq > expect then skipped = skipped + (seq - expect) end
        if seq + 1 > expect then expect = seq + 1 end
      end
      break
    end
  end
end
redis.call('HSET', KEYS[2], 'next', expect)
redis.call('HINCRBY', KEYS[2], 'delivered', #entries)
if skipped > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', skipped) end
return entries
"""

# KEYS: stream, counts. ARGV: group, consumer, min idle ms, cursor, count. Pending entries
# trimmed before anyone acknowledged them come back as deleted ids: counted as dropped.
_CLAIM = """
local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local deleted = res[3] or {}
if #deleted > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', #deleted) end
return {res[1], res[2], #deleted}
"""

# KEYS: stream, counts. ARGV: group, windows stored, windows incomplete, now (s), ids...
_ACK = """
local n = 0
if #ARGV >= 5 then n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 5)) end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'processed', n) end
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[2], 'windows', ARGV[2]) end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[2], 'windows_incomplete', ARGV[3]) end
redis.call('HSET', KEYS[2], 'acked_at', ARGV[4])
return n
"""

# KEYS: stream, counts, dead. ARGV: group, id, dead maxlen, then field/value pairs.
_DEAD = """
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
  redis.call('HINCRBY', KEYS[2], 'dead', n)
end
return n
"""

# KEYS: lease. ARGV: consumer, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(url: str | None, **options: Any) -> Any:
    """A redis-py client (bytes responses) for `url`; a clear error when it is not set."""
    if not url:
        raise ConfigurationError(
            "no Redis URL: set BINDING_BROKER_URL (e.g. redis://localhost:6379/0) or pass --redis"
        )
    try:
        import redis
    except ImportError as error:  # pragma: no cover - redis is a dependency of streams
        raise ConfigurationError("sensor streams need redis-py: pip install redis") from error
    return redis.Redis.from_url(url, **options)


def _client(redis_or_url: Any) -> Any:
    return (
        connect(redis_or_url)
        if isinstance(redis_or_url, str) or redis_or_url is None
        else redis_or_url
    )


# --- producer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishReport:
    """What a producer wrote: entries (end marker included), readings, and the time it took."""

    stream: str
    run: str
    entries: int
    readings: int
    seconds: float
    first_seq: int | None
    last_seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StreamProducer:
    """Writes one sensor's readings to its stream, bounded to `maxlen` entries.

    IMU readings are buffered into entries of `samples_per_entry` samples; frames go one per
    entry. `end()` writes the rest and the entry that ends the run (which lets the consumer
    embed the last, partial window). Writes are pipelined `batch` entries at a time; with
    `realtime`, each entry is sent when its last reading is due (`rate` per second).
    """

    def __init__(
        self,
        redis_or_url: Any,
        stream: str,
        modality: Modality | str = Modality.IMU,
        *,
        rate: float,
        run: str | None = None,
        maxlen: int | None = None,
        approximate: bool = True,
        samples_per_entry: int = SAMPLES_PER_ENTRY,
        start_time: float | None = None,
        realtime: bool = False,
        batch: int = 100,
    ) -> None:
        self.client = _client(redis_or_url)
        self.keys = stream_keys(stream)
        self.modality = parse_modality(str(modality))
        if self.modality not in STREAM_MODALITIES:
            raise InputError(
                f"stream {stream}", f"streams carry imu, thermal or depth, not {self.modality}"
            )
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, got {rate}")
        self.rate = float(rate)
        self.run = run or os.urandom(8).hex()
        self.maxlen = DEFAULT_MAXLEN[self.modality] if maxlen is None else int(maxlen)
        if self.maxlen < 1:
            raise ValueError(f"maxlen must be at least 1 entry, got {maxlen}")
        self.approximate = approximate
        self.samples_per_entry = max(1, int(samples_per_entry))
        self.start_time = time.time() if start_time is None else float(start_time)
        self.realtime = realtime
        self.batch = max(1, int(batch))
        self._script = self.client.register_script(_PRODUCE)
        self._pipe = self.client.pipeline(transaction=False)
        self._queued = 0
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._index = 0  # next sample (frame) index of the run
        self._entries = 0
        self._first: int | None = None
        self._last: int | None = None
        self._wall0 = time.monotonic()
        self._ended = False
        self._register()

    def _register(self) -> None:
        meta = self.keys.meta
        self.client.sadd(REGISTRY_KEY, self.keys.stream)
        self.client.hsetnx(meta, "modality", self.modality.value)
        found = _text(self.client.hget(meta, "modality"))
        if found != self.modality.value:
            raise InputError(f"stream {self.keys.stream}", f"carries {found}, not {self.modality}")
        self.client.hset(
            meta, mapping={"v": WIRE_VERSION, "rate": repr(self.rate), "maxlen": self.maxlen}
        )

    def send(self, readings: np.ndarray) -> None:
        """Queue IMU readings, (T, 6): one row per sample, acc x y z then gyro x y z."""
        rows = np.asarray(readings, dtype=np.float32)
        if self.modality is not Modality.IMU or rows.ndim != 2 or rows.shape[1] != 6:
            raise ValueError(f"send() takes IMU readings of shape (T, 6), got {rows.shape}")
        if not np.isfinite(rows).all():
            raise InputError(f"stream {self.keys.stream}", "NaN or infinity in the readings")
        self._buffer.append(rows)
        self._buffered += rows.shape[0]
        while self._buffered >= self.samples_per_entry:
            self._emit_samples(self.samples_per_entry)

    def send_frame(self, frame: bytes, fmt: str | None = None) -> None:
        """Queue one encoded frame (PNG, TIFF, JPEG or `.npy` bytes)."""
        if self.modality not in FRAME_MODALITIES:
            raise ValueError("send_frame() is for thermal and depth streams")
        fields = encode_frame_entry(
            self.modality,
            self.run,
            self._index,
            self.start_time + self._index / self.rate,
            self.rate,
            frame,
            fmt or _frame_format(frame),
        )
        self._index += 1
        self._queue(fields, due=(self._index - 1) / self.rate)

    def _emit_samples(self, count: int) -> None:
        rows = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        chunk, rest = rows[:count], rows[count:]
        self._buffer = [rest] if rest.shape[0] else []
        self._buffered = rest.shape[0]
        fields = encode_imu_entry(
            self.run, self._index, self.start_time + self._index / self.rate, self.rate, chunk
        )
        self._index += chunk.shape[0]
        self._queue(fields, due=self._index / self.rate)

    def _queue(self, fields: dict[str, str | bytes], *, due: float) -> None:
        if self.realtime:
            wait = self._wall0 + due - time.monotonic()
            if wait > 0:
                self.flush()
                time.sleep(wait)
        args: list[Any] = [self.maxlen, "~" if self.approximate else "="]
        for key, value in fields.items():
            args += [key, value]
        self._script(keys=[self.keys.entries, self.keys.meta], args=args, client=self._pipe)
        self._queued += 1
        if self.realtime or self._queued >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Send what is queued (whole entries only; a partial entry waits for `end`)."""
        if not self._queued:
            return
        results = self._pipe.execute()
        self._queued = 0
        for seq, _ in results:
            self._first = int(seq) if self._first is None else self._first
            self._last = int(seq)
        self._entries += len(results)

    def end(self) -> PublishReport:
        """Send the last, partial entry and the end of the run; returns what was written."""
        if not self._ended:
            if self._buffered:
                self._emit_samples(self._buffered)
            self._queue(encode_end_entry(self.run, self._index), due=self._index / self.rate)
            self.flush()
            self._ended = True
        return self.report()

    def report(self) -> PublishReport:
        """What has been sent so far."""
        return PublishReport(
            self.keys.stream,
            self.run,
            self._entries,
            self._index - self._buffered,
            round(time.monotonic() - self._wall0, 6),
            self._first,
            self._last,
        )


def publish_readings(
    redis_or_url: Any,
    stream: str,
    readings: np.ndarray,
    *,
    rate: float,
    run: str | None = None,
    maxlen: int | None = None,
    approximate: bool = True,
    samples_per_entry: int = SAMPLES_PER_ENTRY,
    start_time: float | None = None,
    realtime: bool = False,
    end: bool = True,
) -> PublishReport:
    """Publish IMU readings, (T, 6) at `rate` Hz, to `stream`; with `end`, close the run."""
    producer = StreamProducer(
        redis_or_url,
        stream,
        Modality.IMU,
        rate=rate,
        run=run,
        maxlen=maxlen,
        approximate=approximate,
        samples_per_entry=samples_per_entry,
        start_time=start_time,
        realtime=realtime,
    )
    producer.send(readings)
    if end:
        return producer.end()
    producer.flush()
    return PublishReport(
        stream,
        producer.run,
        producer._entries,
        producer._index - producer._buffered,
        0.0,
        producer._first,
        producer._last,
    )


def publish_recording(
    redis_or_url: Any,
    sources: Sequence[Path | str],
    *,
    stream: str | None = None,
    modality: Modality | str = Modality.IMU,
    rate: float | None = None,
    realtime: bool = False,
    maxlen: int | None = None,
    samples_per_entry: int = SAMPLES_PER_ENTRY,
    start_time: float | None = None,
) -> PublishReport:
    """Replay a recording (see `read_recording`) into a stream: the simulator for demos and
    tests. The stream id defaults to the file's stem; the run id is the recording's hash, so
    its windows get the same point ids as `ingest_recording` of the same file."""
    recording = read_recording(sources, modality=modality, rate=rate)
    producer = StreamProducer(
        redis_or_url,
        stream or stream_id_for(sources[0]),
        recording.modality,
        rate=recording.rate,
        run=recording.run,
        maxlen=maxlen,
        samples_per_entry=samples_per_entry,
        start_time=start_time,
        realtime=realtime,
    )
    if recording.readings is not None:
        step = producer.samples_per_entry * producer.batch
        for first in range(0, recording.readings.shape[0], step):
            producer.send(recording.readings[first : first + step])
    else:
        for frame, fmt in recording.frames:
            producer.send_frame(frame, fmt)
    return producer.end()


# --- consumer ------------------------------------------------------------------------------


def _is_transient(error: BaseException) -> bool:
    """Errors that pass on their own: the store or Redis unreachable, a timeout."""
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names & {"ResponseHandlingException", "ConnectionError", "TimeoutError", "BusyLoadingError"}
    )


class _Stopped(Exception):
    """Asked to stop while waiting for the store: leave, acknowledging nothing more."""


@dataclass
class _Held:
    """A stream this consumer holds the lease of."""

    keys: StreamKeys
    windows: StreamWindows
    last_id: bytes  # the last entry id this consumer saw (for the blocking wait)


class StreamConsumer:
    """Reads streams as one consumer of a group, embeds their windows, stores, acknowledges.

    `context` has `model`, `encoder`, `store` and, optionally, `media` (an `Engine` has all of
    them; the store is opened on first use, so a standby consumer does not touch it).

    Each stream is read by one consumer at a time: the holder of its lease, renewed every
    `lease_s / 3` seconds. A consumer takes free streams up to its share (streams / live
    consumers). When it takes a stream, XAUTOCLAIM hands it every entry still pending in
    the group (the last holder died, or let go), and those rebuild the unfinished windows.
    """

    def __init__(
        self,
        redis_or_url: Any,
        context: Any,
        *,
        group: str = DEFAULT_GROUP,
        name: str | None = None,
        streams: Sequence[str] | None = None,
        hop_s: float | None = None,
        lease_s: float = 30.0,
        read_count: int = 200,
        block_s: float = 1.0,
        max_deliveries: int = MAX_DELIVERIES,
        tags: Sequence[str] = (),
    ) -> None:
        if lease_s <= 0 or block_s <= 0:
            raise ValueError("lease_s and block_s must be positive")
        self.client = _client(redis_or_url)
        self.context = context
        self.group = group
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
        self.streams = [check_stream_id(s) for s in streams] if streams else None
        self.hop_s = hop_s
        self.lease_ms = int(lease_s * 1000)
        self.read_count = max(1, int(read_count))
        self.block_ms = int(block_s * 1000)
        self.max_deliveries = int(max_deliveries)
        self.tags = clean_tags(list(tags))
        self.held: dict[str, _Held] = {}
        self.windows_stored = 0
        self._scripts = {
            name: self.client.register_script(body)
            for name, body in (
                ("read", _READ),
                ("claim", _CLAIM),
                ("ack", _ACK),
                ("dead", _DEAD),
                ("renew", _RENEW),
                ("release", _RELEASE),
            )
        }
        self._next_upkeep = 0.0
        self._stored: dict[str, int] = {}  # windows stored per stream since the last ack
        self._stop = threading.Event()
        # Leases are renewed by a thread too, so a long forward pass does not lose them; it
        # stops renewing if the loop has not come round for `stall_s` (a hung consumer).
        self._lock = threading.Lock()
        self._lost: set[str] = set()
        self._tick = time.monotonic()
        self.stall_s = max(10 * lease_s, 120.0)

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, idle_exit_s: float | None = None) -> None:
        """Consume until `stop` is set (or nothing arrived for `idle_exit_s` seconds).

        Redis or the store being unreachable is waited out with backoff and jitter; after a
        Redis error the consumer lets go of its streams and takes them again, so nothing it
        had read is left pending unseen. Any other error propagates: the process dies, and
        the entries it held are redelivered (and dead-lettered after `max_deliveries`).
        """
        self._stop = stop = stop or threading.Event()
        idle_since = time.monotonic()
        backoff = 0.5
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew_forever, args=(done,), name="binding-stream-lease", daemon=True
        )
        renewer.start()
        try:
            while not stop.is_set():
                self._tick = time.monotonic()
                try:
                    handled = self.step()
                    backoff = 0.5
                except _Stopped:
                    return
                except Exception as error:
                    if not _is_transient(error):
                        raise
                    log.warning("stream consumer: %s; retrying in %.1f s", error, backoff)
                    self._let_go()
                    stop.wait(backoff * (0.5 + random.random()))
                    backoff = min(backoff * 2, 10.0)
                    continue
                now = time.monotonic()
                if handled:
                    idle_since = now
                elif idle_exit_s is not None and now - idle_since >= idle_exit_s:
                    return
        finally:
            done.set()
            renewer.join(timeout=5)
            self._let_go()

    def _renew_forever(self, done: threading.Event) -> None:
        while not done.wait(self.lease_ms / 3000):
            if time.monotonic() - self._tick > self.stall_s:
                continue  # the loop is stuck: let the leases lapse so others take over
            with contextlib.suppress(Exception):
                self._renew()

    def _renew(self) -> None:
        """Heartbeat, and renew every held lease; a lease someone else holds is noted lost."""
        now_ms = int(time.time() * 1000)
        self.client.zadd(CONSUMERS_KEY + self.group, {self.name: now_ms})
        with self._lock:
            streams = list(self.held)
        for stream in streams:
            renewed = self._scripts["renew"](
                keys=[stream_keys(stream).owner(self.group)], args=[self.name, self.lease_ms]
            )
            if not renewed:
                with self._lock:
                    self._lost.add(stream)

    def _let_go(self) -> None:
        """Forget every stream's state and give up its lease (best effort)."""
        with self._lock:
            held, self.held = self.held, {}
            self._lost.clear()
        self._stored.clear()
        self._next_upkeep = 0.0
        with contextlib.suppress(Exception):
            for entry in held.values():
                self._scripts["release"](keys=[entry.keys.owner(self.group)], args=[self.name])
            self.client.zrem(CONSUMERS_KEY + self.group, self.name)

    def step(self) -> int:
        """One round: keep leases, read what is new, store whole windows, acknowledge.
        Returns the number of entries handled (0: it waited up to `block_s`)."""
        if time.monotonic() >= self._next_upkeep:
            self._upkeep()
        if not self.held:
            time.sleep(min(self.block_ms / 1000, 0.5))
            return 0
        handled = 0
        windows: list[Window] = []
        for held in list(self.held.values()):
            raw = self._scripts["read"](
                keys=[held.keys.entries, held.keys.counts(self.group)],
                args=[self.group, self.name, self.read_count],
            )
            if raw:
                held.last_id = raw[-1][0]
                handled += len(raw)
                windows += self._feed(
                    held, [(entry_id, _pairs(values)) for entry_id, values in raw]
                )
        if windows:
            self._store(windows)
        self._acknowledge()
        if not handled:
            self._wait()
        return handled

    def _wait(self) -> None:
        """Block until one of the held streams has an entry after the last one seen."""
        timeout = max(1, min(self.block_ms, int((self._next_upkeep - time.monotonic()) * 1000)))
        streams = {held.keys.entries: held.last_id for held in self.held.values()}
        self.client.xread(streams, count=1, block=timeout)

    # -- leases ---------------------------------------------------------------------------

    def _upkeep(self) -> None:
        """Heartbeat, renew held leases, drop lost ones, take free streams up to our share."""
        live_key = CONSUMERS_KEY + self.group
        self._renew()
        self.client.zremrangebyscore(live_key, 0, int(time.time() * 1000) - 3 * self.lease_ms)
        with self._lock:
            lost, self._lost = self._lost, set()
            for stream in lost:
                log.warning("stream %s: lease lost; another consumer took it", stream)
                self.held.pop(stream, None)
                self._stored.pop(stream, None)
        wanted = self.streams or sorted(_text(s) for s in self.client.smembers(REGISTRY_KEY))
        live = max(1, int(self.client.zcard(live_key)))
        share = -(-len(wanted) // live)
        for stream in wanted:
            if len(self.held) >= share:
                break
            if stream in self.held:
                continue
            keys = stream_keys(stream)
            if self.client.set(keys.owner(self.group), self.name, nx=True, px=self.lease_ms):
                self._take(keys)
        self._next_upkeep = time.monotonic() + min(self.lease_ms / 3000, 1.0)

    def _take(self, keys: StreamKeys) -> None:
        """Start reading a stream: make the group, claim what the last holder left pending."""
        import redis

        try:
            self.client.xgroup_create(keys.entries, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        modality = _text(self.client.hget(keys.meta, "modality") or b"imu")
        held = _Held(keys, stream_windows(keys.stream, modality, hop_s=self.hop_s), b"0-0")
        with self._lock:
            self.held[keys.stream] = held
        log.info("stream %s: taken by %s", keys.stream, self.name)
        windows = self._recover(held)
        groups = {_text(g["name"]): g for g in self.client.xinfo_groups(keys.entries)}
        last = groups.get(self.group, {}).get("last-delivered-id", b"0-0")
        held.last_id = last if isinstance(last, bytes) else str(last).encode()
        if windows:
            self._store(windows)
        self._acknowledge()

    def _recover(self, held: _Held) -> list[Window]:
        """XAUTOCLAIM every entry pending in the group (we hold the lease: their reader is
        gone), dead-letter those delivered too often, rebuild windows from the rest."""
        keys = held.keys
        cursor: Any = "0-0"
        claimed: list[tuple[Any, dict[Any, Any]]] = []
        while True:
            cursor, entries, _deleted = self._scripts["claim"](
                keys=[keys.entries, keys.counts(self.group)],
                args=[self.group, self.name, 0, cursor, 500],
            )
            claimed += [(entry_id, _pairs(values)) for entry_id, values in entries]
            if _text(cursor) == "0-0":
                break
        if not claimed:
            return []
        deliveries = {
            _text(row["message_id"]): int(row["times_delivered"])
            for row in self.client.xpending_range(
                keys.entries,
                self.group,
                min=claimed[0][0],
                max=claimed[-1][0],
                count=len(claimed) + 10,
                consumername=self.name,
            )
        }
        fresh = []
        for entry_id, values in claimed:
            times = deliveries.get(_text(entry_id), 1)
            if times > self.max_deliveries:
                self._dead_letter(
                    keys,
                    _text(entry_id),
                    values,
                    f"delivered {times} times without being acknowledged",
                    times,
                )
            else:
                fresh.append((entry_id, values))
        log.info("stream %s: claimed %d pending entries", keys.stream, len(claimed))
        return self._feed(held, fresh)

    def release_all(self) -> None:
        """Give up every lease (a clean stop): the next consumer claims what is pending."""
        self._let_go()

    # -- entries to windows to points -----------------------------------------------------

    def _feed(self, held: _Held, entries: Iterable[tuple[Any, dict[Any, Any]]]) -> list[Window]:
        windows: list[Window] = []
        for entry_id, values in entries:
            text_id = _text(entry_id)
            try:
                entry = decode_entry(held.keys.stream, text_id, values)
                windows += held.windows.add(entry)
            except InputError as error:
                self._dead_letter(held.keys, text_id, values, error.reason, 1)
        return windows

    def _store(self, windows: list[Window]) -> None:
        """Embed and upsert (wait=True); a store that is down is retried until it is back."""
        result = embed_windows(
            self.context.encoder,
            self.context.model,
            windows,
            media=getattr(self.context, "media", None),
            tags=self.tags,
        )
        for window, reason in result.failed:
            held = self.held.get(window.stream)
            if held is not None and window.modality in FRAME_MODALITIES:
                for entry_id in window.entry_ids:
                    self._dead_letter(held.keys, entry_id, {}, reason, 1, window=window)
            else:
                log.warning("stream %s window %s: %s", window.stream, window.segment, reason)
        if not result.points:
            return
        backoff = 0.5
        while True:
            try:
                self.context.store.upsert(result.points, wait=True)
                break
            except Exception as error:
                if not _is_transient(error):
                    raise
                log.warning("store unavailable (%s); retrying in %.1f s", error, backoff)
                if self._stop.wait(backoff * (0.5 + random.random())):
                    raise _Stopped from error
                backoff = min(backoff * 2, 10.0)
        by_stream: dict[str, int] = {}
        for point in result.points:
            stream = point.payload["stream"]
            by_stream[stream] = by_stream.get(stream, 0) + 1
        for stream, count in by_stream.items():
            self._stored[stream] = self._stored.get(stream, 0) + count
        self.windows_stored += len(result.points)

    def _acknowledge(self) -> None:
        """XACK the entries whose windows are all stored, with the counts that go with them."""
        for stream, held in self.held.items():
            ids = held.windows.ackable()
            stored = self._stored.pop(stream, 0)
            incomplete, held.windows.incomplete = held.windows.incomplete, 0
            if not (ids or stored or incomplete):
                continue
            chunks = [ids[first : first + 1000] for first in range(0, len(ids), 1000)] or [[]]
            for number, chunk in enumerate(chunks):
                self._scripts["ack"](
                    keys=[held.keys.entries, held.keys.counts(self.group)],
                    args=[
                        self.group,
                        stored if number == 0 else 0,
                        incomplete if number == 0 else 0,
                        repr(time.time()),
                        *chunk,
                    ],
                )

    def _dead_letter(
        self,
        keys: StreamKeys,
        entry_id: str,
        values: dict[Any, Any],
        reason: str,
        deliveries: int,
        *,
        window: Window | None = None,
    ) -> None:
        """Move an entry to `binding:stream:<id>:dead` with its reason, and acknowledge it."""
        if not values:
            found = self.client.xrange(keys.entries, min=entry_id, max=entry_id)
            values = _pairs(found[0][1]) if found else {}
            if not values and window is not None and window.frame is not None:
                values = {b"x": window.frame}
        record: list[Any] = [
            "entry", entry_id, "reason", reason, "deliveries", deliveries,
            "consumer", self.name, "time", repr(time.time()),
        ]  # fmt: skip
        for key, value in values.items():
            record += [f"field:{_text(key)}", value]
        log.warning("stream %s entry %s dead-lettered: %s", keys.stream, entry_id, reason)
        self._scripts["dead"](
            keys=[keys.entries, keys.counts(self.group), keys.dead],
            args=[self.group, entry_id, DEAD_MAXLEN, *record],
        )


def _pairs(values: Any) -> dict[Any, Any]:
    """Stream entry fields as a dict, from a Lua reply's flat list or redis-py's dict."""
    if isinstance(values, dict):
        return values
    items = list(values or [])
    return dict(zip(items[0::2], items[1::2], strict=True))


# --- status --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamStatus:
    """Where a stream stands for a consumer group: the books, the lag and who reads it.

    At rest `produced == processed + dropped + dead`; while entries flow, the difference is
    `lag_entries` (`undelivered` + `pending`). `lag_seconds` is how old the oldest
    entry not yet processed is (0 when there is none).
    """

    stream: str
    modality: str | None
    rate: float | None
    group: str
    length: int  # entries in the stream now
    maxlen: int | None
    produced: int  # entries ever added
    delivered: int  # entries the group read (XREADGROUP)
    processed: int  # entries acknowledged after their windows were stored
    dropped: int  # entries trimmed before they were processed (counted by the consumer)
    dead: int  # entries dead-lettered
    pending: int  # read, not yet acknowledged
    undelivered: int  # added, not yet read (nor known dropped)
    lag_entries: int
    lag_seconds: float
    windows: int  # windows stored (one re-stored after a crash counts again)
    windows_incomplete: int  # windows skipped because some of their readings were dropped
    dead_letters: int  # entries in the dead-letter stream
    owner: str | None  # the consumer holding the lease
    consumers: int  # live consumers in the group
    acked_at: float | None

    @property
    def balanced(self) -> bool:
        """True when every entry is accounted for: processed, dropped, dead or still lagging."""
        return self.produced == self.processed + self.dropped + self.dead + self.lag_entries

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced}


def _ms(entry_id: Any) -> int:
    return int(_text(entry_id).split("-")[0])


def stream_status(
    redis_or_url: Any, *, group: str = DEFAULT_GROUP, streams: Sequence[str] | None = None
) -> list[StreamStatus]:
    """Every registered stream's status (or those named), sorted by id."""
    import redis

    client = _client(redis_or_url)
    names = list(streams) if streams else sorted(_text(s) for s in client.smembers(REGISTRY_KEY))
    now_s, now_us = client.time()
    now_ms = int(now_s) * 1000 + int(now_us) // 1000
    live = client.zcount(CONSUMERS_KEY + group, now_ms - 60_000, "+inf")
    out = []
    for name in names:
        keys = stream_keys(name)
        meta = {_text(k): _text(v) for k, v in client.hgetall(keys.meta).items()}
        counts = {_text(k): _text(v) for k, v in client.hgetall(keys.counts(group)).items()}
        length = int(client.xlen(keys.entries))
        pending = 0
        oldest: Any = None
        try:
            summary = client.xpending(keys.entries, group)
            pending = int(summary["pending"])
            oldest = summary["min"] if pending else None
            groups = {_text(g["name"]): g for g in client.xinfo_groups(keys.entries)}
            last = groups[group]["last-delivered-id"] if group in groups else "0-0"
        except redis.ResponseError:  # no stream or no group yet
            last = "0-0"
        produced = int(meta.get("produced", 0))
        undelivered = max(0, produced - int(counts.get("next", 0)))
        if oldest is None and undelivered:
            after = (
                client.xrange(keys.entries, min=f"({_text(last)}", count=1)
                if _text(last) != "0-0"
                else client.xrange(keys.entries, count=1)
            )
            oldest = after[0][0] if after else None
        lag_s = max(0.0, (now_ms - _ms(oldest)) / 1000) if oldest is not None else 0.0
        owner = client.get(keys.owner(group))
        out.append(
            StreamStatus(
                stream=name,
                modality=meta.get("modality"),
                rate=float(meta["rate"]) if "rate" in meta else None,
                group=group,
                length=length,
                maxlen=int(meta["maxlen"]) if "maxlen" in meta else None,
                produced=produced,
                delivered=int(counts.get("delivered", 0)),
                processed=int(counts.get("processed", 0)),
                dropped=int(counts.get("dropped", 0)),
                dead=int(counts.get("dead", 0)),
                pending=pending,
                undelivered=undelivered,
                lag_entries=pending + undelivered,
                lag_seconds=round(lag_s, 3),
                windows=int(counts.get("windows", 0)),
                windows_incomplete=int(counts.get("windows_incomplete", 0)),
                dead_letters=int(client.xlen(keys.dead)),
                owner=_text(owner) if owner is not None else None,
                consumers=int(live),
                acked_at=float(counts["acked_at"]) if "acked_at" in counts else None,
            )
        )
    return out


def rates(before: StreamStatus, after: StreamStatus, seconds: float) -> dict[str, float]:
    """Entries per second produced and processed between two statuses `seconds` apart."""
    span = max(seconds, 1e-9)
    return {
        "produced_per_s": (after.produced - before.produced) / span,
        "processed_per_s": (after.processed - before.processed) / span,
        "windows_per_s": (after.windows - before.windows) / span,
    }


def dead_letters(redis_or_url: Any, stream: str, *, count: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters of a stream: entry id, reason, deliveries, consumer, time."""
    client = _client(redis_or_url)
    rows = client.xrevrange(stream_keys(stream).dead, count=count)
    out = []
    for dead_id, values in rows:
        fields = {_text(k): v for k, v in values.items()}
        out.append(
            {
                "id": _text(dead_id),
                "entry": _text(fields.get("entry", b"")),
                "reason": _text(fields.get("reason", b"")),
                "deliveries": int(_text(fields.get("deliveries", b"0")) or 0),
                "consumer": _text(fields.get("consumer", b"")),
                "time": float(_text(fields.get("time", b"0")) or 0),
            }
        )
    return out


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
