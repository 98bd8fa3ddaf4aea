"""Cutting entries into windows on a grid anchored at each run's first sample."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import numpy as np

from binding.errors import InputError
from binding.modality import Modality, parse_modality
from binding.points import point_id, segment_label
from binding.streams.keys import FRAME_MODALITIES, WIRE_VERSION
from binding.streams.wire import Entry

if TYPE_CHECKING:
    import torch


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
