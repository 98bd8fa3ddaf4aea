"""Ingest: upload mixed media, say what bytes cannot tell, watch each file's outcome."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from dashboard.components import session, style

ss = st.session_state
AUTO = "detect"
#: The outcome column as people read it.
OUTCOME_COLORS = {"embedded": "#15803d", "duplicate": "#6b7280", "rejected": "#b91c1c"}


def _outcome_style(value: str) -> str:
    return f"color: {OUTCOME_COLORS.get(value, 'inherit')}; font-weight: 600"


st.title("Ingest")
st.caption(
    "Drop files of any modality. The content decides what each file is; say it yourself for "
    "what bytes cannot tell apart (a depth map, a thermal frame, an IMU array)."
)
engine = session.engine()
server_mb = int(st.get_option("server.maxUploadSize"))
engine_bytes = int(engine.settings.max_upload_bytes)
limit_bytes = min(server_mb * 1_000_000, engine_bytes)
ss.setdefault("ingest_generation", 0)

with st.container(border=True):
    st.markdown(
        f"**Limits** · up to **{style.format_bytes(limit_bytes)}** per file (upload limit "
        f"{style.format_bytes(server_mb * 1_000_000)}, engine limit "
        f"{style.format_bytes(engine_bytes)}) · many files at once\n\n"
        "**Accepted** · images (JPEG, PNG, WebP, GIF, BMP, TIFF) · video (MP4, MOV, WebM, MKV) · "
        "audio (WAV, FLAC, OGG, MP3, M4A) · depth and thermal (PNG, TIFF, `.npy`) · "
        "IMU (CSV with `acc_x … gyro_z` columns, `.npy` of shape (6, T)) · text (`.txt`, say *Text*)"
    )
    files = st.file_uploader(
        "Files",
        accept_multiple_files=True,
        key=f"ingest_files_{ss['ingest_generation']}",
        max_upload_size=max(1, limit_bytes // 1_000_000),
        help="The file type filter of a browser is only a hint: every file's bytes are checked.",
    )
    cols = st.columns([2, 3, 2], vertical_alignment="bottom")
    override = cols[0].selectbox(
        "Files the content cannot classify are",
        (AUTO, *(m for m in style.MODALITIES if m != "text")),
        format_func=lambda m: "rejected (say per file)" if m == AUTO else style.MODALITY_LABELS[m],
        key="ingest_modality",
        help="Bytes cannot tell a depth map from a thermal frame (or some arrays from IMU). "
        "This applies to those files; the 'Ingest as' column below overrides any one file.",
    )
    tags_text = cols[1].text_input(
        "Tags", key="ingest_tags", placeholder="comma separated, e.g. trip, 2026"
    )

plan = None
if files:
    rows = []
    for file in files:
        kept = session.Upload.of(file.name, file.getvalue())
        guessed, why = session.guess_modality(kept)
        rows.append(
            {
                "file": kept.name,
                "size": style.format_bytes(len(kept.data)),
                "detected": guessed or "?",
                "modality": AUTO,
                "note": "" if guessed else why,
            }
        )
    st.markdown(
        f"**{style.plural(len(files), 'file')} ready.** Set a modality where detection cannot tell."
    )
    plan = st.data_editor(
        pd.DataFrame(rows),
        key=f"ingest_plan_{ss['ingest_generation']}",
        hide_index=True,
        disabled=("file", "size", "detected", "note"),
        column_config={
            "file": st.column_config.TextColumn("File", width="medium"),
            "size": st.column_config.TextColumn("Size", width="small"),
            "detected": st.column_config.TextColumn("Detected", width="small"),
            "modality": st.column_config.SelectboxColumn(
                "Ingest as", options=[AUTO, *style.MODALITIES], required=True, width="small"
            ),
            "note": st.column_config.TextColumn("Why not detected", width="large"),
        },
        width="stretch",
    )
    go = cols[2].button(
        f"Ingest {style.plural(len(files), 'file')}",
        type="primary",
        icon=":material/cloud_upload:",
        width="stretch",
    )
else:
    go = False
    cols[2].button(
        "Ingest", type="primary", icon=":material/cloud_upload:", disabled=True, width="stretch"
    )

if go and files:
    from binding.api import Engine
    from binding.points import clean_tags

    try:
        tags = clean_tags([t for t in tags_text.split(",")])
    except ValueError as exc:
        st.error(f"**Bad tag.** {exc}", icon=":material/label_off:")
        st.stop()
    choices = list(plan["modality"]) if plan is not None else [AUTO] * len(files)
    detected = list(plan["detected"]) if plan is not None else ["?"] * len(files)
    outcomes = []
    started = time.perf_counter()
    bar = st.progress(0.0, text="Starting…")
    live = st.empty()
    for index, (file, choice, seen) in enumerate(zip(files, choices, detected, strict=True)):
        if choice != AUTO:
            modality = choice
        elif seen == "?" and override != AUTO:
            modality = override
        else:
            modality = None  # the engine sniffs it
        bar.progress(index / len(files), text=f"{index + 1} of {len(files)}: {file.name}")
        try:
            outcome = engine.ingest_bytes(file.name, file.getvalue(), modality=modality, tags=tags)
            row = {
                "file": Engine.label(file.name),
                "outcome": outcome.status,
                "modality": outcome.modality or modality or "",
                "points": outcome.points,
                "reason": session.ui_text(outcome.reason or ""),
            }
        except Exception as exc:  # one bad file never stops the others
            row = {
                "file": Engine.label(file.name),
                "outcome": "rejected",
                "modality": modality or "",
                "points": 0,
                "reason": session.ui_reason(exc),
            }
        outcomes.append(row)
        live.dataframe(pd.DataFrame(outcomes), hide_index=True, width="stretch")
    elapsed = time.perf_counter() - started
    bar.progress(1.0, text=f"Done: {style.plural(len(files), 'file')} in {elapsed:.1f} s")
    live.empty()
    session.bump_revision()
    ss["ingest_report"] = (outcomes, elapsed)
    ss["ingest_generation"] += 1  # a fresh, empty uploader: these files are in
    st.rerun()

report = ss.get("ingest_report")
if report is not None:
    outcomes, elapsed = report
    frame = pd.DataFrame(outcomes)
    counts = frame["outcome"].value_counts().to_dict() if len(frame) else {}
    st.subheader("Last ingest")
    metrics = st.columns(4)
    metrics[0].metric("Embedded", counts.get("embedded", 0), border=True)
    metrics[1].metric("Duplicates", counts.get("duplicate", 0), border=True)
    metrics[2].metric("Rejected", counts.get("rejected", 0), border=True)
    metrics[3].metric(
        "Points written", int(frame["points"].sum()) if len(frame) else 0, border=True
    )
    # a static table: its cells wrap, so a long reason is read whole, never cut off
    shown = frame.rename(
        columns={
            "file": "File",
            "outcome": "Outcome",
            "modality": "Modality",
            "points": "Points",
            "reason": "Reason",
        }
    )
    st.table(
        shown.style.map(_outcome_style, subset=["Outcome"]) if len(shown) else shown,
        hide_index=True,
    )
    st.caption(
        f"{style.plural(len(frame), 'file')} in {elapsed:.1f} s. Duplicates were already stored."
    )
