"""Results as a grid of cards: a preview, the name, modality, score, segment and actions.

Every card has a "More like this" button (a search by the stored point's id) and, when the
search was explained, one bar per query term: the hit's cosine with that term, coloured by
the term's sign. A card is a cell of `st.grid`, so the grid reflows with the window.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:
    from binding.api import Engine

from dashboard.components import previews, style

#: A button on every card: its label, its icon and what it does with the hit's id.
Action = tuple[str, str, Callable[[str], None]]
#: A page's own preview of a hit (id, payload): True when it drew one, else the stored media's.
Preview = Callable[[str, dict[str, Any]], bool]

#: Smallest card width in pixels before the grid drops a column.
CARD_MIN_PX = 250


def score_html(score: float, *, mode: str = "sum", best: float | None = None) -> str:
    """The score as a number and a bar that shows what the number means in `mode`.

    `sum` and `recommend` scores are cosines (recommend's best-score is negative for points
    nearer a negative example): a bar signed around a centre line, right for similar, left
    for opposite, its length |score|. `rrf` scores are fused reciprocal ranks, meaningful
    only against each other: the bar is the score's share of `best`, the top hit's score.
    """
    if mode == "rrf":
        top = float(best) if best is not None and best > 0 else float(score)
        share = max(0.0, min(1.0, float(score) / top)) if top > 0 else 0.0
        label = f"{score:.4f}"
        title = f"rank-fusion score {score:.4f}: {share:.0%} of the best hit's"
        bar = f'<div class="bd-score-fill" style="width:{share * 100:.1f}%"></div>'
        name = "rrf"
    else:
        value = max(-1.0, min(1.0, float(score)))
        label = f"{score:+.3f}"
        title = f"cosine similarity {score:.3f} (1 = same direction, 0 = unrelated, -1 = opposite)"
        left = 50.0 + min(0.0, value) * 50.0
        color = "#4f46e5" if value >= 0 else "#dc2626"
        bar = (
            '<div class="bd-bar-axis"></div>'
            f'<div class="bd-score-fill bd-signed" style="left:{left:.1f}%;'
            f'width:{abs(value) * 50.0:.1f}%;background:{color}"></div>'
        )
        name = "cosine"
    return (
        f'<div class="bd-score" title="{html.escape(title)}"><span>{name}</span>'
        f'<div class="bd-score-track">{bar}</div><b>{html.escape(label)}</b></div>'
    )


def meta_html(payload: dict[str, Any]) -> str:
    """Modality chip, segment span and size facts on one line."""
    modality = str(payload.get("modality") or "?")
    parts = [style.chip(modality)]
    span = previews.segment(payload)
    if span is not None:
        parts.append(
            f"<span>at {style.format_seconds(span[0])}–{style.format_seconds(span[1])}</span>"
        )
    elif payload.get("duration"):
        parts.append(f"<span>{style.format_seconds(float(payload['duration']))}</span>")
    if payload.get("width") and payload.get("height"):
        parts.append(f"<span>{int(payload['width'])}×{int(payload['height'])}</span>")
    if payload.get("stream"):
        parts.append(f"<span>stream {html.escape(str(payload['stream']))}</span>")
    return '<div class="bd-meta">' + "".join(parts) + "</div>"


def explanation_html(
    labels: Sequence[str], weights: Sequence[float], cosines: Sequence[float]
) -> str:
    """One bar per term: the hit's cosine with it, centred on zero, green for terms the
    query wants and red for terms it pushes away."""
    rows = []
    for label, weight, cosine in zip(labels, weights, cosines, strict=True):
        value = max(-1.0, min(1.0, float(cosine)))
        color = "#16a34a" if weight > 0 else "#dc2626"
        left = 50.0 + min(0.0, value) * 50.0
        width = abs(value) * 50.0
        rows.append(
            '<div class="bd-bar-row">'
            f'<span class="bd-bar-label" title="{html.escape(label)}">{html.escape(label)}</span>'
            '<div class="bd-bar-track"><div class="bd-bar-axis"></div>'
            f'<div class="bd-bar-fill" style="left:{left:.1f}%;width:{width:.1f}%;'
            f'background:{color}"></div></div>'
            f'<span class="bd-bar-value">{value:+.2f}</span></div>'
        )
    return '<div class="bd-bars">' + "".join(rows) + "</div>"


def render_grid(
    engine: Engine,
    hits: Sequence[Any],
    *,
    key: str,
    actions: Sequence[Action] = (),
    explanations: Sequence[Any] | None = None,
    term_labels: Sequence[str] = (),
    term_weights: Sequence[float] = (),
    mode: str = "sum",
    preview: Preview | None = None,
) -> None:
    """Draw `hits` as cards. `key` prefixes widget keys (one per page). `preview`, when
    given, may draw a card's preview itself (a stream's window from its recent samples)."""
    grid = st.grid("auto", min_column_width=CARD_MIN_PX, border=True, gap="small")
    best = max((float(h.score) for h in hits), default=None)
    for rank, hit in enumerate(hits):
        payload = dict(hit.payload or {})
        with grid.cell():
            if preview is None or not preview(str(hit.id), payload):
                previews.render(engine, payload, key=f"{key}_preview_{rank}")
            name = previews.display_name(payload)
            st.markdown(
                f'<div class="bd-title" title="{html.escape(name)}">{rank + 1}. '
                f"{html.escape(name)}</div>",
                unsafe_allow_html=True,
            )
            st.markdown(meta_html(payload), unsafe_allow_html=True)
            st.markdown(score_html(float(hit.score), mode=mode, best=best), unsafe_allow_html=True)
            if explanations is not None and rank < len(explanations) and term_labels:
                st.markdown(
                    explanation_html(term_labels, term_weights, explanations[rank].cosines),
                    unsafe_allow_html=True,
                )
            if actions:
                with st.container(horizontal=True, gap="small"):
                    for number, (label, icon, callback) in enumerate(actions):
                        st.button(
                            label,
                            key=f"{key}_action{number}_{rank}_{hit.id}",
                            icon=icon,
                            on_click=callback,
                            args=(str(hit.id),),
                            width="stretch",
                        )


def empty_state(title: str, body: str) -> None:
    """A friendly box saying why there is nothing to show and what to do."""
    st.markdown(
        f'<div class="bd-empty"><b>{html.escape(title)}</b><br>{html.escape(body)}</div>',
        unsafe_allow_html=True,
    )
