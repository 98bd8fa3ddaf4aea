"""One preview per modality, fitted to a result card.

image: a thumbnail; video: a strip of frames from the matching segment and a player;
audio: the waveform with the segment shaded, and a player starting there; depth and thermal:
the frame in a colour map with a scale bar; IMU: six small line plots; text: a quote.
Other registered modalities (trained arrays) get their spec's kind: a line plot of up to
eight channels, or a heat map of the first channel.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from dashboard.components import colormaps, media, style

if TYPE_CHECKING:
    from binding.api import Engine

#: Where a modality's colour map comes from, and the unit written on its scale bar.
FIELD_COLORMAPS = {"depth": "viridis", "thermal": "inferno"}
#: Line colours of the six IMU channels (accelerometer warm, gyroscope cool).
IMU_COLORS = ("#db2777", "#ea580c", "#ca8a04", "#2563eb", "#0891b2", "#16a34a")


def display_name(payload: dict[str, Any]) -> str:
    """What a card calls its item: the stored display name, else the source's last part."""
    name = payload.get("name")
    if name:
        return str(name)
    source = str(payload.get("source") or "")
    if source.startswith("upload:"):
        source = source[len("upload:") :]
    return source.replace("\\", "/").rsplit("/", 1)[-1] or "(unnamed)"


def segment(payload: dict[str, Any]) -> tuple[float, float] | None:
    """The (start, end) seconds of a segment point, or None for a whole item."""
    start = payload.get("start", payload.get("segment_start"))
    end = payload.get("end", payload.get("segment_end"))
    if start is None or end is None:
        return None
    return float(start), float(end)


def media_path(engine: Engine, payload: dict[str, Any]) -> Path | None:
    """The stored file behind a point, found by its sha256 (never by its name)."""
    sha256 = payload.get("sha256")
    if not sha256:
        return None
    try:
        return engine.media_file(str(sha256))
    except (OSError, ValueError):  # a missing or unreadable file: the card says so instead
        return None


def _missing(what: str) -> None:
    st.caption(f":material/hide_image: {what}")


def render(engine: Engine, payload: dict[str, Any], *, key: str, compact: bool = True) -> None:
    """Draw the preview of one point into the current container."""
    modality = str(payload.get("modality") or "")
    if modality == "text" and payload.get("text"):
        _quote(str(payload["text"]))
        return
    path = media_path(engine, payload)
    if path is None:
        _missing("no stored media to preview")
        return
    try:
        if modality == "image":
            st.image(media.thumbnail(path), width="stretch")
        elif modality == "video":
            _video(path, payload, key=key, compact=compact)
        elif modality == "audio":
            _audio(path, payload)
        elif modality in FIELD_COLORMAPS:
            _field(path, modality)
        elif modality == "imu":
            _imu(path, payload)
        elif modality == "text":
            _quote(media.read_text(path))
        else:
            _generic(path, modality)
    except Exception as exc:  # a preview must never take the page down
        _missing(f"preview failed: {type(exc).__name__}: {exc}"[:200])


def _quote(text: str) -> None:
    text = " ".join(text.split())
    if len(text) > 400:
        text = text[:399] + "\u2026"
    st.markdown(f'<div class="bd-quote">{html.escape(text)}</div>', unsafe_allow_html=True)


def _video(path: Path, payload: dict[str, Any], *, key: str, compact: bool) -> None:
    span = segment(payload)
    strip = media.frame_strip(path, *(span or (None, None)))
    if strip is not None:
        st.image(strip, width="stretch")
    start = int(span[0]) if span else 0
    if compact:
        with st.expander("Play", icon=":material/play_arrow:"):
            st.video(str(path), start_time=start)
    else:
        st.video(str(path), start_time=start)


