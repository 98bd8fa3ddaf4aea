"""MSR-VTT 1k-A test split, text -> video: `msrvtt/MSRVTT_JSFUSION_test.csv` (key, vid_key,
video_id, sentence: the 1,000 video-caption pairs of Yu et al. 2018, the split CLIP4Clip and
ImageBind report) and the videos as `msrvtt/videos/<video_id>.mp4` (or
`msrvtt/videos/all/<video_id>.mp4`, as the CLIP4Clip download unpacks). Every listed video
must be there: the split is fixed, so one missing changes the task."""

from __future__ import annotations

import csv
from pathlib import Path

from binding.eval.paper.base import LayoutError, need
from binding.eval.retrieve import Pairs
from binding.modality import Modality


def read(root: Path) -> Pairs:
    table = need(root / "MSRVTT_JSFUSION_test.csv", "the 1k-A test pairs")
    videos = need(root / "videos", "the videos, <video_id>.mp4")
    if (videos / "all").is_dir():
        videos = videos / "all"
    with table.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"video_id", "sentence"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{table} has no column {', '.join(sorted(missing))}")
        rows = list(reader)
    queries: list[object] = []
    targets: list[object] = []
    for number, row in enumerate(rows, start=2):
        path = videos / f"{row['video_id']}.mp4"
        if not path.exists():
            raise LayoutError(f"{path} is missing (line {number} of {table})")
        queries.append(row["sentence"])
        targets.append(path)
    if not queries:
        raise LayoutError(f"{table} lists no pairs")
    return Pairs(Modality.TEXT, Modality.VIDEO, queries, targets, str(root))
