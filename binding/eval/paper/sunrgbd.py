"""SUN RGB-D scenes as depth classification (rgbd.cs.princeton.edu): `SUNRGBD/<sensor>/.../
<scene folder>/scene.txt` and `depth/*.png` beside it. NYU-D is the `kv1/NYUdata` part with
its 10 scene classes (others folded into `others`, as Omnivore and ImageBind do); SUN-D is
every scene whose label is one of the 19 classes of the benchmark."""

from __future__ import annotations

from pathlib import Path

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need, read_lines
from binding.modality import Modality


def _scenes(root: Path) -> list[tuple[Path, str]]:
    found = []
    for scene in sorted(root.rglob("scene.txt")):
        depth = scene.parent / "depth"
        images = sorted(depth.glob("*.png")) if depth.is_dir() else []
        if not images:
            raise LayoutError(f"{depth} is missing or holds no .png (beside {scene})")
        found.append((images[0], scene.read_text().strip()))
    if not found:
        raise LayoutError(f"{root} holds no scene folder (scene.txt and depth/*.png)")
    return found


def read_sun(root: Path) -> LabelledSet:
    classes = read_lines("sun_d_classes.txt")
    index = {name: i for i, name in enumerate(classes)}
    pairs = [(p, label) for p, label in _scenes(root) if label in index]
    return LabelledSet(
        Modality.DEPTH,
        [p for p, _ in pairs],
        [index[label] for _, label in pairs],
        [c.replace("_", " ") for c in classes],
        str(root),
    )


def read_nyu(root: Path) -> LabelledSet:
    nyu = need(root / "kv1" / "NYUdata", "the NYU Depth v2 part of SUN RGB-D")
    classes = read_lines("nyu_d_classes.txt")
    index = {name: i for i, name in enumerate(classes)}
    pairs = _scenes(nyu)
    return LabelledSet(
        Modality.DEPTH,
        [p for p, _ in pairs],
        [index.get(label, index["others"]) for _, label in pairs],
        [c.replace("_", " ") for c in classes],
        str(nyu),
    )
