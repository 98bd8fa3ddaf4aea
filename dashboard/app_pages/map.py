"""Map: a 2-D picture of a sample of the collection; click a point to search with it."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from binding.api import Engine

from dashboard.components import previews, results, session, style
from dashboard.components.projection import pca_2d

ss = st.session_state
SAMPLE_SIZES = (500, 1000, 2000, 5000)
HAS_UMAP = importlib.util.find_spec("umap") is not None


@st.cache_data(max_entries=8, show_spinner="Projecting the sample…")
def _projection(
    key: str, rev: int, size: int, modalities: tuple[str, ...], method: str, _engine: Engine
) -> pd.DataFrame:
    from binding.api import Filter

    where = Filter(modalities=frozenset(modalities)) if modalities else None
    ids, vectors, rows = [], [], []
    for point in _engine.scroll(filter=where, with_vectors=True, limit=size):
        ids.append(str(point.id))
        vectors.append(np.asarray(point.vector, dtype=np.float32))
        payload = point.payload
        span = previews.segment(payload)
        rows.append(
            {
                "name": previews.display_name(payload),
                "modality": payload.get("modality") or "?",
                "segment": f"{style.format_seconds(span[0])}–{style.format_seconds(span[1])}"
                if span
                else "whole",
            }
        )
    frame = pd.DataFrame(rows, columns=["name", "modality", "segment"])
    frame.insert(0, "id", ids)
    if not ids:
        frame["x"], frame["y"] = [], []
        return frame
    matrix = np.stack(vectors)  # (N, D)
    if method == "UMAP" and HAS_UMAP and len(ids) > 15:
        import umap

        coords = umap.UMAP(n_components=2, random_state=0).fit_transform(matrix)
    else:
        coords = pca_2d(matrix)
    frame["x"], frame["y"] = coords[:, 0], coords[:, 1]
    return frame


def _search_with(point_id: str) -> None:
    ss["search_like"] = point_id
    ss["search_go"] = True
    ss["map_switch"] = True


st.title("Map")
st.caption(
    "A sample of the collection projected to two dimensions, coloured by modality. Hover for "
    "names, click a point to see it, its nearest neighbours, and to search with it."
)
engine = session.engine()
# the controls are batched: choosing them redraws nothing until Draw
with st.form("map_controls", border=False, enter_to_submit=False):
    controls = st.columns([1.5, 4.6, 1.6, 0.9], vertical_alignment="bottom")
    size = controls[0].select_slider(
        "Sample", SAMPLE_SIZES, value=2000, key="map_size", persist_state="session"
    )
    chosen = controls[1].pills(
        "Modalities",
        style.MODALITIES,
        selection_mode="multi",
        default=list(style.MODALITIES),
        format_func=lambda m: style.MODALITY_LABELS[m],
        key="map_modalities",
        persist_state="session",
    )
    method = controls[2].segmented_control(
        "Projection",
        ("PCA", "UMAP"),
        default="PCA",
        required=True,
        key="map_method",
        persist_state="session",
        help=None
        if HAS_UMAP
        else "UMAP needs the optional package umap-learn (pip install umap-learn).",
    )
    with controls[3]:
        st.form_submit_button("Draw", icon=":material/refresh:", width="stretch")
if method == "UMAP" and not HAS_UMAP:
    st.info(
        "UMAP is optional and not installed here (`pip install umap-learn`); showing PCA.",
        icon=":material/info:",
    )
# `?point=<id>` opens the map on a point (links can be shared); a click updates it
linked = st.query_params.get("point")
if linked and linked != ss.get("map_last_link"):
    ss["map_last_link"] = linked
    if session.canonical_id(linked) is None:
        shown_link = linked if len(linked) <= 60 else linked[:57] + "..."
        st.warning(
            f"The address asks for the point \u201c{style.escape_markdown(shown_link)}\u201d, which is "
            "not a point id (ids look like `3f6c1a2e-…`); showing the whole map.",
            icon=":material/link_off:",
        )
        ss.pop("map_selected", None)
    else:
        ss["map_selected"] = session.canonical_id(linked)
if ss.pop("map_switch", False):
    st.switch_page("app_pages/search.py")
if not chosen:
    st.warning("Pick at least one modality.", icon=":material/filter_alt_off:")
    st.stop()

wanted = () if set(chosen) == set(style.MODALITIES) else tuple(sorted(chosen))
try:
    frame = _projection(
        session.settings_key(engine.settings),
        session.revision(),
        int(size),
        wanted,
        str(method),
        engine,
    )
except Exception as exc:
    session.show_error("The map could not be drawn", exc)
    st.stop()

if frame.empty:
    results.empty_state("Nothing to map.", "The collection has no points of these modalities yet.")
    st.stop()

total = session.info().count
st.caption(
    f"{len(frame):,} of {total:,} points · {('UMAP' if method == 'UMAP' and HAS_UMAP else 'PCA')}"
)
selected = ss.get("map_selected")
frame = frame.assign(chosen=frame["id"] == selected)
dot = 150 if len(frame) <= 300 else 70 if len(frame) <= 2000 else 30  # area in px
pick = alt.selection_point(name="pick", fields=["id"], on="click", clear="dblclick")
present = [m for m in style.MODALITIES if m in set(frame["modality"])]
chart = (
    alt.Chart(frame)
    .mark_circle(stroke="#111827")
    .encode(
        x=alt.X("x:Q", axis=None),
        y=alt.Y("y:Q", axis=None),
        color=alt.Color(
            "modality:N",
            scale=alt.Scale(domain=present, range=[style.MODALITY_COLORS[m] for m in present]),
            legend=alt.Legend(title=None),  # (orient="top" collapses the plot in Streamlit 1.67)
        ),
        size=alt.condition("datum.chosen", alt.value(320), alt.value(dot)),
        strokeWidth=alt.condition("datum.chosen", alt.value(2), alt.value(0)),
        opacity=alt.value(0.82),
        tooltip=[
            alt.Tooltip("name:N", title="item"),
            alt.Tooltip("modality:N"),
            alt.Tooltip("segment:N"),
        ],
    )
    .add_params(pick)
    .properties(height=520)
    .configure_view(strokeWidth=0)
)
layout = st.columns([3, 1.2], gap="medium")
with layout[0]:
    event = st.altair_chart(
        chart, width="stretch", on_select="rerun", selection_mode="pick", key="map_chart"
    )
picked = (getattr(event, "selection", None) or {}).get("pick") or []
clicked = picked[0].get("id") if picked else None
if clicked and clicked != ss.get("map_last_click"):  # a new click (not a kept selection)
    ss["map_last_click"] = clicked
    ss["map_selected"] = ss["map_last_link"] = clicked
    st.query_params["point"] = clicked
    st.rerun()

with layout[1]:
    if not selected:
        st.caption("Click a point to see it here.")
    else:
        point = session.point(selected)
        if point is None:
            st.caption("That point is gone from the collection.")
        else:
            with st.container(border=True):
                previews.render(engine, dict(point.payload), key="map_preview")
                st.markdown(results.meta_html(dict(point.payload)), unsafe_allow_html=True)
                st.markdown(f"**{style.escape_markdown(previews.display_name(point.payload))}**")
                st.button(
                    "Search with it",
                    type="primary",
                    icon=":material/travel_explore:",
                    on_click=_search_with,
                    args=(selected,),
                    width="stretch",
                    key="map_search_with",
                )

if selected and session.point(selected) is not None:
    st.subheader("Nearest neighbours")
    try:
        near = session.more_like(selected, limit=8)
    except Exception as exc:
        session.show_error("The neighbours could not be found", exc)
        st.stop()
    results.render_grid(
        engine,
        near.hits,
        key="map",
        actions=(
            (
                "Show on map",
                ":material/my_location:",
                lambda pid: ss.__setitem__("map_selected", pid),
            ),
        ),
    )
