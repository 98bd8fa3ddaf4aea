"""The binding dashboard: search anything with anything, compose queries, ingest, watch.

    streamlit run dashboard/streamlit_app.py        # or: binding dashboard

Configuration comes from `BINDING_*` variables, as for the CLI. With neither
`BINDING_QDRANT_URL` nor `BINDING_BROKER_URL` set this process owns the store folder and
runs the encoder itself (embedded mode); otherwise it reads the Qdrant server and leaves
embedding to the workers (distributed mode). The pages only call `binding.api`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts this folder on sys.path, not the repository root above it.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard.components import examples, session, style  # noqa: E402

st.set_page_config(
    page_title="binding",
    # drawn here and served by this server: a `:material/...:` page icon makes the browser
    # fetch its SVG from fonts.gstatic.com, and a page must work with no network
    page_icon=style.favicon(),
    layout="wide",
    initial_sidebar_state="expanded",
)
style.inject_css()

PAGES = {
    "Explore": [
        st.Page("app_pages/search.py", title="Search", icon=":material/search:", default=True),
        st.Page("app_pages/compose.py", title="Compose", icon=":material/functions:"),
        st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:"),
        st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    ],
    "Data": [
        st.Page("app_pages/ingest.py", title="Ingest", icon=":material/upload_file:"),
        st.Page("app_pages/streams.py", title="Streams", icon=":material/sensors:"),
        st.Page("app_pages/status.py", title="Status", icon=":material/monitor_heart:"),
    ],
}
page = st.navigation(PAGES)

engine = session.engine()
with st.sidebar:
    st.markdown("### :material/hub: binding")
    st.caption("One space for text, images, video, audio, depth, thermal and IMU.")
    try:
        summary = session.info()
    except Exception as exc:
        summary = None
        session.show_error("The collection could not be opened", exc)
    if summary is not None:
        mode = "distributed" if session.is_distributed(engine.settings) else "embedded"
        st.metric("Points", f"{summary.count:,}", border=True)
        chips = " ".join(
            # chip and count in one box, so the count never wraps away from its chip
            f'<span style="white-space:nowrap">{style.chip(name)}&nbsp;<small>{count:,}</small>'
            "</span>"
            for name, count in summary.modalities.items()
        )
        if chips:
            st.markdown(f'<div class="bd-meta">{chips}</div>', unsafe_allow_html=True)
        st.caption(f"Model `{engine.model}` ({engine.dim}-d) · {mode} mode")

if engine.random_weights:
    seed = engine.settings.seed
    st.warning(
        f"**Random weights.** `{engine.model}` runs with random weights"
        + (f" (seed {seed})" if seed is not None else "")
        + ": its embeddings are meaningless, so results are not similar in any sense. "
        "Use it to try the dashboard and for tests; set `BINDING_MODEL=imagebind_huge` "
        "for real search.",
        icon=":material/warning:",
    )

elif engine.model == examples.WORLD_MODEL:
    st.info(
        "**binding_mini** is a small model trained here on a synthetic world: coloured "
        "shapes (six colours, three shapes) as pictures, captions, tones, depth and thermal "
        "maps, and a camera holder's motion. It finds those well (colours best, shapes "
        "partly); it has never seen real photos, sounds or sensors, so their results mean "
        "little. Use `imagebind_huge` for real data.",
        icon=":material/school:",
    )

page.run()
