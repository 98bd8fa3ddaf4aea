"""Merge the built-in towers of several training runs into one network state dict.

`binding train pair|bind` on a built-in modality saves a `BaseTower`, whose keys are the
network's own under `network.`; `assemble` strips that prefix, takes each folder's trained
tower (and its trained anchor tower, for `pair`), checks every tower is complete and of the
right shapes for `--model`, and writes one safetensors file (fp16 by default: the loader
converts to the model's dtype) that `binding.models.build(model, checkpoint=FILE)` reads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from binding.train.saved import TrainedModelError, read_spec

_PREFIX = "network."


class AssembleError(ValueError):
    """Folders that cannot be merged; the message names the folder and the problem."""


def _tower_state(folder: Path, filename: str) -> dict[str, torch.Tensor]:
    path = folder / filename
    if not path.is_file():
        raise AssembleError(f"{path}: weights file missing")
    state = load_file(str(path))
    stray = [k for k in state if not k.startswith(_PREFIX)]
    if stray:
        raise AssembleError(f"{path}: not a built-in tower (keys such as {stray[0]!r})")
    return {k[len(_PREFIX) :]: v for k, v in state.items()}


def assemble(
    folders: list[str], out: str, *, model: str, fp16: bool = True, complete: bool = False
) -> dict[str, Any]:
    """Write the merged towers of `folders` to `out`; returns towers, tensors, size, sha256.

    A tower trained in two folders is an error (which one is meant is not guessable).
    `complete`: every tower of `model` must be present.
    """
    from binding import models
    from binding.models.network import ImageBind, tower_prefixes

    spec = models.get_spec(model)
    with torch.device("meta"):
        network = ImageBind(spec.arch)
    expected = network.expected_shapes()
    merged: dict[str, torch.Tensor] = {}
    owner: dict[str, str] = {}
    for name in folders:
        folder = Path(name)
        try:
            run = read_spec(folder)
        except TrainedModelError as error:
            raise AssembleError(str(error)) from error
        tower = run.get("tower", {})
        if tower.get("type") != "base":
            raise AssembleError(f"{folder}: a {tower.get('type')!r} tower, not a built-in one")
        if tower.get("model") != spec.name:
            raise AssembleError(f"{folder}: trained for {tower.get('model')!r}, not {spec.name}")
        parts = [(tower["network_input"], run["files"]["tower"])]
        if "anchor" in run["files"]:
            anchor_input = "vision" if run["anchor"]["modality"] in ("image", "video") else None
            parts.append((anchor_input or run["anchor"]["modality"], run["files"]["anchor"]))
        for network_input, filename in parts:
            if network_input in owner:
                raise AssembleError(
                    f"{folder}: tower {network_input} was already taken from {owner[network_input]}"
                )
            owner[network_input] = str(folder)
            state = _tower_state(folder, filename)
            prefixes = tower_prefixes(network_input)
            outside = [k for k in state if not k.startswith(prefixes)]
            if outside:
                raise AssembleError(
                    f"{folder / filename}: keys outside {network_input}: {outside[:3]}"
                )
            merged.update(state)
    if not merged:
        raise AssembleError("no towers to assemble")
    problems = []
    for network_input in owner:
        keys = [k for k in expected if k.startswith(tower_prefixes(network_input))]
        missing = [k for k in keys if k not in merged]
        bad = [
            f"{k} {tuple(merged[k].shape)} != {tuple(expected[k])}"
            for k in keys
            if k in merged and tuple(merged[k].shape) != tuple(expected[k])
        ]
        if missing or bad:
            problems.append(
                f"{network_input} ({owner[network_input]}): missing {missing[:3]} {bad[:3]}"
            )
    absent = [t for t in spec.arch.modalities if t not in owner]
    if complete and absent:
        problems.append(f"towers absent: {', '.join(absent)}")
    if problems:
        raise AssembleError(f"{spec.name}: " + "; ".join(problems))
    tensors = {
        k: (v.half() if fp16 and v.is_floating_point() else v).contiguous()
        for k, v in sorted(merged.items())
    }
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(temporary), metadata={"model": spec.name, "towers": ",".join(owner)})
    temporary.chmod(0o644)  # package data: readable by everyone, as a checkout would be
    temporary.replace(path)
    data = path.read_bytes()
    return {
        "towers": sorted(owner, key=spec.arch.modalities.index),
        "tensors": len(tensors),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
