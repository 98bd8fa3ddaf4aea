"""ESC-50: `ESC-50/meta/esc50.csv` (filename, fold, target, category, ...) and
`ESC-50/audio/*.wav`, as in github.com/karolpiczak/ESC-50. All five folds are evaluated
(zero-shot needs no training fold); `fold_counts` gives the clips per fold."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need
from binding.modality import Modality


def read(root: Path) -> LabelledSet:
    meta = need(root / "meta" / "esc50.csv", "the clip table")
    audio = need(root / "audio", "the 2,000 five-second clips")
    with meta.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"filename", "fold", "target", "category"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{meta} has no column {', '.join(sorted(missing))}")
        rows = list(reader)
    names = {int(r["target"]): r["category"] for r in rows}
    classes = [names[i].replace("_", " ") for i in sorted(names)]
    items: list[object] = []
    for row in rows:
        path = audio / row["filename"]
        if not path.exists():
            raise LayoutError(f"{path} is missing (listed in {meta})")
        items.append(path)
    data = LabelledSet(Modality.AUDIO, items, [int(r["target"]) for r in rows], classes, str(root))
    data.origin = f"{root} (folds {dict(sorted(Counter(int(r['fold']) for r in rows).items()))})"
    return data


def fold_counts(root: Path) -> dict[int, int]:
    """Clips per fold in the meta table."""
    with (root / "meta" / "esc50.csv").open(newline="") as handle:
        return dict(sorted(Counter(int(r["fold"]) for r in csv.DictReader(handle)).items()))
