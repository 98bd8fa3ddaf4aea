"""Colour maps for single-channel images (depth, thermal) and the scale bar shown beside them.

The stops are matplotlib's `viridis` and `inferno` sampled at nine evenly spaced points
(both are CC0, by Stéfan van der Walt and Nathaniel Smith); linear interpolation between
them is indistinguishable from the full tables at preview sizes.
"""

from __future__ import annotations

import html

import numpy as np

#: matplotlib viridis at 0, 1/8, ..., 1 (perceptually uniform; used for depth).
VIRIDIS = (
    "#440154", "#472c7a", "#3b518b", "#2c718e", "#21908d",
    "#27ad81", "#5cc863", "#aadc32", "#fde725",
)  # fmt: skip
#: matplotlib inferno at 0, 1/8, ..., 1 (black-body like; used for thermal).
INFERNO = (
    "#000004", "#1f0c48", "#550f6d", "#88226a", "#ba3655",
    "#e35933", "#f98c0a", "#f9c932", "#fcffa4",
)  # fmt: skip

COLORMAPS: dict[str, tuple[str, ...]] = {"viridis": VIRIDIS, "inferno": INFERNO}


def _rgb(stops: tuple[str, ...]) -> np.ndarray:
    return np.array([[int(s[i : i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=np.float32)


def lookup_table(name: str, size: int = 256) -> np.ndarray:
    """A (size, 3) uint8 table interpolating the named map's stops."""
    stops = _rgb(COLORMAPS[name])
    positions = np.linspace(0.0, 1.0, len(stops))
    samples = np.linspace(0.0, 1.0, size)
    table = np.stack([np.interp(samples, positions, stops[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(table), 0, 255).astype(np.uint8)


def robust_range(values: np.ndarray) -> tuple[float, float]:
    """The 1st and 99th percentiles of the finite values (so one hot pixel does not wash out
    the picture); (0, 1) when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [1.0, 99.0])
    if not high > low:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def apply(values: np.ndarray, name: str, low: float, high: float) -> np.ndarray:
    """(H, W) numbers -> (H, W, 3) uint8 colours; NaN and infinities are drawn black."""
    table = lookup_table(name)
    scaled = (values.astype(np.float32) - low) / max(high - low, 1e-12)
    index = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    rgb = table[np.rint(index * (len(table) - 1)).astype(np.int64)]
    rgb[~np.isfinite(values)] = 0
    return rgb


def _format_value(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e6 or (magnitude < 0.01 and value != 0):
        return f"{value:.3g}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def scale_bar_html(name: str, low: float, high: float, unit: str = "") -> str:
    """A thin horizontal colour bar with its end values, as an HTML fragment."""
    gradient = ", ".join(COLORMAPS[name])
    suffix = f" {html.escape(unit)}" if unit else ""
    middle = (low + high) / 2
    return (
        '<div class="bd-scale">'
        f'<div class="bd-scale-bar" style="background: linear-gradient(to right, {gradient});"></div>'
        '<div class="bd-scale-labels">'
        f"<span>{_format_value(low)}{suffix}</span>"
        f"<span>{_format_value(middle)}</span>"
        f"<span>{_format_value(high)}{suffix}</span>"
        "</div></div>"
    )
