"""Audio captioning sets read as text -> audio retrieval pairs (one pair per caption).

Clotho (zenodo.org/records/4783391): `clotho/clotho_captions_evaluation.csv` (file_name,
caption_1..caption_5) and `clotho/evaluation/*.wav`. AudioCaps (audiocaps.github.io):
`audiocaps/test.csv` (audiocap_id, youtube_id, start_time, caption) from the official
repository, with the clips the user fetched as `audiocaps/audio/test/<youtube_id>.wav`
(or `<youtube_id>_<start_time>.wav`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from binding.eval.paper.base import LayoutError, need
from binding.eval.retrieve import Pairs
from binding.modality import Modality


def read_clotho(root: Path) -> Pairs:
    table = need(root / "clotho_captions_evaluation.csv", "five captions per evaluation clip")
    audio = need(root / "evaluation", "the evaluation clips")
    with table.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = ["file_name", *[f"caption_{i}" for i in range(1, 6)]]
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise LayoutError(f"{table} has no column {', '.join(missing)}")
        rows = list(reader)
    queries: list[object] = []
    targets: list[object] = []
    for row in rows:
        path = audio / row["file_name"]
        if not path.exists():
            raise LayoutError(f"{path} is missing (listed in {table})")
        for i in range(1, 6):
            queries.append(row[f"caption_{i}"])
            targets.append(path)
    return Pairs(Modality.TEXT, Modality.AUDIO, queries, targets, str(root))


def read_audiocaps(root: Path) -> Pairs:
    table = need(root / "test.csv", "the test captions")
    audio = need(root / "audio" / "test", "the test clips, one .wav per youtube_id")
    with table.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"youtube_id", "start_time", "caption"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{table} has no column {', '.join(sorted(missing))}")
        rows = list(reader)
    queries: list[object] = []
    targets: list[object] = []
    for row in rows:
        for name in (f"{row['youtube_id']}.wav", f"{row['youtube_id']}_{row['start_time']}.wav"):
            if (audio / name).exists():
                queries.append(row["caption"])
                targets.append(audio / name)
                break
    if not queries:
        raise LayoutError(f"{audio} holds none of the clips {table} lists")
    return Pairs(Modality.TEXT, Modality.AUDIO, queries, targets, str(root))
