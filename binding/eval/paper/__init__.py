"""The paper's zero-shot benchmarks (arXiv 2305.05665, Table 2) on the user's copies.

Each dataset is looked for under `--data-root` in its own published layout; the ones found
are evaluated with the paper's protocol (zero-shot: text prompts per class, scored by top-1,
or by mean average precision for multi-label AudioSet; or text -> audio / video retrieval)
and printed beside the paper's number. The ones absent are listed with the layout
expected; the ones with no reader here say why. Each evaluated dataset's `PaperRow.hash`
identifies the files its reader selected (`selection_hash`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binding.eval import metrics
from binding.eval.classify import Embedder, LabelledSet, classify, normalise, text_prototypes
from binding.eval.paper import (
    audioset,
    captions,
    esc50,
    imagenet,
    kinetics,
    llvip,
    msrvtt,
    places365,
    sunrgbd,
    vggsound,
)
from binding.eval.paper.base import LayoutError, MultiLabelSet, PaperDataset, templates
from binding.eval.retrieve import Pairs, retrieve

__all__ = [
    "DATASETS",
    "LayoutError",
    "MultiLabelSet",
    "PaperDataset",
    "PaperRow",
    "evaluate_dataset",
    "multilabel_map",
    "rows",
    "selection_hash",
    "table_hash",
]

DATASETS: tuple[PaperDataset, ...] = (
    PaperDataset(
        "in1k", "ImageNet-1k", "imagenet", "classify", {"top1": 77.7},
        "imagenet/val/<wnid>/*.JPEG (optional imagenet/LOC_synset_mapping.txt)",
        "https://image-net.org/download.php", imagenet.read, "image",
    ),
    PaperDataset(
        "places365", "Places365", "places365", "classify", {"top1": 45.4},
        "places365/{val_256/*.jpg, places365_val.txt, categories_places365.txt}",
        "http://places2.csail.mit.edu/download.html", places365.read, "image",
    ),
    PaperDataset(
        "k400", "Kinetics-400", "kinetics400", "classify", {"top1": 50.0},
        "kinetics400/{annotations/val.csv, val/<youtube_id>_<start>_<end>.mp4}",
        "https://github.com/cvdfoundation/kinetics-dataset", kinetics.read, "video",
    ),
    PaperDataset(
        "msrvtt", "MSR-VTT", "msrvtt", "retrieve", {"R@1": 36.1},
        "msrvtt/{MSRVTT_JSFUSION_test.csv, videos/<video_id>.mp4}",
        "https://www.microsoft.com/en-us/research/publication/msr-vtt-a-large-video-description-dataset-for-bridging-video-and-language/",
        msrvtt.read, "video",  # retrieval uses no templates; "video" loads the video tower
    ),
    PaperDataset(
        "nyu_d", "NYU-D", "SUNRGBD", "classify", {"top1": 54.0},
        "SUNRGBD/kv1/NYUdata/<scene>/{scene.txt, depth/*.png}",
        "https://rgbd.cs.princeton.edu/", sunrgbd.read_nyu, "depth",
    ),
    PaperDataset(
        "sun_d", "SUN-D", "SUNRGBD", "classify", {"top1": 35.1},
        "SUNRGBD/<sensor>/.../<scene>/{scene.txt, depth/*.png}",
        "https://rgbd.cs.princeton.edu/", sunrgbd.read_sun, "depth",
    ),
    PaperDataset(
        "audioset", "AudioSet", "audioset", "classify", {"mAP": 17.6},
        "audioset/{eval_segments.csv, class_labels_indices.csv, **/<YTID>_<start>.wav}",
        "https://research.google.com/audioset/download.html", audioset.read, "audio",
    ),
    PaperDataset(
        "vggsound", "VGGSound", "vggsound", "classify", {"top1": 27.8},
        "vggsound/{vggsound.csv, **/<youtube_id>_<start:06d>.wav|flac|mp4} (test split)",
        "https://www.robots.ox.ac.uk/~vgg/data/vggsound/", vggsound.read, "audio",
    ),
    PaperDataset(
        "esc50", "ESC-50", "ESC-50", "classify", {"top1": 66.9},
        "ESC-50/{meta/esc50.csv, audio/*.wav}",
        "https://github.com/karolpiczak/ESC-50", esc50.read, "audio",
    ),
    PaperDataset(
        "clotho", "Clotho", "clotho", "retrieve", {"R@1": 6.0, "R@10": 28.4},
        "clotho/{clotho_captions_evaluation.csv, evaluation/*.wav}",
        "https://zenodo.org/records/4783391", captions.read_clotho,
    ),
    PaperDataset(
        "audiocaps", "AudioCaps", "audiocaps", "retrieve", {"R@1": 9.3, "R@10": 42.3},
        "audiocaps/{test.csv, audio/test/<youtube_id>.wav}",
        "https://audiocaps.github.io/", captions.read_audiocaps,
    ),
    PaperDataset(
        "llvip", "LLVIP", "LLVIP", "classify", {"top1": 63.4},
        "LLVIP/{infrared/test/*.jpg, Annotations/*.xml}",
        "https://bupt-ai-cz.github.io/LLVIP/", llvip.read, "thermal",
    ),
    PaperDataset(
        "ego4d_imu", "Ego4D IMU", "ego4d", "classify", {"top1": 25.0},
        "(no reader yet)", "https://ego4d-data.org/docs/start-here/",
        note="the paper's IMU scenario labels and clip list are not published",
    ),
)  # fmt: skip


@dataclass
class PaperRow:
    """One dataset's outcome: evaluated (metrics), skipped (why), or failed (the error)."""

    dataset: PaperDataset
    status: str  # "evaluated", "absent", "no reader", "broken"
    ours: dict[str, float]
    detail: str = ""
    count: int = 0
    hash: str = ""  # `selection_hash` of the items evaluated

    def lines(self) -> list[tuple[str, str, str, str, str]]:
        """(dataset, metric, ours, paper, difference) rows for the table."""
        out = []
        for metric, paper in self.dataset.paper.items():
            value = self.ours.get(metric)
            ours = f"{value:.1f}" if value is not None else "-"
            diff = f"{value - paper:+.1f}" if value is not None else self.status
            out.append((self.dataset.title, metric, ours, f"{paper:.1f}", diff))
        return out


