"""Places365 validation: `places365/val_256/*.jpg`, `places365_val.txt` (`name label`) and
`categories_places365.txt` (`/a/airfield 0`), as in the official `filelist_places365` archive."""

from __future__ import annotations

from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need
from binding.modality import Modality


def class_name(category: str) -> str:
    """`/a/apartment_building/outdoor` -> `apartment building outdoor`."""
    parts = category.strip("/").split("/")[1:]
    return " ".join(part.replace("_", " ") for part in parts)


def read(root: Path) -> LabelledSet:
    categories = need(root / "categories_places365.txt", "the 365 category names")
    listing = need(root / "places365_val.txt", "validation image names and labels")
    images = need(root / "val_256", "the validation images")
    rows = [line.split() for line in categories.read_text().splitlines() if line.strip()]
    classes = [class_name(name) for name, _ in sorted(rows, key=lambda r: int(r[1]))]
    items: list[object] = []
    labels: list[int] = []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, label = line.split()
        path = images / name
        if not path.exists():
            raise LayoutError(f"{path} is missing (line {number} of {listing})")
        if not 0 <= int(label) < len(classes):
            raise LayoutError(f"{listing} line {number}: label {label} is not a category")
        items.append(path)
        labels.append(int(label))
    return LabelledSet(Modality.IMAGE, items, labels, classes, str(root))
