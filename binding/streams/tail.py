"""The recent samples of a stream, for a live plot: the newest entries of its Redis stream.

A stream's entries stay in Redis after the consumer has acknowledged them, bounded by the
producer's `XADD MAXLEN` (`DEFAULT_MAXLEN`: about 17 minutes of 400 Hz IMU, or 1,000
frames), so the stream itself is a capped tail of what the sensor sent; the points keep only
the windows' embeddings. `read_tail` reads at most `TAIL_ENTRIES` of the newest entries
(one `XREVRANGE`, newest first) and returns the last `seconds` of them in time order. An
entry that does not decode is skipped and counted, never raised: a plot must not fail on
one bad entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from binding.errors import InputError
from binding.streams.keys import stream_keys
from binding.streams.scripts import client_for
from binding.streams.wire import decode_entry

#: Most entries one read takes (IMU: 100 ms each at the default 40 samples per entry, so
#: 600 entries are the last minute at 400 Hz; frames: one each).
TAIL_ENTRIES = 600
#: Frames kept in a tail (the newest), whatever `seconds` says.
TAIL_FRAMES = 12


@dataclass(frozen=True)
class Tail:
    """The recent readings of one stream, oldest first.

    `times` (N,) are epoch seconds of each IMU sample and `samples` (N, 6) the samples
    (acc xyz, gyro xyz); `frames` are (epoch seconds, format, bytes) of thermal and depth
    frames. `skipped` counts entries that could not be decoded.
    """

    stream: str
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), dtype=np.float32))
    frames: tuple[tuple[float, str, bytes], ...] = ()
    skipped: int = 0

    @property
    def empty(self) -> bool:
        return len(self.times) == 0 and not self.frames


def read_tail(
    redis_or_url: Any, stream: str, *, seconds: float = 60.0, max_entries: int = TAIL_ENTRIES
) -> Tail:
    """The last `seconds` of `stream` (before its newest reading), from at most
    `max_entries` of its newest entries."""
    if max_entries < 1:
        raise ValueError(f"max_entries must be at least 1, got {max_entries}")
    client = client_for(redis_or_url)
    keys = stream_keys(stream)
    raw = client.xrevrange(keys.entries, "+", "-", count=int(max_entries))  # newest first
    times: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    frames: list[tuple[float, str, bytes]] = []
    skipped = 0
    for entry_id, fields in raw:
        try:
            entry = decode_entry(
                stream, entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), fields
            )
        except InputError:
            skipped += 1
            continue
        if entry.time is None or not entry.rate:
            continue  # a run's end
        if entry.samples is not None:
            count = entry.samples.shape[0]
            times.append(entry.time + np.arange(count) / entry.rate)
            samples.append(entry.samples)
        elif entry.frame is not None and len(frames) < TAIL_FRAMES:
            frames.append((float(entry.time), entry.fmt or "", entry.frame))
    if not times and not frames:
        return Tail(stream, skipped=skipped)
    all_times = np.concatenate(times) if times else np.zeros(0)
    all_samples = np.concatenate(samples) if samples else np.zeros((0, 6), dtype=np.float32)
    order = np.argsort(all_times, kind="stable")
    all_times, all_samples = all_times[order], all_samples[order]
    if len(all_times):
        keep = all_times >= all_times[-1] - float(seconds)
        all_times, all_samples = all_times[keep], all_samples[keep]
    frames.sort(key=lambda f: f[0])
    return Tail(stream, all_times, all_samples.astype(np.float32), tuple(frames), skipped)
