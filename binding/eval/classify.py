"""Zero-shot classification: labelled items against class prototypes.

A prototype is the mean of a class's unit vectors, re-normalised: the class name through
every prompt template ("a photo of a {}."), as CLIP and ImageBind do, or (`against=`) the
class's examples of another modality. Each item is assigned the class of highest cosine.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from binding.eval import metrics
from binding.eval.metrics import usable_rows
from binding.modality import Modality, parse_modality

#: Default prompt templates per modality (short forms of the CLIP / ImageBind ensembles).
DEFAULT_TEMPLATES: dict[Modality, tuple[str, ...]] = {
    Modality.IMAGE: (
        "a photo of a {}.",
        "a bad photo of a {}.",
        "a photo of the large {}.",
        "a photo of the small {}.",
        "a cropped photo of a {}.",
        "a close-up photo of a {}.",
        "a bright photo of a {}.",
        "a blurry photo of a {}.",
    ),
    Modality.VIDEO: ("a video of a {}.", "a video of {}.", "a photo of a person {}."),
    Modality.AUDIO: ("the sound of {}.", "a sound of a {}.", "a recording of {}.", "{}"),
    Modality.DEPTH: ("a depth photo of a {}.", "a photo of a {}.", "a depth map of a {}."),
    Modality.THERMAL: (
        "a thermal photo of a {}.",
        "an infrared photo of a {}.",
        "a photo of a {}.",
    ),
    Modality.IMU: ("a person {}.", "someone is {}.", "{}"),
    Modality.TEXT: ("{}",),
}


def templates_for(modality: Modality) -> tuple[str, ...]:
    """The default prompt templates of a modality; a trained modality was aligned through
    its anchor (the image tower by default), so it gets the image prompts."""
    return DEFAULT_TEMPLATES.get(modality) or DEFAULT_TEMPLATES[Modality.IMAGE]


SUFFIXES: dict[Modality, tuple[str, ...]] = {
    Modality.IMAGE: (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"),
    Modality.VIDEO: (".mp4", ".avi", ".mov", ".mkv", ".webm"),
    Modality.AUDIO: (".wav", ".flac", ".mp3", ".ogg", ".m4a"),
    Modality.DEPTH: (".png", ".npy", ".tif", ".tiff"),
    Modality.THERMAL: (".jpg", ".jpeg", ".png", ".npy", ".tif", ".tiff"),
    Modality.IMU: (".csv", ".npy"),
}


class Embedder(Protocol):
    """What evaluation needs from an encoder: `CachedEmbedder` or an `Encoder`."""

    def embed(
        self,
        modality: Modality | str,
        items: Sequence[Any],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray: ...


@dataclass
class LabelledSet:
    """Items of one modality (paths, bytes or texts), each with a class index."""

    modality: Modality
    items: list[Any]
    labels: list[int]
    classes: list[str]
    origin: str = ""
    #: Per item, the modality actually held (for `against`): same as `modality` by default.
    item_modalities: list[Modality] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.item_modalities:
            self.item_modalities = [self.modality] * len(self.items)

    def counts(self) -> dict[str, int]:
        """Items per class name."""
        out = dict.fromkeys(self.classes, 0)
        for label in self.labels:
            out[self.classes[label]] += 1
        return out

    def subset(self, modality: Modality) -> LabelledSet:
        """The items of one modality only."""
        keep = [i for i, m in enumerate(self.item_modalities) if m is modality]
        return LabelledSet(
            modality,
            [self.items[i] for i in keep],
            [self.labels[i] for i in keep],
            self.classes,
            self.origin,
        )


def _guess(path: Path) -> Modality | None:
    suffix = path.suffix.lower()
    for modality in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO, Modality.IMU):
        if suffix in SUFFIXES[modality]:
            return modality
    return None


def read_labelled(
    source: Path | str, modality: Modality | str | None = None, *, mixed: bool = False
) -> LabelledSet:
    """A labelled set from a folder of class folders, or a CSV of `path,label` rows.

    The modality is `modality` when given (files with its suffixes are read as it, others
    left out), else guessed from the file suffixes (image, video, audio or IMU; depth and
    thermal must be named). With `mixed=True` the other files are kept too, each with the
    modality its suffix says (for `against`).
    """
    root = Path(source)
    wanted = parse_modality(str(modality)) if modality is not None else None
    pairs: list[tuple[Path, str]] = []
    if root.is_dir():
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise FileNotFoundError(f"{root}: no class folders in it (expected {root}/<class>/*)")
        for folder in folders:
            pairs += [
                (p, folder.name)
                for p in sorted(folder.rglob("*"))
                if p.is_file() and not p.name.startswith(".")
            ]
    elif root.is_file():
        with root.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
            rows = rows[1:]
        for number, row in enumerate(rows, start=1):
            if len(row) < 2:
                raise ValueError(f"{root}: row {number} needs two columns path,label: {row}")
            path = Path(row[0].strip())
            pairs.append((path if path.is_absolute() else root.parent / path, row[1].strip()))
    else:
        raise FileNotFoundError(f"{root}: no such folder or CSV file")
    items: list[Any] = []
    labels: list[str] = []
    kinds: list[Modality] = []
    for path, label in pairs:
        guessed = _guess(path)
        if wanted is not None and (
            guessed is wanted
            or path.suffix.lower() in (SUFFIXES.get(wanted) or wanted.spec.suffixes)
        ):
            kind: Modality | None = wanted  # depth and thermal files are read as named
        elif wanted is not None and not mixed:
            continue  # a file of another modality beside the wanted ones
        else:
            kind = guessed
        if kind is None:
            continue  # not a media file (a README, a .txt list)
        items.append(path)
        labels.append(label)
        kinds.append(kind)
    if not items:
        raise ValueError(f"{root}: no labelled media files found")
    classes = sorted(set(labels))
    index = {name: i for i, name in enumerate(classes)}
    main = wanted or max(set(kinds), key=kinds.count)
    return LabelledSet(main, items, [index[x] for x in labels], classes, str(root), kinds)


def text_prototypes(
    embedder: Embedder,
    classes: Sequence[str],
    templates: Sequence[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(C, D): each class name through every template, embedded, averaged, normalised."""
    if not templates:
        raise ValueError("no prompt templates given")
    for template in templates:
        if "{}" not in template:
            raise ValueError(f"template {template!r} has no {{}} for the class name")
    prompts = [t.format(name.replace("_", " ")) for name in classes for t in templates]
    vectors = embedder.embed(Modality.TEXT, prompts, progress=progress)
    return normalise(vectors.reshape(len(classes), len(templates), -1).mean(axis=1))


