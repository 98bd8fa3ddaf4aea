"""VGGSound test split: `vggsound/vggsound.csv` as published (no header; youtube_id,
start_seconds, label, split with split `train` or `test`), with the clips the user fetched
anywhere below `vggsound/` named `<youtube_id>_<start:06d>.wav|.flac|.mp4` (see `clips`).
The classes are every label of the table (both splits: the 309 of the release), in
alphabetical order; test clips not fetched are skipped (YouTube videos disappear)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need
from binding.eval.paper.clips import find_clip, index_clips
from binding.modality import Modality


def read_table(table: Path) -> list[tuple[str, str, str, str]]:
    """(youtube_id, start, label, split) rows; a row of another shape is named."""
    rows = []
    with table.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 4 or row[3].strip() not in ("train", "test"):
                raise LayoutError(
                    f"{table} line {number}: expected youtube_id,start_seconds,label,train|test"
                )
            youtube_id, start, label, split = (cell.strip() for cell in row)
            rows.append((youtube_id, start, label, split))
    return rows


def read(root: Path) -> LabelledSet:
    table = need(root / "vggsound.csv", "the published clip table")
    rows = read_table(table)
    classes = sorted({label for _, _, label, _ in rows})
    index = {name: i for i, name in enumerate(classes)}
    clips = index_clips(root)
    items: list[object] = []
    labels: list[int] = []
    for youtube_id, start, label, split in rows:
        if split != "test":
            continue
        path = find_clip(clips, youtube_id, start)
        if path is not None:
            items.append(path)
            labels.append(index[label])
    if not items:
        raise LayoutError(
            f"{root} holds none of the test clips {table} lists "
            "(expected <youtube_id>_<start:06d>.wav, .flac or .mp4)"
        )
    return LabelledSet(Modality.AUDIO, items, labels, classes, str(root))


def split_counts(root: Path) -> dict[str, int]:
    """Rows per split in the table."""
    return dict(sorted(Counter(split for *_, split in read_table(root / "vggsound.csv")).items()))
