"""Charts of a sensor stream in time: the live signal with its windows and the matches marked,
and every window's similarity to a description.

The live signal is the stream's recent samples (`binding.streams.tail.read_tail`: the newest
entries of its capped Redis stream). Windows are drawn as shaded spans behind it, the best
matches of a search in colour, so "when did it look like..." can be read on the signal
itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

#: Most points drawn per channel of the live signal.
SIGNAL_POINTS = 1_500
#: IMU channel names and colours (accelerometer, then gyroscope).
CHANNELS = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")
COLORS = ("#db2777", "#ea580c", "#ca8a04", "#2563eb", "#0891b2", "#16a34a")
MATCH = "#4f46e5"
OTHER = "#cbd5e1"


def highlight_count(windows: int, wanted: int) -> int:
    """How many of the best windows to highlight: `wanted`, but never so many that the
    highlight stops meaning anything (at most a third of the windows, at least one)."""
    if windows <= 0 or wanted <= 0:
        return 0
    return max(1, min(int(wanted), windows // 3))


def _when(seconds: Any) -> Any:
    return pd.to_datetime(seconds, unit="s", utc=True)


def timeline_chart(
    frame: pd.DataFrame, scores: Mapping[str, float], top: Collection[str]
) -> alt.Chart:
    """Every window as a bar at its time, as tall as its similarity; those in `top` in
    colour. `frame` has one row per window: id, t0, t1, name."""
    data = frame[["id", "t0", "t1", "name"]].copy()
    data["score"] = data["id"].map(scores).astype(float)
    data = data.dropna(subset=["score"])
    data["match"] = np.where(data["id"].isin(list(top)), "match", "other")
    data["start"], data["end"] = _when(data["t0"]), _when(data["t1"])
    data["base"] = 0.0
    low = min(0.0, float(data["score"].min())) if len(data) else 0.0
    high = max(0.05, float(data["score"].max())) if len(data) else 1.0
    return (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("start:T", title="time (UTC)", axis=alt.Axis(format="%H:%M:%S")),
            x2="end:T",
            y=alt.Y("base:Q", title="similarity", scale=alt.Scale(domain=[low, high * 1.05])),
            y2="score:Q",
            color=alt.Color(
                "match:N",
                scale=alt.Scale(domain=["match", "other"], range=[MATCH, OTHER]),
                legend=None,  # a top legend collapses the plot's height in Streamlit 1.67
            ),
            tooltip=[
                alt.Tooltip("start:T", title="from", format="%H:%M:%S"),
                alt.Tooltip("end:T", title="to", format="%H:%M:%S"),
                alt.Tooltip("score:Q", format=".3f"),
                alt.Tooltip("name:N", title="source"),
            ],
        )
        .properties(height=180)
    )


def signal_frame(
    times: np.ndarray, samples: np.ndarray, points: int = SIGNAL_POINTS
) -> pd.DataFrame:
    """Long-form rows (time, value, channel, sensor) of IMU samples (N, 6) at `times` (N,),
    thinned to about `points` per channel."""
    times = np.asarray(times, dtype=np.float64)
    samples = np.asarray(samples, dtype=np.float32)
    step = max(1, int(np.ceil(len(times) / max(1, points))))
    times, samples = times[::step], samples[::step]
    pieces = [
        pd.DataFrame(
            {
                "time": _when(times),
                "value": samples[:, channel],
                "channel": name,
                "sensor": "accelerometer" if channel < 3 else "gyroscope",
            }
        )
        for channel, name in enumerate(CHANNELS)
    ]
    return pd.concat(pieces, ignore_index=True)


def window_spans(
    frame: pd.DataFrame, start: float, end: float, top: Collection[str] = ()
) -> pd.DataFrame:
    """The windows of `frame` (id, t0, t1, name) that overlap [start, end], clipped to it,
    each marked `match` when it is in `top`."""
    inside = frame[(frame["t1"] >= start) & (frame["t0"] <= end)]
    spans = pd.DataFrame(
        {
            "id": inside["id"].astype(str),
            "name": inside["name"],
            "from": _when(inside["t0"].clip(lower=start)),
            "to": _when(inside["t1"].clip(upper=end)),
            "kind": np.where(inside["id"].astype(str).isin(list(top)), "match", "window"),
        }
    )
    return spans.reset_index(drop=True)


def signal_charts(
    times: np.ndarray,
    samples: np.ndarray,
    frame: pd.DataFrame,
    top: Collection[str] = (),
) -> list[alt.LayerChart]:
    """The live signal (accelerometer, then gyroscope: one chart each) over the stream's
    windows as shaded spans, its matches in colour; none when there are no samples."""
    if len(times) == 0:
        return []
    lines = signal_frame(times, samples)
    spans = window_spans(frame, float(times[0]), float(times[-1]), top)
    charts = []
    for sensor, channels, colors in (
        ("accelerometer", CHANNELS[:3], COLORS[:3]),
        ("gyroscope", CHANNELS[3:], COLORS[3:]),
    ):
        line = (
            alt.Chart(lines[lines["sensor"] == sensor])
            .mark_line(strokeWidth=1.1)
            .encode(
                x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M:%S")),
                # a fixed axis width keeps the two charts' time axes aligned
                y=alt.Y(
                    "value:Q",
                    title=sensor,
                    scale=alt.Scale(zero=False),
                    axis=alt.Axis(minExtent=44),
                ),
                color=alt.Color(
                    "channel:N",
                    scale=alt.Scale(domain=list(channels), range=list(colors)),
                    legend=alt.Legend(title=None),
                ),
            )
        )
        shade = (
            alt.Chart(spans)
            .mark_rect(stroke="white", strokeWidth=1)
            .encode(
                x="from:T",
                x2="to:T",
                opacity=alt.condition(alt.datum.kind == "match", alt.value(0.28), alt.value(0.10)),
                color=alt.value(MATCH),
                tooltip=[
                    alt.Tooltip("name:N", title="window"),
                    alt.Tooltip("from:T", format="%H:%M:%S"),
                    alt.Tooltip("to:T", format="%H:%M:%S"),
                    alt.Tooltip("kind:N", title=" "),
                ],
            )
        )
        charts.append(alt.layer(shade, line).properties(height=140))
    return charts


def window_samples(
    times: np.ndarray, samples: np.ndarray, t0: float, t1: float, *, at_least: int = 2
) -> np.ndarray | None:
    """The samples (6, n) of a recent signal that fall in the window [t0, t1), or None when
    the signal does not hold (at least `at_least` of) them."""
    times = np.asarray(times, dtype=np.float64)
    if not len(times) or not t1 > t0:
        return None
    inside = (times >= t0) & (times < t1)
    if int(inside.sum()) < at_least:
        return None
    return np.asarray(samples, dtype=np.float32)[inside].T.copy()
