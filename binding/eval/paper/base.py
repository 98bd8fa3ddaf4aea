"""What every paper dataset shares: its spec, its layout errors and the shipped data files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.retrieve import Pairs
from binding.modality import Modality

DATA = Path(__file__).resolve().parent / "data"


@dataclass
class MultiLabelSet:
    """Items of one modality each with a set of true classes (AudioSet: mean average
    precision over classes, not top-1)."""

    modality: Modality
    items: list[object]
    labels: list[list[int]]
    classes: list[str]
    origin: str = ""

    def counts(self) -> dict[str, int]:
        """Items per class name (an item counts once in each of its classes)."""
        out = dict.fromkeys(self.classes, 0)
        for labels in self.labels:
            for label in labels:
                out[self.classes[label]] += 1
        return out


class LayoutError(ValueError):
    """A dataset folder is there but not in its published layout; says what is missing."""


@dataclass(frozen=True)
class PaperDataset:
    """One row of the paper's zero-shot table (arXiv 2305.05665, Table 2) and its reader."""

    key: str
    title: str
    folder: str  # under --data-root
    task: str  # "classify" or "retrieve"
    paper: dict[str, float]  # metric name -> the paper's number (percent)
    layout: str
    url: str
    read: Callable[[Path], LabelledSet | Pairs | MultiLabelSet] | None = None
    templates: str = ""  # key in templates.json, or "image" for CLIP's ensemble
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def present(self, data_root: Path) -> bool:
        return (data_root / self.folder).exists()


def read_lines(name: str) -> list[str]:
    """A shipped list (class names), one entry a line."""
    return [line.strip() for line in (DATA / name).read_text().splitlines() if line.strip()]


@cache
def templates(key: str) -> tuple[str, ...]:
    """The prompt templates for a dataset's modality (`image` is CLIP's 80)."""
    if key == "image":
        return tuple(json.loads((DATA / "templates_image.json").read_text())["templates"])
    return tuple(json.loads((DATA / "templates.json").read_text())[key])


def need(path: Path, what: str) -> Path:
    """`path`, or a `LayoutError` naming it and what it should hold."""
    if not path.exists():
        raise LayoutError(f"{path} is missing ({what})")
    return path
