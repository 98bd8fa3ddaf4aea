"""Streams: live sensor streams, their lag and rate, the latest windows, and search in time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard.components import media, previews, results, session, streamplot, style

if TYPE_CHECKING:
    from binding.api import Engine

ss = st.session_state
#: Most windows of one stream read for the page (the newest are kept).
MAX_WINDOWS = 20_000
#: Windows drawn in "latest windows".
LATEST = 12
#: A stream whose newest window is older than this many window lengths is shown as idle.
IDLE_WINDOWS = 3
#: Seconds of the live signal plotted (at most; the stream's cap may hold less).
TAIL_SECONDS = 60.0


@st.cache_data(ttl=5, max_entries=32, show_spinner=False)
def _stream_windows(key: str, rev: int, stream: str, _engine: Engine) -> pd.DataFrame:
    """One row per stored window of `stream`: id, wall-clock span (t0, t1), payload bits."""
    rows = [
        {
            "id": w.id,
            "start": w.start,
            "end": w.end,
            "modality": w.modality,
            "sha256": w.sha256,
            "sample_rate": w.sample_rate,
            "name": previews.display_name(w.payload),
            "t0": w.t0,
            "t1": w.t1,
        }
        for w in _engine.stream_windows(stream, limit=MAX_WINDOWS)
    ]
    columns = ["id", "start", "end", "modality", "sha256", "sample_rate", "name", "t0", "t1"]
    return pd.DataFrame(rows, columns=columns)


def _stats(frame: pd.DataFrame, now: float) -> dict[str, Any]:
    span = float(frame["t1"].max() - frame["t0"].min()) if len(frame) else 0.0
    recent = frame.tail(50)
    recent_span = float(recent["t1"].max() - recent["t0"].min()) if len(recent) > 1 else 0.0
    rate = (len(recent) / recent_span * 60.0) if recent_span > 0 else 0.0
    lag = max(0.0, now - float(frame["t1"].max())) if len(frame) else float("nan")
    window = float((frame["t1"] - frame["t0"]).median()) if len(frame) else 0.0
    live = bool(len(frame)) and window > 0 and lag <= IDLE_WINDOWS * max(window, 1.0)
    return {
        "windows": len(frame),
        "span": span,
        "rate": rate,
        "lag": lag,
        "window": window,
        "live": live,
    }


def _ago(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _latest_charts(engine: Engine, frame: pd.DataFrame) -> list[Any]:
    """The newest IMU windows against wall-clock time: accelerometer, then gyroscope (one
    chart each, so each stretches to the page's width); none without IMU windows."""
    latest = frame[frame["modality"] == "imu"].tail(LATEST)
    pieces = []
    for row in latest.itertuples():
        # a window's samples: a file of their own, or a span of a stored recording
        path = previews.media_path(engine, {"sha256": row.sha256})
        rate = float(row.sample_rate or 0)
        if path is None or rate <= 0:
            continue
        whole = media.imu_curves(path, points=120)
        span = (row.t1 - row.t0) * rate
        if abs(whole["samples"] - span) <= 1:  # the file is the window
            curves, first = whole, 0
        else:
            first = int(float(row.start or 0.0) * rate)
            last = int(float(row.end or 0.0) * rate) if row.end is not None else first + 1
            curves = media.imu_curves(path, points=120, window=(first, last))
        values, step = curves["values"], curves["step"]
        seconds = row.t0 + np.arange(values.shape[1]) * step / rate
        for channel, name in enumerate(media.IMU_CHANNELS):
            pieces.append(
                pd.DataFrame(
                    {
                        "time": pd.to_datetime(seconds, unit="s", utc=True),
                        "value": values[channel],
                        "channel": name,
                        "sensor": "accelerometer" if channel < 3 else "gyroscope",
                        "window": row.id,
                    }
                )
            )
    if not pieces:
        return []
    data = pd.concat(pieces)
    charts = []
    for sensor, channels, colors in (
        ("accelerometer", media.IMU_CHANNELS[:3], previews.IMU_COLORS[:3]),
        ("gyroscope", media.IMU_CHANNELS[3:], previews.IMU_COLORS[3:]),
    ):
        part = data[data["sensor"] == sensor]
        charts.append(
            alt.Chart(part)
            .mark_line(strokeWidth=1.2)
            .encode(
                x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M:%S")),
                y=alt.Y("value:Q", title=sensor, scale=alt.Scale(zero=False)),
                color=alt.Color(
                    "channel:N",
                    scale=alt.Scale(domain=list(channels), range=list(colors)),
                    legend=alt.Legend(title=None),
                ),
                detail="window:N",
            )
            .properties(height=130)
        )
    return charts


def _arrivals_chart(latest: pd.DataFrame) -> Any:
    """The newest windows as spans on the time axis (when no samples can be drawn)."""
    data = latest[["id", "t0", "t1", "name"]].copy()
    data["start"] = pd.to_datetime(data["t0"], unit="s", utc=True)
    data["end"] = pd.to_datetime(data["t1"], unit="s", utc=True)
    data["bottom"], data["top"] = 0.0, 1.0
    return (
        alt.Chart(data)
        .mark_rect(color="#db2777", opacity=0.8, stroke="white", strokeWidth=2)
        .encode(
            x=alt.X("start:T", title="time (your clock)", axis=alt.Axis(format="%H:%M:%S")),
            x2="end:T",
            y=alt.Y("bottom:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
            y2="top:Q",
            tooltip=[
                alt.Tooltip("name:N", title="window"),
                alt.Tooltip("start:T", format="%H:%M:%S"),
            ],
        )
        .properties(height=110)  # Streamlit counts the axes in the height
        .configure_view(strokeWidth=0)
    )


@st.cache_data(ttl=2, max_entries=16, show_spinner=False)
def _tail(url: str, stream: str) -> tuple[np.ndarray, np.ndarray]:
    """The stream's recent IMU samples from its capped Redis stream: (times, samples)."""
    from binding.streams.tail import read_tail

    tail = read_tail(url, stream, seconds=TAIL_SECONDS)
    return tail.times, tail.samples


# --- page ------------------------------------------------------------------------------------

st.title("Streams")
st.caption(
    "Sensor streams as windows in time: how fast they arrive, how far behind they are, "
    "and when a stream looked like something you describe."
)
engine = session.engine()
key = session.settings_key(engine.settings)
try:
    streams = engine.facet("stream")
except Exception as exc:
    session.show_error("The streams could not be listed", exc)
    st.stop()

if not streams:
    results.empty_state(
        "No streams yet.",
        "A stream is a sequence of windows stored with a stream name. Load the sample "
        "dataset on the Status page (it replays a walking recording as the stream demo-walk), "
        "replay a recording of your own (the command binding stream ingest), or start the "
        "distributed stack, whose stream consumers write live sensor windows. They appear here.",
    )
    st.page_link("app_pages/status.py", label="Load the sample dataset", icon=":material/dataset:")
    st.stop()

now = time.time()
overview = []
frames: dict[str, pd.DataFrame] = {}
for name in sorted(streams):
    frame = _stream_windows(key, session.revision(), name, engine)
    frames[name] = frame
    stats = _stats(frame, now)
    overview.append(
        {
            "stream": name,
            "state": "live" if stats["live"] else "idle",
            "windows": stats["windows"],
            "modality": ", ".join(sorted(frame["modality"].dropna().unique()))
            if len(frame)
            else "",
            "rate (windows/min)": round(stats["rate"], 1),
            "lag": _ago(stats["lag"]),
            "window (s)": round(stats["window"], 2),
        }
    )
st.dataframe(pd.DataFrame(overview), hide_index=True, width="stretch", key="streams_overview")

chosen = st.selectbox("Stream", sorted(streams), key="streams_chosen", persist_state="session")
frame = frames[chosen]
stats = _stats(frame, now)
cols = st.columns(4)
cols[0].metric("Windows", f"{stats['windows']:,}", border=True)
cols[1].metric("Rate", f"{stats['rate']:.1f}/min", border=True)
cols[2].metric("Lag", _ago(stats["lag"]), border=True, help="Time since the newest window ended.")
cols[3].metric("Covers", _ago(stats["span"]), border=True)

# the search runs first, so that its matches can be marked on the signal above it
text = (ss.get("streams_query") or "").strip()
top_k = int(ss.get("streams_top") or 5)
result, scores, best, marked = None, {}, [], []
if text:
    from binding.api import Filter
    from binding.query import Query, Term

    try:
        every = min(max(len(frame), 1), 1000)
        query = Query((Term.text(text),), limit=every, filter=Filter(stream=chosen))
        result = session.search(query)
    except Exception as exc:
        session.show_error("The search failed", exc)
        st.stop()
    scores = {str(h.id): float(h.score) for h in result.hits}
    best = [str(h.id) for h in result.hits[:top_k]]
    # highlight few enough that the highlight still means something (not 3 bars of 3)
    marked = best[: streamplot.highlight_count(len(scores), top_k)]

tail_times: np.ndarray = np.zeros(0)
tail_samples: np.ndarray = np.zeros((0, 6))
broker = getattr(engine.settings, "broker_url", None)
if broker:
    try:
        tail_times, tail_samples = _tail(str(broker), chosen)
    except Exception as exc:
        session.show_error("The stream's recent samples could not be read", exc)

if len(tail_times):
    st.subheader("Live signal")
    for chart in streamplot.signal_charts(tail_times, tail_samples, frame, marked):
        st.altair_chart(chart, width="stretch")
    span = float(tail_times[-1] - tail_times[0])
    st.caption(
        f"The last {_ago(span)} of samples the stream holds (its Redis stream keeps a capped "
        "tail), its windows shaded" + (", the best matches in indigo." if marked else ".")
    )
else:
    st.subheader("Latest windows")
    charts = _latest_charts(engine, frame)
    for chart in charts:
        st.altair_chart(chart, width="stretch")
    latest = frame.tail(LATEST)
    pictures = latest[latest["modality"].isin(["thermal", "depth", "image"])]
    if len(pictures):
        grid = st.grid("auto", min_column_width=160, border=True)
        for row in pictures.iloc[::-1].itertuples():
            with grid.cell():
                previews.render(
                    engine, {"modality": row.modality, "sha256": row.sha256}, key=row.id
                )
                st.caption(pd.to_datetime(row.t0, unit="s", utc=True).strftime("%H:%M:%S UTC"))
    if not charts and not len(pictures):
        st.altair_chart(_arrivals_chart(latest), width="stretch")
        st.caption(
            f"The last {style.plural(len(latest), 'window')} as they arrived. No samples to "
            "plot: the store keeps the windows' embeddings, and the stream's recent samples "
            "are read from Redis in distributed mode (BINDING_BROKER_URL)."
        )

st.subheader("When did it look like…")
search_cols = st.columns([4, 1], vertical_alignment="bottom")
search_cols[0].text_input(
    "Describe a moment",
    key="streams_query",
    placeholder="someone walking",
    persist_state="session",
)
search_cols[1].selectbox("Matches", (3, 5, 10, 20), index=1, key="streams_top")
if result is not None:
    st.altair_chart(streamplot.timeline_chart(frame, scores, set(marked)), width="stretch")
    st.caption(
        f"Every window of {style.escape_markdown(chosen)} scored against the description; "
        f"the {streamplot.highlight_count(len(scores), top_k)} best of "
        f"{style.plural(len(scores), 'window')} in indigo."
    )
    by_id = frame.set_index("id")
    rows = []
    for rank, point_id in enumerate(best, start=1):
        if point_id not in by_id.index:
            continue
        row = by_id.loc[point_id]
        rows.append(
            {
                "rank": rank,
                "from (UTC)": pd.to_datetime(row["t0"], unit="s", utc=True),
                "to (UTC)": pd.to_datetime(row["t1"], unit="s", utc=True),
                "score": round(scores[point_id], 4),
                "source": row["name"],
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="streams_matches")
    spans = frame.set_index("id")[["t0", "t1"]]

    def from_tail(point_id: str, payload: dict[str, Any]) -> bool:
        """A window's preview from the stream's recent samples, while they hold it."""
        if payload.get("modality") != "imu" or point_id not in spans.index:
            return False
        t0, t1 = spans.loc[point_id]
        values = streamplot.window_samples(tail_times, tail_samples, float(t0), float(t1))
        if values is None:
            return False
        step = max(1, -(-values.shape[1] // media.CURVE_POINTS))
        st.altair_chart(previews.imu_chart(values[:, ::step], step), width="content")
        return True

    hits = [h for h in result.hits[:top_k]]
    results.render_grid(engine, hits, key="streams", preview=from_tail)
else:
    st.caption(
        f"Type a description to score every window of {style.escape_markdown(chosen)} against it."
    )
