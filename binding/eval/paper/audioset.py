"""AudioSet evaluation segments (research.google.com/audioset/download.html):
`audioset/eval_segments.csv` (lines starting with `#` are comments; YTID, start_seconds,
end_seconds, positive_labels as a quoted comma-separated list of MIDs) and
`audioset/class_labels_indices.csv` (index, mid, display_name: the 527 classes), with the
clips the user fetched anywhere below `audioset/` named `<YTID>_<start>` (the start as in the
table, `abc_30.000`, or in whole seconds, `abc_30` / `abc_000030`) or `Y<YTID>` / `<YTID>`,
as `.wav`, `.flac` or `.mp4`. Segments not fetched are skipped (YouTube videos disappear)."""

from __future__ import annotations

import csv
from pathlib import Path

from binding.eval.paper.base import LayoutError, MultiLabelSet, need
from binding.eval.paper.clips import clip_names, index_clips
from binding.modality import Modality


def read_classes(table: Path) -> tuple[list[str], dict[str, int]]:
    """The display names in index order and each MID's index."""
    with table.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"index", "mid", "display_name"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{table} has no column {', '.join(sorted(missing))}")
        rows = sorted(reader, key=lambda r: int(r["index"]))
    return [r["display_name"] for r in rows], {r["mid"]: i for i, r in enumerate(rows)}


def read_segments(table: Path) -> list[tuple[str, str, list[str]]]:
    """(YTID, start_seconds, MIDs) per segment; a line of another shape is named."""
    out = []
    with table.open(newline="", encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        for row in csv.reader(lines, skipinitialspace=True):
            if not row:
                continue
            if len(row) != 4:
                raise LayoutError(
                    f"{table}: expected YTID, start_seconds, end_seconds, positive_labels; "
                    f"got {row!r}"
                )
            ytid, start, _end, mids = (cell.strip() for cell in row)
            out.append((ytid, start, [m.strip() for m in mids.split(",") if m.strip()]))
    return out


def read(root: Path) -> MultiLabelSet:
    classes, index = read_classes(need(root / "class_labels_indices.csv", "the 527 classes"))
    table = need(root / "eval_segments.csv", "the evaluation segments and their labels")
    clips = index_clips(root)
    items: list[object] = []
    labels: list[list[int]] = []
    for ytid, start, mids in read_segments(table):
        unknown = [m for m in mids if m not in index]
        if unknown:
            raise LayoutError(f"{table}: {ytid} has labels {unknown} not in class_labels_indices")
        names = [*clip_names(ytid, start), f"Y{ytid}", ytid]
        path = next((clips[n] for n in names if n in clips), None)
        if path is not None:
            items.append(path)
            labels.append(sorted({index[m] for m in mids}))
    if not items:
        raise LayoutError(
            f"{root} holds none of the clips {table} lists (expected <YTID>_<start>.wav)"
        )
    return MultiLabelSet(Modality.AUDIO, items, labels, classes, str(root))
