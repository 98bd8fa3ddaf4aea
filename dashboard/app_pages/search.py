"""Search: type words or drop a file of any modality, pick what to get back, browse the hits."""

from __future__ import annotations

import time

import streamlit as st

from dashboard.components import previews, results, session, style

LIMITS = (8, 12, 24, 48, 96)


def _go() -> None:
    st.session_state["search_go"] = True
    st.session_state.pop("search_like", None)


def _refresh() -> None:
    """A filter or the limit changed: run what is shown again, if anything is."""
    if "search_result" in st.session_state:
        st.session_state["search_go"] = True


def _more_like(point_id: str) -> None:
    st.session_state["search_like"] = point_id
    st.session_state["search_go"] = True


def _back() -> None:
    st.session_state.pop("search_like", None)
    st.session_state["search_go"] = True


st.title("Search")
st.caption(
    "Find anything with anything: describe it in words, or drop a photo, a clip, a sound, "
    "a depth map, a thermal frame or an IMU recording."
)

engine = session.engine()
with st.container(border=True):
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.text_input(
            "Describe what you are looking for",
            key="search_text",
            placeholder="a dog running on the beach",
            on_change=_go,
            persist_state="session",
        )
        st.pills(
            "Return",
            style.MODALITIES,
            selection_mode="multi",
            default=list(style.MODALITIES),
            format_func=lambda m: style.MODALITY_LABELS[m],
            key="search_modalities",
            on_change=_refresh,
            persist_state="session",
        )
    with right:
        upload = st.file_uploader(
            "…or search with a file",
            key="search_file",
            help="The content decides what a file is, not its name or extension.",
        )
        file_modality: str | None = None
        if upload is None:
            st.session_state.pop("search_file_sha", None)
        else:
            kept = session.Upload.of(upload.name, upload.getvalue())
            guessed, why = session.guess_modality(kept)
            options = [m for m in style.MODALITIES if m != "text"]
            if st.session_state.get("search_file_sha") != kept.sha256:
                # a new file: what was said about the previous one does not carry over
                st.session_state["search_file_sha"] = kept.sha256
                st.session_state["search_file_modality"] = guessed if guessed in options else None
            if guessed is None:
                st.caption(f":material/help: {why}")
            file_modality = st.selectbox(
                "The file is",
                options,
                index=None,
                format_func=lambda m: style.MODALITY_LABELS[m],
                key="search_file_modality",
                placeholder="Say which modality",
            )
    bottom = st.columns([1, 1, 4], vertical_alignment="bottom")
    bottom[0].selectbox(
        "Results", LIMITS, index=2, key="search_limit", on_change=_refresh, persist_state="session"
    )
    bottom[1].button(
        "Search", type="primary", icon=":material/search:", on_click=_go, width="stretch"
    )

wanted = tuple(st.session_state.get("search_modalities") or ())
limit = int(st.session_state.get("search_limit") or 24)
text = (st.session_state.get("search_text") or "").strip()

if st.session_state.pop("search_go", False):
    from binding.query import Query, Term, format_query, make_filter

    started = time.perf_counter()
    try:
        if not wanted:
            st.warning("Pick at least one modality to return.", icon=":material/filter_alt_off:")
            st.stop()
        like = st.session_state.get("search_like")
        if like:
            result = session.more_like(like, limit=limit, modalities=wanted)
            shown = session.point(like)
            title = "more like " + (previews.display_name(shown.payload) if shown else str(like))
            st.session_state["search_result"] = (title, result, time.perf_counter() - started)
        else:
            terms = []
            uploads = {}
            if text:
                terms.append(Term.text(text))
            if upload is not None:
                if file_modality is None:
                    st.warning(
                        "Say which modality the file is before searching with it.",
                        icon=":material/help:",
                    )
                    st.stop()
                kept = session.Upload.of(upload.name, upload.getvalue())
                uploads[kept.name] = kept
                terms.append(Term.file(file_modality, kept.name))
            if not terms:
                st.info("Type a description or drop a file, then search.", icon=":material/search:")
                st.stop()
            where = None if set(wanted) == set(style.MODALITIES) else make_filter(modalities=wanted)
            query = Query(tuple(terms), limit=limit, filter=where)
            result = session.search(query, uploads)
            st.session_state["search_result"] = (
                format_query(query),
                result,
                time.perf_counter() - started,
            )
    except Exception as exc:
        session.show_error("The search failed", exc)
        st.stop()

shown_result = st.session_state.get("search_result")
if shown_result is None:
    if session.info().count == 0:
        results.empty_state(
            "The collection is empty.",
            "Load the sample dataset from the Status page, or upload your own files on Ingest.",
        )
        cols = st.columns(4)
        cols[0].page_link(
            "app_pages/status.py", label="Load sample data", icon=":material/dataset:"
        )
        cols[1].page_link(
            "app_pages/ingest.py", label="Upload files", icon=":material/upload_file:"
        )
    else:
        st.caption("Results appear here.")
    st.stop()

title, result, elapsed = shown_result
header = st.columns([5, 1], vertical_alignment="center")
with header[0]:
    st.markdown(
        f"**{style.plural(len(result.hits), 'result')}** for `{title}` "
        f"<span style='color:rgba(49,51,63,.6)'>· {elapsed * 1000:.0f} ms</span>",
        unsafe_allow_html=True,
    )
if st.session_state.get("search_like"):
    header[1].button("Back", icon=":material/arrow_back:", on_click=_back, width="stretch")

if not result.hits:
    results.empty_state(
        "No results.", "Nothing in the collection matches these modalities; widen the filter."
    )
else:
    results.render_grid(
        engine,
        result.hits,
        key="search",
        actions=(("More like this", ":material/travel_explore:", _more_like),),
    )
