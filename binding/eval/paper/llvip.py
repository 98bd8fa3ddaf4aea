"""LLVIP (bupt-ai-cz.github.io/LLVIP): `LLVIP/infrared/test/*.jpg` with Pascal-VOC boxes in
`LLVIP/Annotations/<name>.xml`. As in the paper, the task is person vs. background on
crops: every person box is a `person` crop, and the same-sized window of the image that
overlaps no person (searched along the top row first) a `street` crop."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from binding.eval.classify import LabelledSet
from binding.eval.paper.base import LayoutError, need, read_lines
from binding.modality import Modality

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Box = tuple[int, int, int, int]


def person_boxes(xml: Path) -> list[Box]:
    boxes = []
    for obj in ET.parse(xml).getroot().iter("object"):
        box = obj.find("bndbox")
        if obj.findtext("name", "").strip() != "person" or box is None:
            continue
        values = [int(float(box.findtext(k, "0"))) for k in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append((values[0], values[1], values[2], values[3]))
    return boxes


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def background(size: tuple[int, int], boxes: list[Box], width: int, height: int) -> Box | None:
    """A window of this size that overlaps no box, or None."""
    step_x, step_y = max(1, width // 2), max(1, height // 2)
    for top in range(0, size[1] - height + 1, step_y):
        for left in range(0, size[0] - width + 1, step_x):
            window = (left, top, left + width, top + height)
            if not any(_overlaps(window, box) for box in boxes):
                return window
    return None


def _png(image: PILImage) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read(root: Path) -> LabelledSet:
    from PIL import Image

    images = need(root / "infrared" / "test", "the infrared test images")
    notes = need(root / "Annotations", "one VOC .xml of person boxes per image")
    items: list[object] = []
    labels: list[int] = []
    for path in sorted(images.glob("*.jpg")):
        xml = notes / f"{path.stem}.xml"
        if not xml.exists():
            raise LayoutError(f"{xml} is missing (the boxes of {path})")
        boxes = person_boxes(xml)
        with Image.open(path) as opened:
            picture = opened.convert("L")
        for box in boxes:
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            items.append(_png(picture.crop(box)))
            labels.append(0)
            window = background(picture.size, boxes, box[2] - box[0], box[3] - box[1])
            if window is not None:
                items.append(_png(picture.crop(window)))
                labels.append(1)
    if not items:
        raise LayoutError(f"{images} holds no .jpg with person boxes")
    return LabelledSet(Modality.THERMAL, items, labels, read_lines("llvip_classes.txt"), str(root))