def subsample(data: Any, limit: int | None, seed: int = 0) -> Any:
    """At most `limit` items (or pairs), the same ones every run."""
    if limit is None:
        return data
    if isinstance(data, MultiLabelSet):
        if len(data.items) <= limit:
            return data
        keep = sorted(random.Random(seed).sample(range(len(data.items)), limit))
        return MultiLabelSet(
            data.modality,
            [data.items[i] for i in keep],
            [data.labels[i] for i in keep],
            data.classes,
            data.origin,
        )
    if isinstance(data, LabelledSet):
        if len(data.items) <= limit:
            return data
        keep = sorted(random.Random(seed).sample(range(len(data.items)), limit))
        return LabelledSet(
            data.modality,
            [data.items[i] for i in keep],
            [data.labels[i] for i in keep],
            data.classes,
            data.origin,
        )
    if len(data.queries) <= limit:
        return data
    keep = sorted(random.Random(seed).sample(range(len(data.queries)), limit))
    return Pairs(
        data.query_modality,
        data.target_modality,
        [data.queries[i] for i in keep],
        [data.targets[i] for i in keep],
        data.origin,
    )


def _item_key(item: object, root: Path) -> str:
    """A file as its path relative to the dataset folder and its size; anything else (a
    caption, a crop's bytes) by the sha256 of its content."""
    if isinstance(item, Path):
        name = item.relative_to(root).as_posix() if item.is_relative_to(root) else str(item)
        return f"file:{name}:{item.stat().st_size}"
    data = item if isinstance(item, bytes) else str(item).encode()
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def selection_hash(data: LabelledSet | Pairs | MultiLabelSet, root: Path) -> str:
    """sha256 over the (relative path, size) of each file the reader selected, in order, with
    its label (or caption): cheap on 50,000 images, and a file added, dropped, relabelled or
    resized changes it. Contents are not read, so a same-sized edit in place goes unseen."""
    digest = hashlib.sha256()
    entries: Any
    if isinstance(data, MultiLabelSet):
        digest.update(f"{data.modality.value}\0{data.classes}\0".encode())
        names = [",".join(data.classes[i] for i in labels) for labels in data.labels]
        entries = zip(data.items, names, strict=True)
    elif isinstance(data, LabelledSet):
        digest.update(f"{data.modality.value}\0{data.classes}\0".encode())
        entries = zip(data.items, [data.classes[i] for i in data.labels], strict=True)
    else:
        digest.update(f"{data.query_modality.value}->{data.target_modality.value}\0".encode())
        entries = zip(data.targets, data.queries, strict=True)
    for item, label in entries:
        digest.update(f"{_item_key(item, root)}\0{_item_key(label, root)}\n".encode())
    return digest.hexdigest()


