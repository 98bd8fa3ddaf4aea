"""Evaluation runs as JSON files, and the side-by-side comparison of several.

Every run writes one JSON (format version `FORMAT`): what was evaluated (`kind`, `data`:
origin, item count and a hash of the items' contents and labels), with what (`model`,
`precision`, `device`, weights origin, `adapters`), and the `metrics`. Two runs on the same
`data.hash` measured the same items; `compare` flattens their metrics and prints them side
by side with the difference.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from binding.eval.cache import content_bytes
from binding.modality import Modality

FORMAT = 1


def data_hash(
    modality: Modality, items: Sequence[Any], labels: Iterable[object] | None = None
) -> str:
    """sha256 over each item's content (and its label), in order: the same data, the same hash."""
    digest = hashlib.sha256(modality.value.encode())
    label_list = list(labels) if labels is not None else [None] * len(items)
    for item, label in zip(items, label_list, strict=True):
        try:
            content = content_bytes(modality, item)
        except FileNotFoundError:  # a file that is gone counts by its name (the run lists it)
            content = f"<missing {item}>".encode()
        digest.update(hashlib.sha256(content).digest())
        digest.update(f"\0{label}\0".encode())
    return digest.hexdigest()


@dataclass
class Run:
    """One evaluation: its setup and its metrics."""

    kind: str
    model: str
    precision: str
    metrics: dict[str, Any]
    data: dict[str, Any]
    device: str = "cpu"
    weights: str = ""
    random_weights: bool = False
    adapters: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: items left out because they could not be read or embedded: file -> reason
    rejected: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "kind": self.kind,
            "created": self.created,
            "model": self.model,
            "precision": self.precision,
            "device": self.device,
            "weights": self.weights,
            "random_weights": self.random_weights,
            "adapters": self.adapters,
            "data": self.data,
            "options": self.options,
            "seconds": self.seconds,
            "metrics": self.metrics,
            "rejected": self.rejected,
        }

    def save(self, path: Path | str) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2, default=float) + "\n")
        return out


def load_run(path: Path | str) -> dict[str, Any]:
    """A run's JSON, checked for the fields `compare` reads."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such evaluation file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    if not isinstance(data, dict) or "metrics" not in data or "format" not in data:
        raise ValueError(f"{source}: not a binding evaluation (no 'format' or 'metrics')")
    if data["format"] > FORMAT:
        raise ValueError(f"{source}: format {data['format']} is newer than this binding's {FORMAT}")
    return data


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves as dotted names (`audio->text.R@1`); lists (a confusion matrix) skipped."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            out[name] = float(value)
    return out


HEADER_FIELDS = ("kind", "model", "precision", "device", "weights", "data.hash", "data.count")


def _field(run: dict[str, Any], name: str) -> str:
    value: Any = run
    for part in name.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    text = str(value)
    return text[:12] if name == "data.hash" else text


def compare(runs: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the side-by-side table: setup fields, then every metric, with the
    difference of the last run from the first when there are two or more."""
    columns = ["", *[f"run {i + 1}" for i in range(len(runs))]]
    with_delta = len(runs) >= 2
    if with_delta:
        columns.append(f"run {len(runs)} - run 1")
    rows = [
        [name, *[_field(r, name) for r in runs]] + ([""] if with_delta else [])
        for name in HEADER_FIELDS
    ]
    flats = [flatten(r["metrics"]) for r in runs]
    names = list(dict.fromkeys(name for flat in flats for name in flat))
    for name in names:
        values = [flat.get(name) for flat in flats]
        row = [name, *["" if v is None else f"{v:.4g}" for v in values]]
        if with_delta:
            first, last = values[0], values[-1]
            row.append("" if first is None or last is None else f"{last - first:+.4g}")
        rows.append(row)
    return columns, rows
