"""Pairs to train on: a CSV or JSON Lines manifest, or a folder of files sharing a stem.

Manifest columns: `anchor` and `input` (paths relative to the manifest, or texts for a text
side), optional `split` (`train` or `val`). Folder convention: `photo_001.jpg` beside
`photo_001.npy` makes one pair (the anchor is the media file, the input the array file).

Every pair is checked before training (`validate_pairs`); a bad pair gets one line saying
why and is left out, so a broken file never stops a run at epoch 7.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binding.train.arrays import ARRAY_SUFFIXES, ArrayError, read_array

SPLITS = ("train", "val")


class ManifestError(ValueError):
    """The manifest as a whole cannot be read (missing, wrong columns, no pairs)."""


@dataclass(frozen=True)
class Pair:
    """One training example: the anchor side and the input side, and its split if given."""

    anchor: str
    input: str
    split: str | None = None
    line: int = 0  # where it came from, for messages
    label: str | None = None  # class name, for the zero-shot score (optional `label` column)


@dataclass
class CheckedPairs:
    """Pairs that passed validation, their arrays, and one line per pair left out."""

    pairs: list[Pair]
    arrays: list[np.ndarray]
    problems: list[str]


def read_pairs(source: str | Path) -> list[Pair]:
    """Pairs from a `.csv`, `.jsonl` manifest or a folder; paths made absolute."""
    source = Path(source)
    if source.is_dir():
        return _folder_pairs(source)
    if not source.is_file():
        raise ManifestError(f"{source}: manifest not found")
    suffix = source.suffix.lower()
    if suffix == ".csv":
        with source.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            rows = [(index + 2, dict(row)) for index, row in enumerate(reader)]
    elif suffix in (".jsonl", ".ndjson"):
        rows = []
        for index, text in enumerate(source.read_text().splitlines(), start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise ManifestError(f"{source}:{index}: not JSON ({error.msg})") from error
            if not isinstance(row, dict):
                raise ManifestError(f"{source}:{index}: each line must be a JSON object")
            rows.append((index, row))
        fields = sorted({key for _, row in rows for key in row})
    else:
        raise ManifestError(f"{source}: a manifest is a .csv, a .jsonl or a folder")
    missing = [name for name in ("anchor", "input") if name not in fields]
    if missing:
        raise ManifestError(f"{source}: missing column(s) {', '.join(missing)}")
    base = source.parent
    pairs = []
    for line, row in rows:
        split = row.get("split") or None
        pairs.append(
            Pair(
                anchor=_resolve(base, str(row.get("anchor") or "")),
                input=_resolve(base, str(row.get("input") or "")),
                split=str(split).strip().lower() if split else None,
                line=line,
                label=str(row["label"]) if row.get("label") else None,
            )
        )
    if not pairs:
        raise ManifestError(f"{source}: the manifest holds no pairs")
    return pairs


def _resolve(base: Path, value: str) -> str:
    """A relative path that exists next to the manifest becomes absolute; texts stay as they are."""
    candidate = base / value
    if value and not Path(value).is_absolute() and candidate.exists():
        return str(candidate)
    return value


def _folder_pairs(folder: Path) -> list[Pair]:
    inputs: dict[str, Path] = {}
    anchors: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        key = str(path.relative_to(folder).with_suffix(""))
        target = inputs if path.suffix.lower() in ARRAY_SUFFIXES else anchors
        target.setdefault(key, path)
    pairs = [
        Pair(anchor=str(anchors[key]), input=str(inputs[key]), line=index)
        for index, key in enumerate(sorted(set(inputs) & set(anchors)), start=1)
    ]
    if not pairs:
        raise ManifestError(
            f"{folder}: no pairs found (a pair is two files sharing a stem, one of them "
            f"{'/'.join(ARRAY_SUFFIXES)}, e.g. a.jpg + a.npy)"
        )
    return pairs


def validate_pairs(
    pairs: Sequence[Pair],
    *,
    anchor_is_text: bool,
    shape: tuple[int, ...] | None = None,
    read: Callable[[str], np.ndarray] = read_array,
) -> CheckedPairs:
    """Keep the pairs whose anchor exists and whose input is a finite array of one shape.

    The expected shape is `shape`, or else the most common shape among readable inputs.
    """
    problems: list[str] = []
    readable: list[tuple[Pair, np.ndarray]] = []
    for pair in pairs:
        where = f"pair {pair.line}"
        if pair.split is not None and pair.split not in SPLITS:
            problems.append(f"{where}: split {pair.split!r} is not train or val")
            continue
        if not pair.anchor:
            problems.append(f"{where}: empty anchor")
            continue
        if not anchor_is_text and not Path(pair.anchor).is_file():
            problems.append(f"{where}: anchor file not found: {pair.anchor}")
            continue
        try:
            array = read(pair.input)
        except ArrayError as error:
            problems.append(f"{where}: {error}")
            continue
        readable.append((pair, array))
    if shape is None and readable:
        shapes = [array.shape for _, array in readable]
        shape = max(set(shapes), key=shapes.count)
    kept: list[Pair] = []
    arrays: list[np.ndarray] = []
    for pair, array in readable:
        if array.shape != shape:
            problems.append(
                f"pair {pair.line}: {pair.input}: shape {array.shape}, expected {shape}"
            )
            continue
        kept.append(pair)
        arrays.append(array)
    return CheckedPairs(kept, arrays, problems)


def split_pairs(
    checked: CheckedPairs, *, val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of the training and validation pairs: the `split` column, else a seeded draw."""
    given = [pair.split for pair in checked.pairs]
    if any(split is not None for split in given):
        train = [i for i, split in enumerate(given) if split != "val"]
        val = [i for i, split in enumerate(given) if split == "val"]
        return train, val
    order = list(range(len(checked.pairs)))
    random.Random(seed).shuffle(order)
    count = max(1, round(len(order) * val_fraction)) if len(order) > 1 else 0
    return sorted(order[count:]), sorted(order[:count])
