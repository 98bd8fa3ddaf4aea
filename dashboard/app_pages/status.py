"""Status: model and device, what the collection holds, workers, problems and their fixes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from binding.api import Engine

from dashboard.components import examples, session, style

ss = st.session_state
CHECK_COLORS = {"ok": "#15803d", "warn": "#b45309", "fail": "#b91c1c"}


def redact(url: str | None) -> str:
    """A URL without its password (`redis://:secret@host` -> `redis://:***@host`)."""
    if not url:
        return ""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


@st.cache_data(ttl=60, max_entries=4, show_spinner="Running checks…")
def _checks(key: str, _settings: Any) -> pd.DataFrame:
    from binding.doctor import run_checks

    rows = [
        {"check": c.name, "status": c.status, "detail": c.detail} for c in run_checks(_settings)
    ]
    return pd.DataFrame(rows, columns=["check", "status", "detail"])


def _check_style(value: str) -> str:
    return f"color: {CHECK_COLORS.get(value, 'inherit')}; font-weight: 600"


def _load_sample(engine: Engine) -> None:
    from binding.demo import make_demo_data, make_world_demo

    # outside the data folder: ingest leaves the engine's own folder alone
    folder = Path(engine.settings.cache_dir) / "sample-data"
    bar = st.progress(0.0, text="Writing the sample files…")
    # binding_mini knows its synthetic world: its sample is scenes of it (docs/mini.md)
    world = engine.model == examples.WORLD_MODEL
    data = make_world_demo(folder / "world") if world else make_demo_data(folder)
    folder = data.root
    files = data.all()
    done: list[Any] = []

    def progress(outcome: Any) -> None:
        done.append(outcome)
        name = Path(str(outcome.source)).name
        bar.progress(
            min(1.0, len(done) / max(1, len(files))), text=f"{len(done)} of {len(files)}: {name}"
        )

    started = time.perf_counter()
    report = engine.ingest([str(folder)], tags=["demo"], progress=progress)
    # and the walking recording replayed as a sensor stream, as a stream consumer stores it
    walking = [p for p in data.files.get("imu", []) if "walking" in p.stem]
    if walking:
        from binding.streams import ingest_recording

        bar.progress(1.0, text="Replaying a recording as the stream demo-walk…")
        ingest_recording(
            engine, walking[:1], stream="demo-walk", tags=["demo"], start_time=time.time() - 12
        )
    bar.progress(1.0, text=f"Done in {time.perf_counter() - started:.1f} s")
    session.bump_revision()
    ss["status_sample_report"] = report.counts


st.title("Status")
engine = session.engine()
settings = engine.settings
distributed = session.is_distributed(settings)
try:
    summary = session.info()
except Exception as exc:
    session.show_error("The collection could not be read", exc)
    st.stop()

top = st.columns(4)
top[0].metric("Points", f"{summary.count:,}", border=True)
top[1].metric("Media files", f"{summary.media_files:,}", border=True)
top[2].metric("Modalities", len(summary.modalities), border=True)
top[3].metric("Mode", "distributed" if distributed else "embedded", border=True)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Collection")
    if summary.modalities:
        counts = pd.DataFrame(
            {"modality": list(summary.modalities), "points": list(summary.modalities.values())}
        )
        present = list(summary.modalities)
        chart = (
            alt.Chart(counts)
            .mark_bar(cornerRadiusEnd=3)
            .encode(
                # counts are whole numbers: no 0.5 ticks when a modality holds one point
                x=alt.X("points:Q", title="points", axis=alt.Axis(tickMinStep=1, format="d")),
                y=alt.Y("modality:N", title=None, sort=list(style.MODALITIES)),
                color=alt.Color(
                    "modality:N",
                    scale=alt.Scale(
                        domain=present,
                        range=[style.MODALITY_COLORS.get(m, "#6b7280") for m in present],
                    ),
                    legend=None,
                ),
                tooltip=["modality", "points"],
            )
            .properties(height=28 * len(present) + 30)
        )
        st.altair_chart(chart, width="stretch")
    else:
        st.caption("Empty: load the sample dataset below, or upload files on the Ingest page.")
    index_state = "HNSW index built" if summary.indexed else "not indexed yet (exact search)"
    st.markdown(
        f"- **Collection** `{summary.collection}` on **{summary.engine}** · {index_state}\n"
        f"- **Data folder** `{summary.data_dir}`"
    )

with right:
    st.subheader("Model and device")
    loaded = getattr(engine, "_encoder", None)  # read only: never load the model to show this
    device = str(getattr(loaded, "device", "")) if loaded is not None else ""
    st.markdown(
        f"- **Model** `{summary.model}` · {summary.dim}-d\n"
        f"- **Weights** {'random (meaningless results)' if summary.random_weights else 'trained checkpoint'}\n"
        f"- **Device** `{device or settings.device}`"
        + ("" if loaded is not None else " (the encoder loads on the first search)")
        + f"\n- **Precision** `{settings.precision}`"
    )
    st.subheader("Workers and queues")
    if not distributed:
        st.info(
            "**Embedded mode.** This process embeds and searches itself; there are no workers "
            "or queues. Set `BINDING_QDRANT_URL` and `BINDING_BROKER_URL` to use the "
            "distributed stack (`docker compose up`).",
            icon=":material/computer:",
        )
    else:
        st.markdown(
            f"- **Qdrant** `{redact(settings.qdrant_url) or 'not set'}`\n"
            f"- **Broker** `{redact(settings.broker_url) or 'not set'}`"
        )
        workers = getattr(engine, "workers", None)
        if callable(workers):
            try:
                st.dataframe(pd.DataFrame(workers()), hide_index=True, width="stretch")
            except Exception as exc:
                session.show_error("Workers could not be listed", exc)
        else:
            st.caption("This engine does not report its workers and queues yet.")

st.subheader("Checks")
checks = _checks(session.settings_key(settings), settings)
problems = checks[checks["status"] != "ok"]
if problems.empty:
    st.success("Everything checked is in order.", icon=":material/check_circle:")
else:
    for row in problems.itertuples():
        message = f"**{row.check}**: {row.detail}"
        if row.status == "fail":
            st.error(message, icon=":material/error:")
        else:
            st.warning(message, icon=":material/warning:")
with st.expander(f"All {len(checks)} checks", icon=":material/checklist:"):
    # a static table: its cells wrap, so every detail is read whole, never cut off
    st.table(
        checks.rename(columns={"check": "Check", "status": "Status", "detail": "Detail"}).style.map(
            _check_style, subset=["Status"]
        ),
        hide_index=True,
    )

st.subheader("Sample dataset")
st.caption(
    "About twenty small generated files of every modality (pictures, sounds, clips, depth "
    "maps, thermal frames, IMU recordings) and one replayed sensor stream, tagged `demo`, so "
    "every page has something to show."
)
cols = st.columns([2.1, 1.3, 3.6])
if cols[0].button(
    "Load the sample dataset", type="primary", icon=":material/dataset:", width="stretch"
):
    try:
        _load_sample(engine)
    except Exception as exc:
        session.show_error("The sample dataset could not be loaded", exc)
        st.stop()
    st.rerun()
if cols[1].button("Remove it", icon=":material/delete:", width="stretch", key="status_remove_demo"):
    try:
        removed = engine.delete(tag="demo")
        session.bump_revision()
        ss["status_sample_report"] = {"removed": removed}
    except Exception as exc:
        session.show_error("The sample dataset could not be removed", exc)
    st.rerun()
report = ss.get("status_sample_report")
if report:
    if "removed" in report:
        st.success(
            f"Removed {style.plural(int(report['removed']), 'sample point')}.",
            icon=":material/delete:",
        )
    else:
        st.success(
            f"Sample dataset: {style.plural(report.get('embedded', 0), 'file')} embedded, "
            f"{report.get('duplicate', 0)} already there, {report.get('rejected', 0)} rejected; "
            f"{style.plural(report.get('points', 0), 'point')} written.",
            icon=":material/check_circle:",
        )
        links = st.columns(4)
        links[0].page_link("app_pages/search.py", label="Search it", icon=":material/search:")
        links[1].page_link(
            "app_pages/compose.py", label="Try a worked example", icon=":material/functions:"
        )
        links[2].page_link("app_pages/map.py", label="See the map", icon=":material/scatter_plot:")