def waveform_chart(wave: dict[str, Any], span: tuple[float, float] | None) -> Any:
    """The min/max envelope as one vertical rule per bin; the matching segment in colour
    and the rest in grey (one mark, no layers: layered charts collapse at this height)."""
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame({"t": wave["t"], "lo": wave["lo"], "hi": wave["hi"]})
    if span is None:
        frame["part"] = "match"
    else:
        inside = (frame["t"] >= span[0]) & (frame["t"] <= span[1])
        frame["part"] = inside.map({True: "match", False: "rest"})
    peak = max(1e-6, float(max(abs(frame["lo"].min()), abs(frame["hi"].max()))))
    return (
        alt.Chart(frame)
        .mark_rule(strokeWidth=1.6)
        .encode(
            x=alt.X("t:Q", axis=None, scale=alt.Scale(domain=[0, max(wave["duration"], 1e-6)])),
            y=alt.Y("lo:Q", axis=None, scale=alt.Scale(domain=[-peak, peak])),
            y2="hi:Q",
            color=alt.Color(
                "part:N",
                legend=None,
                scale=alt.Scale(
                    domain=["match", "rest"], range=[style.MODALITY_COLORS["audio"], "#cbd5e1"]
                ),
            ),
        )
        .properties(height=56)
        .configure_view(strokeWidth=0)
    )


def _audio(path: Path, payload: dict[str, Any]) -> None:
    wave = media.waveform(path)
    span = segment(payload)
    if wave["t"]:
        st.altair_chart(waveform_chart(wave, span), width="stretch")
    start = span[0] if span else 0
    st.audio(str(path), start_time=int(start))


def _field(path: Path, modality: str) -> None:
    colormap = FIELD_COLORMAPS[modality]
    picture, low, high = media.colored_field(path, colormap)
    st.image(picture, width="stretch")
    st.markdown(colormaps.scale_bar_html(colormap, low, high), unsafe_allow_html=True)


def imu_chart(values: Any, step: int, first_sample: int = 0) -> Any:
    """Six small line plots (accelerometer xyz above gyroscope xyz) of a (6, T) array."""
    import altair as alt
    import pandas as pd

    samples = values.shape[1]
    index = first_sample + np.arange(samples) * step
    frame = pd.concat(
        [
            pd.DataFrame({"channel": name, "sample": index, "value": values[channel]})
            for channel, name in enumerate(media.IMU_CHANNELS)
        ]
    )
    color = alt.Color(
        "channel:N",
        legend=None,
        scale=alt.Scale(domain=list(media.IMU_CHANNELS), range=list(IMU_COLORS)),
    )
    return (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("sample:Q", axis=None),
            y=alt.Y("value:Q", axis=None, scale=alt.Scale(zero=False)),
            color=color,
        )
        .properties(width=72, height=34)
        .facet(
            facet=alt.Facet(
                "channel:N",
                title=None,
                sort=list(media.IMU_CHANNELS),
                header=alt.Header(labelFontSize=9, labelPadding=1),
            ),
            columns=3,
            spacing={"row": 2, "column": 6},
        )
        .resolve_scale(y="independent")
        .configure_view(stroke="#e5e7eb")
    )


def _imu(path: Path, payload: dict[str, Any]) -> None:
    span = segment(payload)
    rate = payload.get("sample_rate")
    if span and rate:  # a window: plot just that window
        first, last = int(span[0] * float(rate)), int(span[1] * float(rate))
        curves = media.imu_curves(path, window=(first, last))
    else:
        first = 0
        curves = media.imu_curves(path)
    st.altair_chart(imu_chart(curves["values"], curves["step"], first), width="content")


def _generic(path: Path, modality: str) -> None:
    """A registered modality without a preview of its own: its spec's `preview` kind."""
    from binding.io.arrays import decode_array
    from binding.modality import modality_spec

    try:
        kind = modality_spec(modality).preview
    except ValueError:
        kind = None
    if kind not in ("line-plot", "heat-map"):
        _missing(f"no preview for {modality or 'unknown'} items")
        return
    values = decode_array(path)
    if kind == "line-plot":
        st.line_chart(values[:8].T, height=120)
        return
    plane = values[0]
    low, high = float(plane.min()), float(plane.max())
    st.image((plane - low) / max(high - low, 1e-12), clamp=True, width="stretch")
