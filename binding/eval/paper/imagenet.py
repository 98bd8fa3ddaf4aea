"""ImageNet-1k validation set as class folders: `imagenet/val/<wnid>/*.JPEG`.

The class names are CLIP's 1000 (in the sorted-wnid order of the folders), or the names in
`imagenet/LOC_synset_mapping.txt` (the Kaggle release: `n01440764 tench, Tinca tinca`)
when that file is there.
"""

from __future__ import annotations

from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need, read_lines
from binding.modality import Modality

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def read(root: Path) -> LabelledSet:
    val = need(root / "val", "one folder per class (wnid) of validation images")
    folders = sorted(p for p in val.iterdir() if p.is_dir())
    mapping = root / "LOC_synset_mapping.txt"
    if mapping.exists():
        names = {}
        for line in mapping.read_text().splitlines():
            if line.strip():
                wnid, _, rest = line.partition(" ")
                names[wnid] = rest.split(",")[0].strip()
        unknown = [f.name for f in folders if f.name not in names]
        if unknown:
            raise LayoutError(f"{mapping} has no line for class folder(s) {', '.join(unknown[:5])}")
        classes = [names[f.name] for f in folders]
    else:
        shipped = read_lines("imagenet_classes.txt")
        if len(folders) != len(shipped):
            raise LayoutError(
                f"{val} has {len(folders)} class folders, not {len(shipped)}: put all 1000 wnid "
                f"folders there, or add {mapping} to name them"
            )
        classes = shipped
    items: list[object] = []
    labels: list[int] = []
    for index, folder in enumerate(folders):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append(path)
                labels.append(index)
    if not items:
        raise LayoutError(f"{val}: the class folders hold no images (.JPEG)")
    return LabelledSet(Modality.IMAGE, items, labels, classes, str(root))