def example_prototypes(vectors: np.ndarray, labels: Sequence[int], classes: int) -> np.ndarray:
    """(C, D): the mean unit vector of each class's examples, normalised."""
    label_array = np.asarray(labels)
    out = np.zeros((classes, vectors.shape[1]), dtype=np.float32)
    for c in range(classes):
        rows = vectors[label_array == c]
        if len(rows) == 0:
            raise ValueError(f"class {c} has no example to build its prototype from")
        out[c] = rows.mean(axis=0)
    return normalise(out)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass
class Classification:
    """Top-1/top-5 accuracy, per-class accuracy and the confusion matrix of one run."""

    classes: list[str]
    top1: float
    top5: float
    per_class: dict[str, float]
    confusion: np.ndarray
    count: int

    def metrics(self) -> dict[str, Any]:
        return {
            "top1": self.top1,
            "top5": self.top5,
            "count": self.count,
            "classes": len(self.classes),
            "chance_top1": 1.0 / max(1, len(self.classes)),
            "per_class": self.per_class,
            "confusion": self.confusion.tolist(),
        }


def score_classes(
    vectors: np.ndarray, prototypes: np.ndarray, labels: Sequence[int], classes: Sequence[str]
) -> Classification:
    """Classification of unit `vectors` against unit `prototypes` (cosine)."""
    scores = vectors @ prototypes.T
    matrix = metrics.confusion_matrix(labels, metrics.predictions(scores), len(classes))
    per_class = metrics.per_class_accuracy(matrix)
    return Classification(
        classes=list(classes),
        top1=metrics.top_k_accuracy(scores, labels, 1),
        top5=metrics.top_k_accuracy(scores, labels, min(5, len(classes))),
        per_class={
            name: float(v) for name, v in zip(classes, per_class, strict=True) if not np.isnan(v)
        },
        confusion=matrix,
        count=len(labels),
    )


def classify(
    data: LabelledSet,
    embedder: Embedder,
    *,
    templates: Sequence[str] | None = None,
    against: Modality | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Classification:
    """Zero-shot classification of `data` against text prompts or another modality."""
    if against is not None:
        other = parse_modality(str(against))
        if other is data.modality:
            raise ValueError(
                f"{data.origin}: the items are {other.value} already; classify against another "
                "modality's examples (or name the items' modality)"
            )
        queries = data.subset(data.modality)
        examples = data.subset(other)
        if not examples.items:
            raise ValueError(f"{data.origin}: no {other.value} examples to classify against")
        example_vectors, example_labels = _usable(
            embedder.embed(other, examples.items, progress=progress), examples.labels
        )
        proto = example_prototypes(example_vectors, example_labels, len(data.classes))
    else:
        queries = data.subset(data.modality)
        chosen = templates or templates_for(data.modality)
        proto = text_prototypes(embedder, data.classes, chosen, progress=progress)
    vectors, labels = _usable(
        embedder.embed(data.modality, queries.items, progress=progress), queries.labels
    )
    if not labels:
        raise ValueError(
            f"{data.origin}: none of the {data.modality.value} items could be embedded"
        )
    return score_classes(vectors, proto, labels, data.classes)


def _usable(vectors: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """The rows (and their labels) of items that were embedded; rejected files are left out."""
    keep = usable_rows(vectors)
    return vectors[keep], [label for label, ok in zip(labels, keep, strict=True) if ok]


def confusion_png(result: Classification, path: Path | str, *, title: str = "") -> Path:
    """Write the confusion matrix as a PNG (matplotlib, Agg backend); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.classes)
    size = min(20.0, 2.0 + 0.35 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(result.confusion, cmap="Blues")
    if n <= 40:
        ax.set_xticks(range(n), result.classes, rotation=90, fontsize=8)
        ax.set_yticks(range(n), result.classes, fontsize=8)
    if n <= 15:
        for (i, j), value in np.ndenumerate(result.confusion):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"top-1 {result.top1:.3f} over {result.count} items")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
