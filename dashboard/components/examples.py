"""Worked composite queries over the sample dataset, loadable in one click.

The sample files are generated from a seed (`binding.demo`), so the same bytes, hashes and
point ids come out on every machine: the examples find their stored items by recomputing
those ids, never by file name, and are offered only when those items are in the collection.
`binding_mini` gets examples over its own sample (`make_world_demo`, the synthetic world it
was trained on), whose results a person can check by eye.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from binding.api import Engine

_PLACEHOLDER = re.compile(r"<([^<>]+)>")

#: Demo folders and the modality ingest gives their files.
_FOLDERS = {
    "images": "image",
    "image": "image",  # the world sample's folders are named after their modality
    "audio": "audio",
    "video": "video",
    "depth": "depth",
    "thermal": "thermal",
    "imu": "imu",
}
#: The model whose examples come from the synthetic world's sample.
WORLD_MODEL = "binding_mini"


@dataclass(frozen=True)
class Example:
    title: str
    description: str
    template: str  # a written query; `<images/beach.png>` stands for that file's point id

    def needs(self) -> list[str]:
        return _PLACEHOLDER.findall(self.template)

    def written(self, ids: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: ids[m.group(1)], self.template)


EXAMPLES: tuple[Example, ...] = (
    Example(
        "Pictures for a sound",
        "One sound, answered with images and video: audio-to-vision retrieval.",
        "id:<audio/noise.flac> | modality=image,video",
    ),
    Example(
        "This picture, minus a word",
        "ImageBind arithmetic: start from the beach photo and push away from 'sand'.",
        'id:<images/beach.png> - 0.5*text:"sand" | modality=image',
    ),
    Example(
        "Words and heat, fused by rank",
        "Reciprocal rank fusion of a text search and a thermal-frame search.",
        'text:"a person standing" + id:<thermal/person.png> @ 12 | mode=rrf',
    ),
    Example(
        "Like walking, unlike standing still",
        "Recommend with a positive and a negative IMU example, among IMU windows.",
        "id:<imu/walking_12s.csv> - id:<imu/still_5s.csv> | mode=recommend modality=imu",
    ),
    Example(
        "A depth map described in words",
        "Mostly the corridor's depth, a little of the words: a weighted sum of two modalities.",
        '0.7*id:<depth/corridor.png> + 0.3*text:"a long hallway"',
    ),
)


#: binding_mini's examples, over `make_world_demo`'s 36 scenes (seed 0); each title says
#: what the results should show.
WORLD_EXAMPLES: tuple[Example, ...] = (
    Example(
        "A red circle, minus 'red', plus 'blue'",
        "Embedding arithmetic on a picture: expect blue pictures, the blue circle among the first.",
        'id:<image/00-red-circle.png> - text:"red" + text:"blue" | modality=image',
    ),
    Example(
        "Pictures for a sound",
        "A yellow circle's sound (its pitch says yellow, its timbre circle), answered with "
        "images and videos: audio never saw text or video in training.",
        "id:<audio/10-yellow-circle.wav> | modality=image,video",
    ),
    Example(
        "A shape from depth, its colour from a word",
        "A red triangle's depth map has no colour (alone it finds triangles of every colour); "
        "half the word 'yellow' adds one: expect yellow triangles first.",
        'id:<depth/16-red-triangle.png> + 0.5*text:"yellow" | modality=image',
    ),
    Example(
        "Heat to pictures",
        "A thermal frame (a red object is the hottest) finds pictures of red triangles.",
        "id:<thermal/16-red-triangle.png> | modality=image",
    ),
    Example(
        "Words and a sound, fused by rank",
        "Reciprocal rank fusion of a text search and a sound search for white squares.",
        'text:"a white square" + id:<audio/09-white-square.wav> @ 8 | mode=rrf modality=image',
    ),
)


def examples_for(model: str) -> tuple[Example, ...]:
    """The worked examples that fit the sample data of `model`."""
    return WORLD_EXAMPLES if model == WORLD_MODEL else EXAMPLES


@st.cache_resource(show_spinner="Reading the sample dataset…", max_entries=4)
def demo_point_ids(model: str, _engine: Engine) -> dict[str, str]:
    """{`folder/file`: whole-file point id} for the sample dataset under `model`."""
    from binding.demo import make_demo_data, make_world_demo

    ids: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="binding-demo-ids-") as folder:
        if model == WORLD_MODEL:
            data = make_world_demo(Path(folder))
        else:
            data = make_demo_data(Path(folder), speech=False)
        for path in data.all():
            relative = path.relative_to(data.root).as_posix()
            modality = _FOLDERS.get(relative.split("/", 1)[0])
            if modality is None:
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            ids[relative] = str(_engine.point_id(modality, digest))
    return ids


def available(
    engine: Engine, examples: tuple[Example, ...] | None = None
) -> list[tuple[Example, str]]:
    """The examples whose items are all in the collection, with their written query
    (default: those of the engine's model)."""
    if examples is None:
        examples = examples_for(engine.model)
    ids = demo_point_ids(engine.model, engine)
    wanted = sorted({ids[n] for e in examples for n in e.needs() if n in ids})
    if not wanted:
        return []
    present = {str(p.id) for p in engine.points(wanted)}
    ready = []
    for example in examples:
        names = example.needs()
        if all(ids.get(n) in present for n in names):
            ready.append((example, example.written(ids)))
    return ready
