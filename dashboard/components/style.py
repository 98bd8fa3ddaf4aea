"""How the dashboard looks: one colour and icon per modality, and the few CSS rules it adds."""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

#: Modalities in the order the pages list them.
MODALITIES: tuple[str, ...] = ("text", "image", "video", "audio", "depth", "thermal", "imu")

#: One colour per modality, used by badges, the map and the explanation bars.
MODALITY_COLORS: dict[str, str] = {
    "text": "#7c3aed",
    "image": "#2563eb",
    "video": "#0891b2",
    "audio": "#16a34a",
    "depth": "#ca8a04",
    "thermal": "#dc2626",
    "imu": "#db2777",
}

#: `st.badge` has a fixed palette; the nearest colour of each modality in it.
BADGE_COLORS = {
    "text": "violet",
    "image": "blue",
    "video": "blue",
    "audio": "green",
    "depth": "orange",
    "thermal": "red",
    "imu": "gray",
}

#: Material icons (Streamlit's `:material/name:` syntax).
MODALITY_ICONS: dict[str, str] = {
    "text": ":material/notes:",
    "image": ":material/image:",
    "video": ":material/movie:",
    "audio": ":material/graphic_eq:",
    "depth": ":material/layers:",
    "thermal": ":material/thermostat:",
    "imu": ":material/vibration:",
}

MODALITY_LABELS: dict[str, str] = {
    "text": "Text",
    "image": "Image",
    "video": "Video",
    "audio": "Audio",
    "depth": "Depth",
    "thermal": "Thermal",
    "imu": "IMU",
}

_CSS = """
<style>
.bd-scale { margin: 0.1rem 0 0.4rem 0; }
.bd-scale-bar { height: 8px; border-radius: 4px; }
.bd-scale-labels { display: flex; justify-content: space-between; font-size: 0.72rem;
  color: rgba(49, 51, 63, 0.7); font-variant-numeric: tabular-nums; }
.bd-quote { border-left: 3px solid #7c3aed; padding: 0.35rem 0.7rem; margin: 0.2rem 0 0.5rem 0;
  background: rgba(124, 58, 237, 0.06); border-radius: 0 6px 6px 0; font-size: 0.92rem;
  line-height: 1.35; max-height: 9.5rem; overflow: hidden; white-space: pre-wrap;
  word-break: break-word; }
.bd-title { font-weight: 600; font-size: 0.92rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; margin: 0.15rem 0 0 0; }
.bd-meta { font-size: 0.78rem; color: rgba(49, 51, 63, 0.72); display: flex; gap: 0.5rem;
  align-items: center; flex-wrap: wrap; font-variant-numeric: tabular-nums; }
.bd-chip { display: inline-block; padding: 0 0.45rem; border-radius: 0.6rem; color: white;
  font-size: 0.72rem; font-weight: 600; line-height: 1.25rem; }
.bd-score { display: flex; align-items: center; gap: 0.4rem; font-size: 0.78rem;
  font-variant-numeric: tabular-nums; }
.bd-score-track { flex: 1; height: 6px; background: rgba(49, 51, 63, 0.1); border-radius: 3px;
  position: relative; }
.bd-score-track .bd-bar-axis { top: -2px; bottom: -2px; }
.bd-score-fill { height: 6px; border-radius: 3px; background: #4f46e5; }
.bd-score-fill.bd-signed { position: absolute; top: 0; }
.bd-bars { font-size: 0.74rem; margin: 0.2rem 0 0.3rem 0; font-variant-numeric: tabular-nums; }
.bd-bar-row { display: grid; grid-template-columns: minmax(0, 1fr) 90px 2.8rem; gap: 0.35rem;
  align-items: center; margin: 2px 0; }
.bd-bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bd-bar-track { position: relative; height: 8px; background: rgba(49, 51, 63, 0.08);
  border-radius: 4px; }
.bd-bar-axis { position: absolute; left: 50%; top: -2px; bottom: -2px; width: 1px;
  background: rgba(49, 51, 63, 0.35); }
.bd-bar-fill { position: absolute; top: 0; height: 8px; border-radius: 4px; }
.bd-bar-value { text-align: right; }
.bd-empty { padding: 1.2rem 1.4rem; border: 1px dashed rgba(49, 51, 63, 0.25);
  border-radius: 0.6rem; color: rgba(49, 51, 63, 0.8); }
.bd-expr code { font-size: 0.95rem; }
</style>
"""


def inject_css() -> None:
    """Add the dashboard's CSS to the page (call once per run, from the entry script)."""
    st.html(_CSS)


def chip(modality: str) -> str:
    """A small coloured label for a modality, as HTML."""
    color = MODALITY_COLORS.get(modality, "#6b7280")
    label = MODALITY_LABELS.get(modality, html.escape(modality))
    return f'<span class="bd-chip" style="background:{color}">{label}</span>'


def format_seconds(seconds: float) -> str:
    """`75.5` -> `1:15.5`; whole seconds without decimals."""
    seconds = max(0.0, float(seconds))
    minutes, rest = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:04.1f}" if rest != int(rest) else f"{int(rest):02d}"
    return f"{hours}:{minutes:02d}:{text}" if hours else f"{minutes}:{text}"


def escape_markdown(text: str) -> str:
    """Text shown literally inside Streamlit markdown (no links, emphasis or HTML)."""
    specials = "\\`*_{}[]()<>#+-.!|~:$"
    return "".join("\\" + c if c in specials else c for c in text)


def format_bytes(size: float) -> str:
    """A size in decimal units, the same rule everywhere: `33 B`, `4.2 kB`, `12.5 MB`,
    `1.07 GB` (three significant digits from kB up)."""
    size = float(size)
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.3g} {unit}" if size < 100 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files` (with the count written with thousands separators)."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def favicon() -> Any:
    """The page icon, a hub of four nodes in the theme's colour (a 64 px RGBA picture)."""
    from PIL import Image, ImageDraw

    size, color = 64, "#4f46e5"
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = (32, 32)
    outer = [(32, 8), (11, 46), (53, 46)]
    for node in outer:
        draw.line([centre, node], fill=color, width=5)
    for x, y in [centre, *outer]:
        r = 9 if (x, y) == centre else 7
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    return image
