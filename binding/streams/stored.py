"""Stored stream windows and their place in time: what a page or a report of a stream reads.

A window's point carries `time` (epoch seconds), `start`/`end` (its span in seconds within
its recording or run) and, for live windows, `time_end`. `place_windows` turns those into
each window's wall-clock span (`t0`, `t1`), so no reader rebuilds the rule from raw fields:

- live windows: `t0 = time`, `t1 = time_end` (else `time + end - start`);
- a replayed file may stamp every window with one `time` and keep each window's place in
  `start`: when every `time` is shared and the `start`s differ, `t0 = time + start`.

The sample rate is read from `sample_rate`, or from `rate` in points stored before the
payload used one name for it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from binding.store.base import Point


@dataclass(frozen=True)
class StreamWindow:
    """One stored window of a stream, placed in time (epoch seconds)."""

    id: str
    modality: str | None
    sha256: str | None
    t0: float  # wall-clock start
    t1: float  # wall-clock end
    start: float | None  # span within its recording or run, seconds
    end: float | None
    sample_rate: float | None  # samples (frames) per second
    payload: dict[str, Any] = field(default_factory=dict, repr=False)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def sample_rate(payload: dict[str, Any]) -> float | None:
    """The payload's sample rate: `sample_rate`, or `rate` in points stored before."""
    return _number(payload.get("sample_rate") or payload.get("rate"))


def place_windows(points: Iterable[Point]) -> list[StreamWindow]:
    """The windows of `points` (one stream's), placed in time and sorted by start."""
    rows = []
    for point in points:
        p = point.payload
        time = float(p.get("time") or 0.0)
        start, end = _number(p.get("start")), _number(p.get("end"))
        offset = start if start is not None else 0.0
        length = max(0.0, end - offset) if end is not None else 0.0
        rows.append((point, p, time, start, end, offset, length))
    times = Counter(row[2] for row in rows)
    same_time = (
        bool(rows) and all(times[row[2]] > 1 for row in rows) and len({row[5] for row in rows}) > 1
    )
    windows = []
    for point, p, time, start, end, offset, length in rows:
        t0 = time + (offset if same_time else 0.0)
        t1 = t0 + length
        stamped_end = _number(p.get("time_end"))
        if not same_time and stamped_end is not None:  # live windows carry their own end
            t1 = stamped_end
        windows.append(
            StreamWindow(
                id=str(point.id),
                modality=p.get("modality"),
                sha256=p.get("sha256"),
                t0=t0,
                t1=t1,
                start=start,
                end=end,
                sample_rate=sample_rate(p),
                payload=dict(p),
            )
        )
    return sorted(windows, key=lambda w: w.t0)
