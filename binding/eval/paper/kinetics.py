"""Kinetics-400 validation: `kinetics400/annotations/val.csv` (label, youtube_id, time_start,
time_end, split) and `kinetics400/val/<youtube_id>_<start:06d>_<end:06d>.mp4`, the layout of
the CVDF release (github.com/cvdfoundation/kinetics-dataset)."""

from __future__ import annotations

import csv
from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need
from binding.modality import Modality


def read(root: Path) -> LabelledSet:
    table = need(root / "annotations" / "val.csv", "the validation labels")
    videos = need(root / "val", "the validation videos")
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"label", "youtube_id", "time_start", "time_end"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{table} has no column {', '.join(sorted(missing))}")
        rows = list(reader)
    classes = sorted({row["label"] for row in rows})
    index = {name: i for i, name in enumerate(classes)}
    items: list[object] = []
    labels: list[int] = []
    for row in rows:
        name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
        path = videos / name
        if path.exists():  # Kinetics videos disappear from YouTube; the paper's set has gaps too
            items.append(path)
            labels.append(index[row["label"]])
    if not items:
        raise LayoutError(f"{videos} holds none of the videos {table} lists")
    return LabelledSet(Modality.VIDEO, items, labels, classes, str(root))