def table_hash(rows: list[PaperRow]) -> str:
    """One hash for a whole `eval paper` run: the datasets evaluated and their hashes."""
    evaluated = sorted((r.dataset.key, r.hash) for r in rows if r.status == "evaluated")
    if not evaluated:
        return ""
    return hashlib.sha256(repr(evaluated).encode()).hexdigest()


def multilabel_map(
    spec: PaperDataset,
    data: MultiLabelSet,
    embedder: Embedder,
    *,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Mean average precision over classes: each item's cosine to every class's prompts."""
    prototypes = text_prototypes(
        embedder, data.classes, templates(spec.templates), progress=progress
    )
    vectors = embedder.embed(data.modality, data.items, progress=progress)
    relevant = np.zeros((len(data.items), len(data.classes)), dtype=bool)
    for row, labels in enumerate(data.labels):
        relevant[row, labels] = True
    keep = metrics.usable_rows(vectors)  # rejected files are left out
    return metrics.mean_average_precision(normalise(vectors[keep]) @ prototypes.T, relevant[keep])


def evaluate_dataset(
    spec: PaperDataset,
    data: LabelledSet | Pairs | MultiLabelSet,
    embedder: Embedder,
    *,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """The paper's metrics (in percent) for one dataset already read."""
    if isinstance(data, MultiLabelSet):
        return {"mAP": 100 * multilabel_map(spec, data, embedder, progress=progress)}
    if isinstance(data, LabelledSet):
        result = classify(data, embedder, templates=templates(spec.templates), progress=progress)
        return {"top1": 100 * result.top1, "top5": 100 * result.top5}
    out = retrieve(data, embedder, progress=progress)
    forward = out[f"{data.query_modality.value}->{data.target_modality.value}"]
    return {"R@1": 100 * forward["R@1"], "R@10": 100 * forward["R@10"]}


def rows(
    data_root: Path | str,
    embedder: Embedder,
    *,
    only: list[str] | None = None,
    limit: int | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> list[PaperRow]:
    """Every dataset of the table: evaluated when present and readable, else why not."""
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data root folder")
    out = []
    for spec in DATASETS:
        if only and spec.key not in only:
            continue
        if spec.read is None:
            out.append(PaperRow(spec, "no reader", {}, spec.note))
            continue
        if not spec.present(root):
            out.append(PaperRow(spec, "absent", {}, f"expected {spec.layout}; get it: {spec.url}"))
            continue
        try:
            data = subsample(spec.read(root / spec.folder), limit)
        except LayoutError as exc:
            out.append(PaperRow(spec, "broken", {}, str(exc)))
            continue
        if isinstance(data, LabelledSet | MultiLabelSet):
            count = len(data.items)
            work = count + len(data.classes) * len(templates(spec.templates))
        else:
            count = len(data.queries)
            work = count + len({str(t) for t in data.targets})
        tick = progress(spec.title, work) if progress else None
        ours = evaluate_dataset(spec, data, embedder, progress=tick)
        folder = root / spec.folder
        digest = selection_hash(data, folder)
        out.append(PaperRow(spec, "evaluated", ours, str(folder), count, digest))
    return out
