"""Write a split of the synthetic world to a folder: media files plus the manifests to read it.

    image/<split>-<i>.png      224 x 224 RGB (the anchor of every pair)
    audio/<split>-<i>.wav      2 s, 16 kHz mono, 16-bit PCM
    depth/<split>-<i>.png      16-bit gray PNG, millimetres
    thermal/<split>-<i>.png    8-bit gray PNG
    imu/<split>-<i>.csv        acc_x..gyro_z, 2000 rows at 400 Hz (no time column)
    video/<split>-<i>.mp4      only when "video" is asked for
    pairs_<modality>.csv       anchor,input,split,label (train and val rows together)
    pairs_<modality>_test.csv  the same for the test split (the trainer takes train/val only)
    labels.csv                 path,label,modality,split of every media file
    labels/<split>_<modality>.csv   path,label of one modality of one split (for eval classify)
    retrieval/<split>_<modality>.csv  query,target: the item and its image (for eval retrieve)
    scenes.csv                 every scene's attributes and caption

Paths in manifests are relative to the folder (the readers resolve them against it). Writing
another split into the same folder keeps the other splits' rows, so a train and a val split
share one manifest. The same arguments give byte-identical files.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from binding.world.render import (
    render_audio,
    render_depth,
    render_image,
    render_imu,
    render_thermal,
    render_video,
)
from binding.world.scene import Scene, caption, sample_scenes

SPLITS = ("train", "val", "test")
MODALITIES = ("image", "text", "audio", "depth", "thermal", "imu", "video")
SUFFIX = {
    "image": ".png",
    "audio": ".wav",
    "depth": ".png",
    "thermal": ".png",
    "imu": ".csv",
    "video": ".mp4",
}
IMU_HEADER = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
#: zlib level of written PNGs: 1 is several times faster than the default and ~20% bigger.
PNG_LEVEL = 1
_CAPTION = 99  # Scene.rng purpose of the caption
_SCENE_COLUMNS = (
    "id",
    "split",
    "label",
    "colour",
    "shape",
    "count",
    "size",
    "background",
    "activity",
    "seed",
    "caption",
)


@dataclass
class World:
    """What `write_world` wrote: the folder, the scenes and where each manifest is."""

    root: Path
    split: str
    scenes: list[Scene]
    ids: list[str]
    captions: list[str]
    #: Pair manifest by input modality ("text", "audio", ...): anchor = image path.
    pairs: dict[str, Path] = field(default_factory=dict)
    #: path,label,modality,split of every media file of every split in the folder.
    labels: Path | None = None
    #: path,label of this split, one file per modality (image ... by class, imu by activity).
    labels_by_modality: dict[str, Path] = field(default_factory=dict)
    #: query,target of this split, one file per modality: the item (query) and its image.
    retrieval: dict[str, Path] = field(default_factory=dict)
    scenes_csv: Path | None = None

    def file(self, modality: str, index: int) -> Path:
        """The file of scene `index` in `modality`."""
        return self.root / modality / f"{self.ids[index]}{SUFFIX[modality]}"


def label_of(scene: Scene, modality: str) -> str:
    """The class a file is labelled with: the activity for IMU, else "<colour> <shape>"."""
    return scene.activity if modality == "imu" else scene.label


def write_world(
    folder: Path | str,
    *,
    n: int,
    seed: int,
    modalities: Sequence[str] = ("image", "text", "audio", "depth", "thermal", "imu"),
    split: str = "train",
    progress: Callable[[int], None] | None = None,
) -> World:
    """Write `n` scenes drawn from `seed` into `folder` as split `split` (see module docstring).

    Images are always written (they anchor every pair). `progress(k)` is called after each
    scene with k=1. Use a different seed for each split (the scenes would repeat otherwise).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality {', '.join(unknown)} (known: {', '.join(MODALITIES)})")
    wanted = ["image"] + [m for m in MODALITIES if m in modalities and m != "image"]
    media = [m for m in wanted if m != "text"]
    root = Path(folder)
    for modality in media:
        (root / modality).mkdir(parents=True, exist_ok=True)
    scenes = sample_scenes(n, seed)
    ids = [f"{split}-{i:05d}" for i in range(n)]
    captions = [caption(scene, scene.rng(_CAPTION)) for scene in scenes]
    world = World(root, split, scenes, ids, captions)
    for index, scene in enumerate(scenes):
        for modality in media:
            _write_one(modality, scene, world.file(modality, index))
        if progress is not None:
            progress(1)
    _write_manifests(world, wanted)
    return world


