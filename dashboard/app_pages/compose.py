"""Compose: weighted terms of any modality, combined, filtered and explained."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from binding.query import PointInput, Query, QueryError, format_query, make_filter
from dashboard.components import examples, previews, results, session, style
from dashboard.components import terms as rows_

ss = st.session_state
MODE_HELP = {
    "sum": "ImageBind arithmetic: the weighted sum of the normalised terms, searched once.",
    "rrf": "Rank fusion: each term searches on its own, the ranked lists are fused (RRF, k=60).",
    "recommend": "Qdrant's recommend: + terms are examples to be near, \u2212 terms examples to "
    "stay away from; weights do not apply.",
}
LIMITS = (5, 10, 20, 50, 100)

# --- state ---------------------------------------------------------------------------------

if "compose_rows" not in ss:
    ss["compose_rows"] = [
        rows_.new_row(ss, kind="text", text=""),
    ]
ss.setdefault("compose_uploads", {})
ss.setdefault("compose_names", {})  # point id -> display name, for labels
for name, default in (("mode", "sum"), ("limit", 10), ("modalities", list(style.MODALITIES))):
    ss.setdefault(f"compose_{name}", default)


def _add_row(kind: str = "text", **values: Any) -> None:
    ss["compose_rows"].append(rows_.new_row(ss, kind=kind, **values))


def _remove_row(uid: int) -> None:
    ss["compose_rows"] = [r for r in ss["compose_rows"] if r.uid != uid]
    rows_.forget(ss, uid)


def _add_point(point_id: str, sign: str) -> None:
    _add_row("stored", point=point_id, sign=sign)


def _load_written(text: str) -> None:
    """Rows, mode, limit and filters from a written query (callback: runs before the page)."""
    from binding.query import QuerySyntaxError, parse_query

    ss.pop("compose_expr_error", None)
    try:
        query = parse_query(text)
    except QuerySyntaxError as exc:
        ss["compose_expr_error"] = (exc.message, exc.column, text)
        return
    except Exception as exc:
        ss["compose_expr_error"] = (session.ui_reason(exc), None, text)
        return
    missing = rows_.missing_uploads(query, ss.get("compose_uploads") or {})
    if missing:  # refuse: never drop a term, never search without it
        ss["compose_expr_error"] = (missing, None, text)
        return
    for row in ss["compose_rows"]:
        rows_.forget(ss, row.uid)
    ss["compose_rows"] = rows_.rows_from_query(ss, query)
    ss["compose_mode"] = query.mode
    ss["compose_limit"] = query.limit
    where = query.filter
    ss["compose_modalities"] = (
        sorted(where.modalities) if where and where.modalities else list(style.MODALITIES)
    )
    ss["compose_tags"] = sorted(where.tags) if where and where.tags else []
    ss["compose_stream"] = where.stream if where and where.stream else None
    ss["compose_keep_examples"] = query.keep_examples
    # conditions the widgets do not show (source, time, ids) are kept as they are
    ss["compose_other_filter"] = _other_conditions(where)
    ss["compose_expr_synced"] = None  # print the canonical form on the next run
    ss["compose_go"] = True


def _apply_expression() -> None:
    _load_written(ss.get("compose_expr") or "")


def _other_conditions(where: Any) -> Any:
    from dataclasses import replace

    if where is None:
        return None
    rest = replace(where, modalities=None, tags=None, stream=None)
    return None if rest.is_empty() else rest


def _go() -> None:
    ss["compose_go"] = True


def _refilter() -> None:
    """Filters applied: run the query again if results are shown."""
    if "compose_result" in ss:
        ss["compose_go"] = True


# --- header ----------------------------------------------------------------------------------

st.title("Compose")
st.caption(
    "Add terms of any modality, give each a sign and a weight, choose how they combine, and "
    "see why each result came back."
)
engine = session.engine()

with st.expander("Worked examples", icon=":material/school:", expanded=False):
    try:
        ready = examples.available(engine)
    except Exception as exc:
        ready = []
        session.show_error("The examples could not be prepared", exc)
    if not ready:
        st.caption(
            "The examples use the sample dataset. Load it on the Status page, then come back."
        )
        st.page_link(
            "app_pages/status.py", label="Load the sample dataset", icon=":material/dataset:"
        )
    else:
        grid = st.grid("auto", min_column_width=260, border=True)
        for i, (example, written) in enumerate(ready):
            with grid.cell():
                st.markdown(f"**{example.title}**")
                st.caption(example.description)
                st.button(
                    "Load",
                    key=f"compose_example_{i}",
                    icon=":material/play_arrow:",
                    on_click=_load_written,
                    args=(written,),
                )

# --- term rows -------------------------------------------------------------------------------

mode = ss.get("compose_mode") or "sum"
uploads: dict[str, session.Upload] = ss["compose_uploads"]
names: dict[str, str] = ss["compose_names"]
built: list[Any] = []
unnamed = [
    r.point for r in ss["compose_rows"] if r.kind == "stored" and r.point and r.point not in names
]
if unnamed:
    names.update(session.point_names(tuple(unnamed)))

st.subheader("Terms")
for index, row in enumerate(list(ss["compose_rows"])):
    uid = row.uid
    with st.container(border=True):
        cols = st.columns([1.3, 2.1, 1.8, 5.6, 0.45], vertical_alignment="center", gap="small")
        cols[0].segmented_control(
            "Sign",
            rows_.SIGNS,
            key=rows_.key("sign", uid),
            required=True,
            label_visibility="collapsed" if index else "visible",
            persist_state="session",
        )
        if mode == "recommend":
            cols[1].caption("weight: an example (\u00b11)")
        else:
            top = max(2.0, float(ss.get(rows_.key("weight", uid), 1.0)))
            cols[1].slider(
                "Weight",
                min_value=0.0,
                max_value=top,
                step=0.05,
                key=rows_.key("weight", uid),
                label_visibility="collapsed" if index else "visible",
                persist_state="session",
            )
        kinds = rows_.KINDS + (("vector",) if row.kind == "vector" else ())
        cols[2].selectbox(
            "Input",
            kinds,
            format_func=lambda k: rows_.KIND_LABELS[k],
            key=rows_.key("kind", uid),
            label_visibility="collapsed" if index else "visible",
            persist_state="session",
        )
        cols[4].button(
            "",
            key=f"compose_remove_{uid}",
            icon=":material/close:",
            help="Remove this term",
            on_click=_remove_row,
            args=(uid,),
            type="tertiary",
        )
        rows_.read_widgets(ss, row)
        with cols[3]:
            if row.kind == "text":
                st.text_input(
                    "Text",
                    key=rows_.key("text", uid),
                    placeholder="words to embed, e.g. people",
                    label_visibility="collapsed",
                    on_change=_go,
                    persist_state="session",
                )
            elif row.kind == "file":
                inner = st.columns([1.3, 3], vertical_alignment="center")
                # the uploader is drawn first so that a guessed modality can still seed
                # the selectbox beside it in this run
                file = inner[1].file_uploader(
                    "File", key=f"compose_file_{uid}", label_visibility="collapsed"
                )
                if file is not None:
                    kept = session.Upload.of(file.name, file.getvalue())
                    label = kept.name
                    if label in uploads and uploads[label].sha256 != kept.sha256:
                        label = f"{kept.sha256[:8]}-{label}"  # two different files, one name
                    uploads[label] = kept
                    while len(uploads) > rows_.MAX_UPLOADS:
                        uploads.pop(next(iter(uploads)))
                    if row.upload != label:
                        row.upload = label
                        guessed, _ = session.guess_modality(kept)
                        # a new file: what was said about the previous one does not carry over
                        ss[rows_.key("modality", uid)] = (
                            guessed if guessed and guessed != "text" else None
                        )
                elif row.upload in uploads:
                    inner[1].caption(f":material/attach_file: {row.upload}")
                elif row.upload:
                    inner[1].caption(f":material/upload: upload {row.upload}")
                inner[0].selectbox(
                    "Modality",
                    [m for m in style.MODALITIES if m != "text"],
                    format_func=lambda m: style.MODALITY_LABELS[m],
                    key=rows_.key("modality", uid),
                    index=None,
                    placeholder="Modality",
                    label_visibility="collapsed",
                    persist_state="session",
                )
            elif row.kind == "stored":
                options = list(names)
                if row.point and row.point not in options:
                    options.insert(0, row.point)
                st.selectbox(
                    "Stored item",
                    options,
                    key=rows_.key("point", uid),
                    index=None,
                    format_func=lambda pid: names.get(pid, pid),
                    placeholder="Pick an item from your results, or paste a point id",
                    accept_new_options=True,
                    label_visibility="collapsed",
                    persist_state="session",
                )
            else:
                st.caption(f"A raw vector of {len(row.vector or ())} numbers")
        rows_.read_widgets(ss, row)
        term, problem = rows_.row_term(row, mode, uploads)
        if term is None:
            cols[3].caption(f":material/info: {problem}")
        else:
            built.append(term)

adders = st.columns([1, 1, 1.25, 4.5])
adders[0].button(
    "Text term", icon=":material/add:", on_click=_add_row, args=("text",), width="stretch"
)
adders[1].button(
    "File term", icon=":material/add:", on_click=_add_row, args=("file",), width="stretch"
)
adders[2].button(
    "Stored item", icon=":material/add:", on_click=_add_row, args=("stored",), width="stretch"
)

# --- combination and filters -------------------------------------------------------------------

st.subheader("Combine")
options_row = st.columns([2.2, 4.8], gap="medium")
with options_row[0]:
    st.segmented_control(
        "Mode",
        ("sum", "rrf", "recommend"),
        key="compose_mode",
        required=True,
        persist_state="session",
    )
    st.caption(MODE_HELP[ss.get("compose_mode") or "sum"])
with options_row[1]:
    try:
        tag_options = sorted(engine.facet("tags"))
        stream_options = sorted(engine.facet("stream"))
    except Exception:
        tag_options, stream_options = [], []
    # the filters are batched: choosing them reruns nothing until Apply
    with st.form("compose_filters", border=False, enter_to_submit=False):
        st.pills(
            "Return",
            style.MODALITIES,
            selection_mode="multi",
            format_func=lambda m: style.MODALITY_LABELS[m],
            key="compose_modalities",
            persist_state="session",
        )
        filter_cols = st.columns([2, 2, 1.2], vertical_alignment="bottom")
        filter_cols[0].multiselect(
            "Tags (any of)",
            tag_options,
            key="compose_tags",
            placeholder="any tag",
            persist_state="session",
        )
        filter_cols[1].selectbox(
            "Stream",
            stream_options,
            index=None,
            key="compose_stream",
            placeholder="any",
            persist_state="session",
        )
        limits = sorted({*LIMITS, int(ss.get("compose_limit") or 10)})
        filter_cols[2].selectbox("Results", limits, key="compose_limit", persist_state="session")
        st.checkbox(
            "Keep the stored items used as terms in the results",
            key="compose_keep_examples",
            help="By default a stored item you search with (an id: term) is left out of "
            "the results: it would be its own best match. Written form: examples=keep.",
            persist_state="session",
        )
        st.form_submit_button("Apply filters", icon=":material/filter_alt:", on_click=_refilter)
# --- the written form --------------------------------------------------------------------------

query = None
query_problem = None
wanted = ss.get("compose_modalities") or []
try:
    if not built:
        raise QueryError("add at least one complete term")
    if not wanted:
        raise QueryError("pick at least one modality to return")
    where = make_filter(
        modalities=None if set(wanted) == set(style.MODALITIES) else wanted,
        tags=ss.get("compose_tags") or None,
        stream=ss.get("compose_stream") or None,
    )
    other = ss.get("compose_other_filter")
    if other is not None:
        from binding.api import merge_filters

        where = merge_filters(where, other)
    limit = int(ss.get("compose_limit") or 10)
    query = Query(
        tuple(built),
        mode=mode,  # type: ignore[arg-type]
        limit=limit,
        filter=where,
        keep_examples=bool(ss.get("compose_keep_examples")),
    )
except Exception as exc:
    query_problem = str(getattr(exc, "reason", exc))

formatted = format_query(query) if query is not None else ""
if ss.get("compose_expr_synced") != formatted:  # the rows changed: print them again
    ss["compose_expr"] = formatted
    ss["compose_expr_synced"] = formatted
    ss.pop("compose_expr_error", None)

st.subheader("Written form")
st.text_area(
    "The query as the CLI writes it; edit it and apply to change the terms above.",
    key="compose_expr",
    height=68,
    placeholder='0.7*id:<point id> + text:"waves" - 0.5*text:"people" | mode=sum',
)
if "compose_expr_error" in ss:
    message, column, text = ss["compose_expr_error"]
    if column is not None:
        from binding.query.terms import caret_line

        st.error(f"**Cannot read the query:** {message} (column {column})", icon=":material/error:")
        st.code(caret_line(text, column), language=None)
    else:
        st.error(f"**Cannot use the query:** {message}", icon=":material/error:")
stored_terms = [t for t in built if isinstance(t.input, PointInput)]
if stored_terms:
    legend = " · ".join(
        f"`{str(t.input.id)[:8]}…` = {style.escape_markdown(names.get(str(t.input.id), '?'))}"
        for t in stored_terms
    )
    st.caption(f"Stored items: {legend}")
actions = st.columns([1, 1, 5])
actions[0].button(
    "Apply text", icon=":material/sync_alt:", on_click=_apply_expression, width="stretch"
)
actions[1].button(
    "Search",
    type="primary",
    icon=":material/search:",
    on_click=_go,
    disabled=query is None,
    width="stretch",
)
if query_problem and not ss.get("compose_expr_error"):
    st.caption(f":material/info: {query_problem}")

# --- results ---------------------------------------------------------------------------------

if ss.pop("compose_go", False) and query is not None:
    started = time.perf_counter()
    try:
        result = session.search(query, uploads, explain=True)
    except Exception as exc:
        session.show_error("The search failed", exc)
        st.stop()
    ss["compose_result"] = (formatted, result, time.perf_counter() - started)

shown = ss.get("compose_result")
if shown is not None:
    written, result, elapsed = shown
    for hit in result.hits:
        names.setdefault(
            str(hit.id), f"{previews.display_name(hit.payload)} · {hit.payload.get('modality')}"
        )
    st.divider()
    st.markdown(
        f"**{style.plural(len(result.hits), 'result')}** for `{written}` "
        f"<span style='color:rgba(49,51,63,.6)'>· {elapsed * 1000:.0f} ms · "
        f"bars: each hit's cosine with each term</span>",
        unsafe_allow_html=True,
    )
    if not result.hits:
        results.empty_state("No results.", "Nothing matches these filters.")
    else:
        labels = [rows_.term_label(t, names) for t in result.query.terms]
        weights = [float(t.weight) for t in result.query.terms]
        results.render_grid(
            engine,
            result.hits,
            key="compose",
            explanations=result.explanations,
            term_labels=labels,
            term_weights=weights,
            mode=result.query.mode,
            actions=(
                ("+ term", ":material/add_circle:", lambda pid: _add_point(pid, "+")),
                (
                    "\u2212 term",
                    ":material/do_not_disturb_on:",
                    lambda pid: _add_point(pid, rows_.SIGNS[1]),
                ),
            ),
        )
