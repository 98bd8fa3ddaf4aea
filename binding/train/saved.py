"""A trained model folder: tower weights (safetensors), `spec.json`, and the loader.

    out/
      tower.safetensors     the trained tower (bind, pair) or the merged tower (lora --merge)
      adapter.safetensors   lora: the adapters only
      anchor.safetensors    pair: the anchor tower, when it was trained too
      spec.json             modality, input kind and shape, tower config, preprocessing,
                            anchor model and its weights hash, data hash, metrics, version
      report.json, curves.png, metrics.jsonl, problems.txt, checkpoint.pt

`load_trained_tower(folder)` rebuilds the tower from `spec.json` alone (plus the base model
for towers of a built-in modality) and returns a module mapping a batch to unit vectors.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from binding.config import Settings
from binding.train import FORMAT_VERSION
from binding.train.towers import ArrayTower, ArrayTowerConfig

SPEC_NAME = "spec.json"


class TrainedModelError(ValueError):
    """A model folder that cannot be loaded; the message names the folder and the problem."""


class BaseTower(nn.Module):
    """One tower of a base network (`binding.models`), as a module giving unit vectors."""

    def __init__(self, network: nn.Module, network_input: str) -> None:
        super().__init__()
        self.network = network
        self.network_input = network_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network.embed_items(self.network_input, x)  # type: ignore[operator]
        return F.normalize(out.float(), dim=-1)


def base_tower(
    model: str, network_input: str, settings: Settings, *, seed: int | None = None
) -> BaseTower:
    """The named model's tower for one network input, trainable (train mode, fp32).

    `seed`: seeded random weights (training from scratch); otherwise `settings.seed`, else
    `settings.checkpoint`, else the model's own weights.
    """
    from binding import models

    seed = seed if seed is not None else settings.seed
    checkpoint = settings.checkpoint if seed is None else None
    with warnings.catch_warnings():
        if seed is not None:  # training from scratch: random weights are the point
            warnings.simplefilter("ignore", models.RandomWeightsWarning)
        network = models.build(
            model, modalities=[network_input], checkpoint=checkpoint, seed=seed, settings=settings
        )
    network.train()
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    return BaseTower(network, network_input)


def save_tensors(module_state: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in module_state.items()}, str(path))


def write_spec(folder: Path, spec: dict[str, Any]) -> None:
    payload = {"format_version": FORMAT_VERSION, **spec}
    (folder / SPEC_NAME).write_text(json.dumps(payload, indent=2) + "\n")


def read_spec(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / SPEC_NAME
    if not path.is_file():
        raise TrainedModelError(f"{folder}: no {SPEC_NAME} (not a `binding train` output folder)")
    try:
        spec: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TrainedModelError(f"{path}: not JSON ({error.msg})") from error
    if spec.get("format_version") != FORMAT_VERSION:
        raise TrainedModelError(
            f"{path}: format version {spec.get('format_version')}, this binding reads {FORMAT_VERSION}"
        )
    return spec


def load_trained_tower(
    folder: str | Path, *, merge: bool = True, settings: Settings | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The trained tower in `folder` (eval mode, on the CPU) and its spec.

    For a LoRA folder the adapters are applied to the base tower; `merge=True` folds them
    into its weights (faster), `merge=False` keeps them as separate modules.
    """
    folder = Path(folder)
    spec = read_spec(folder)
    settings = settings or Settings()
    tower_spec = spec["tower"]
    module: nn.Module
    if tower_spec["type"] == "array":
        module = ArrayTower(ArrayTowerConfig.from_json(tower_spec["config"]))
        _load_state(module, folder / spec["files"]["tower"])
    elif tower_spec["type"] == "base":
        # a from-scratch tower needs no base weights: seeded ones are replaced by the saved ones
        module = base_tower(
            tower_spec["model"],
            tower_spec["network_input"],
            settings,
            seed=0 if tower_spec.get("from_scratch") else None,
        )
        if "adapter" in spec["files"]:
            from binding.train.lora import load_adapters, merge_adapters

            adapter = load_file(str(folder / spec["files"]["adapter"]))
            load_adapters(module, adapter, alpha=float(spec["lora"]["alpha"]))
            if merge:
                merge_adapters(module)
        else:
            _load_state(module, folder / spec["files"]["tower"])
    else:
        raise TrainedModelError(f"{folder}: unknown tower type {tower_spec['type']!r}")
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module, spec


def _load_state(module: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise TrainedModelError(f"{path}: weights file missing")
    try:
        module.load_state_dict(load_file(str(path)))
    except RuntimeError as error:
        raise TrainedModelError(f"{path}: weights do not fit the spec's tower ({error})") from error