def _write_one(modality: str, scene: Scene, path: Path) -> None:
    if modality == "image":
        render_image(scene).save(path, "PNG", compress_level=PNG_LEVEL)
    elif modality == "audio":
        from binding.demo import _write_sound

        _write_sound(path, render_audio(scene))
    elif modality == "depth":
        millimetres = np.clip(np.rint(render_depth(scene) * 1000), 1, 65535).astype(np.uint16)
        Image.fromarray(millimetres).save(
            path, "PNG", compress_level=PNG_LEVEL
        )  # 16-bit gray (mode I;16)
    elif modality == "thermal":
        Image.fromarray(render_thermal(scene), "L").save(path, "PNG", compress_level=PNG_LEVEL)
    elif modality == "imu":
        _write_imu(path, render_imu(scene))
    elif modality == "video":
        render_video(scene, path)
    else:  # pragma: no cover - guarded by write_world
        raise ValueError(f"no file for modality {modality!r}")


def _write_imu(path: Path, samples: np.ndarray) -> None:
    channels, length = samples.shape
    row = ",".join(["%.5f"] * channels) + "\n"  # one format for the whole table: fast
    body = (row * length) % tuple(samples.T.ravel().tolist())
    path.write_text(",".join(IMU_HEADER) + "\n" + body, encoding="ascii")


# --- manifests -----------------------------------------------------------------------------


def _relative(world: World, modality: str, index: int) -> str:
    return f"{modality}/{world.ids[index]}{SUFFIX[modality]}"


def _merge(path: Path, header: Sequence[str], rows: list[list[str]], split: str) -> None:
    """Write `rows` (all of `split`) to `path`, keeping rows of other splits already there."""
    kept: list[list[str]] = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            old_header = next(reader, None)
            if old_header == list(header):
                where = old_header.index("split")
                kept = [row for row in reader if len(row) == len(header) and row[where] != split]
    where = list(header).index("split")
    order = {name: i for i, name in enumerate(SPLITS)}
    merged = sorted(kept + rows, key=lambda row: order.get(row[where], len(SPLITS)))
    _write_csv(path, header, merged)


def _write_csv(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_manifests(world: World, wanted: list[str]) -> None:
    root, split, count = world.root, world.split, len(world.scenes)
    tail = "_test" if split == "test" else ""
    for modality in wanted:
        if modality == "image":
            continue
        rows = [
            [
                _relative(world, "image", i),
                world.captions[i] if modality == "text" else _relative(world, modality, i),
                split,
                label_of(world.scenes[i], modality),
            ]
            for i in range(count)
        ]
        path = root / f"pairs_{modality}{tail}.csv"
        _merge(path, ("anchor", "input", "split", "label"), rows, split)
        world.pairs[modality] = path
        queries = [  # for `binding eval retrieve`: the modality's item finds its image
            [row[1] if modality == "text" else f"../{row[1]}", f"../{row[0]}"] for row in rows
        ]
        path = root / "retrieval" / f"{split}_{modality}.csv"
        _write_csv(path, ("query", "target"), queries)
        world.retrieval[modality] = path
    media = [m for m in wanted if m != "text"]
    all_rows = []
    for modality in media:
        rows = [
            [_relative(world, modality, i), label_of(world.scenes[i], modality)]
            for i in range(count)
        ]
        path = root / "labels" / f"{split}_{modality}.csv"
        _write_csv(path, ("path", "label"), [[f"../{p}", label] for p, label in rows])
        world.labels_by_modality[modality] = path
        all_rows += [[p, label, modality, split] for p, label in rows]
    world.labels = root / "labels.csv"
    _merge(world.labels, ("path", "label", "modality", "split"), all_rows, split)
    scene_rows = [
        [
            world.ids[i],
            split,
            s.label,
            s.colour,
            s.shape,
            str(s.count),
            s.size,
            s.background,
            s.activity,
            str(s.seed),
            world.captions[i],
        ]
        for i, s in enumerate(world.scenes)
    ]
    world.scenes_csv = root / "scenes.csv"
    _merge(world.scenes_csv, _SCENE_COLUMNS, scene_rows, split)
