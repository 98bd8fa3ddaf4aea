"""Evaluate: zero-shot classification of a labelled folder (on the server, or uploaded as a
zip of class folders): top-1/top-5, the per-class chart, the confusion matrix, and the saved
runs side by side. The page calls `binding.eval` only; runs are the CLI's JSON files in
`<data_dir>/evals`, so `binding eval compare` reads them too."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.components import session

ss = st.session_state
MODALITIES = ["auto", "image", "video", "audio", "depth", "thermal", "imu"]


def _unzip(upload: Any) -> Path:
    """An uploaded zip of class folders, extracted to a temporary folder (members checked)."""
    folder = Path(tempfile.mkdtemp(prefix="binding-eval-"))
    with zipfile.ZipFile(upload) as archive:
        for member in archive.namelist():
            target = (folder / member).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise ValueError(f"{upload.name}: member {member!r} points outside the archive")
        archive.extractall(folder)
    inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("__")]
    # a zip of one top folder holding the class folders
    if len(inner) == 1 and any(q.is_dir() for q in inner[0].iterdir()):
        return inner[0]
    return folder


def _run(
    engine: Any,
    source: Path,
    modality: str,
    against: str,
    templates: list[str],
    *,
    label: str | None = None,
) -> None:
    """Evaluate `source`; `label` names it in the run and its errors (an uploaded zip's name,
    never the temporary folder it was extracted to)."""
    try:
        _evaluate(engine, source, modality, against, templates, label)
    except Exception as exc:
        if label is None:
            raise
        raise session.relabelled(exc, {label: str(source)}, by_name=False) from None


def _evaluate(
    engine: Any,
    source: Path,
    modality: str,
    against: str,
    templates: list[str],
    label: str | None,
) -> None:
    from dataclasses import replace

    from binding.eval.classify import confusion_png, read_labelled
    from binding.eval.runner import default_output, open_embedder, run_classify

    data = read_labelled(source, None if modality == "auto" else modality, mixed=against != "none")
    if label is not None:
        data = replace(data, origin=label)
    kinds = [data.modality.value] + ([against] if against != "none" else [])
    shared = None if session.is_distributed(engine.settings) else engine.encoder
    embedder = open_embedder(engine.settings, kinds, encoder=shared)
    bar = st.progress(0.0, text="Embedding…")
    total = max(1, len(data.items) + len(data.classes) * 8)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        bar.progress(min(1.0, done[0] / total), text=f"{done[0]} embedded")

    run, result = run_classify(
        data,
        embedder,
        templates=templates or None,
        against=None if against == "none" else against,
        progress=tick,
    )
    bar.empty()
    path = run.save(default_output(engine.settings, "classify"))
    png = confusion_png(
        result,
        path.with_suffix(".png"),
        title=f"{label or source.name}: top-1 {result.top1:.3f}",
    )
    ss.eval_last = {"json": str(path), "png": str(png)}
    embedder.close()


def _show(last: dict[str, str]) -> None:
    run = json.loads(Path(last["json"]).read_text())
    metrics = run["metrics"]
    st.markdown(f"**Last run** · `{Path(last['json']).name}` · {run['data']['origin']}")
    cols = st.columns(4)
    cols[0].metric("Top-1", f"{metrics['top1']:.1%}", border=True)
    cols[1].metric("Top-5", f"{metrics['top5']:.1%}", border=True)
    cols[2].metric("Chance (top-1)", f"{metrics['chance_top1']:.1%}", border=True)
    cols[3].metric("Items", f"{metrics['count']:,}", border=True)
    rejected = run.get("rejected") or {}
    if rejected:
        count = len(rejected)
        lines = "\n".join(f"- `{source}`: {reason}" for source, reason in rejected.items())
        st.warning(
            f"{count} file{'s' if count != 1 else ''} could not be embedded and "
            f"{'were' if count != 1 else 'was'} left out of these numbers:\n{lines}"
        )
    left, right = st.columns(2)
    with left:
        st.markdown("**Per class**")
        frame = pd.DataFrame(
            {"class": list(metrics["per_class"]), "accuracy": list(metrics["per_class"].values())}
        )
        st.bar_chart(frame, x="class", y="accuracy", horizontal=True)
    with right:
        st.markdown("**Confusion matrix**")
        st.image(last["png"])


def _saved(settings: Any) -> None:
    from binding.eval.report import compare, load_run
    from binding.eval.runner import saved_runs

    runs = saved_runs(settings)
    st.markdown("#### Saved runs")
    if not runs:
        st.caption("No runs yet: evaluate a folder above, or run `binding eval classify DATA`.")
        return
    names = [p.name for p in runs]
    # keyed by the runs there are, so a new run shows up beside the previous one
    chosen = st.multiselect(
        "Side by side", names, default=names[:2], key=f"eval_compare_{len(names)}"
    )
    if not chosen:
        return
    loaded = [load_run(runs[names.index(name)]) for name in chosen]
    columns, rows = compare(loaded)
    columns = ["", *chosen] + (["difference"] if len(chosen) >= 2 else [])
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")


st.markdown("### :material/analytics: Evaluate")
st.caption(
    "Zero-shot classification of a labelled set: one folder per class (images, sounds, "
    "videos…). Class names become text prompts, or use another modality's examples."
)
engine = session.engine()
where = st.radio(
    "Labelled data", ["Folder on the server", "Upload a zip"], horizontal=True, key="eval_where"
)
source: Path | None = None
label: str | None = None  # what an uploaded zip is called in runs and errors
if where == "Folder on the server":
    typed = st.text_input("Folder of class folders", key="eval_folder", placeholder="/data/pets")
    source = Path(typed).expanduser() if typed else None
else:
    upload = st.file_uploader("Zip of class folders", type=["zip"], key="eval_zip")
    if upload is not None:
        try:
            # extracted once per upload, not on every rerun of the page
            extracted = ss.setdefault("eval_unzipped", {})
            key = getattr(upload, "file_id", None) or upload.name
            if key not in extracted or not Path(extracted[key]).is_dir():
                extracted[key] = str(_unzip(upload))
            source = Path(extracted[key])
            label = f"{session.Upload.of(upload.name, b'').name} (uploaded)"
        except (ValueError, zipfile.BadZipFile) as exc:
            session.show_error("The zip could not be read", exc)
c1, c2 = st.columns(2)
modality = c1.selectbox("Modality of the items", MODALITIES, key="eval_modality")
against = c2.selectbox("Classify against", ["none", *MODALITIES[1:]], key="eval_against",
                       help="none: text prompts of the class names; else that modality's examples.")  # fmt: skip
templates_text = st.text_area(
    "Prompt templates (one a line, {} is the class name; empty: the defaults)", key="eval_templates"
)
if st.button("Evaluate", key="eval_run", type="primary", disabled=source is None):
    assert source is not None
    templates = [t.strip() for t in templates_text.splitlines() if t.strip()]
    try:
        _run(engine, source, modality, against, templates, label=label)
    except Exception as exc:
        session.show_error("The evaluation failed", exc)
if "eval_last" in ss and Path(ss.eval_last["json"]).exists():
    _show(ss.eval_last)
_saved(engine.settings)
