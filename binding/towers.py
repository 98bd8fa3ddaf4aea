"""Trained towers everywhere: `binding train` output folders as modalities of an engine.

A folder written by `binding train bind` (docs/train.md, "The model folder") holds a tower
for arrays of a new modality, trained into the space of a base model. Naming it in
`BINDING_TOWERS` (comma- or path-separator-separated; a folder may also hold several model
folders) or `--towers DIR`:

- registers its modality (`register_towers`): an array modality whose files are `.npy`,
  `.npz` or CSV arrays of the tower's input shape, recognised by a folder of that name or
  `--modality NAME`, previewed as a line plot (signals) or a heat map (maps);
- gives the encoder its tower (`attach_towers`), so that `embed`, ingest, query terms
  `NAME:file` and composite queries work as with the built-in modalities.

A tower trained against another base model lives in another space: it is refused with a
message naming both models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binding.errors import ConfigurationError, InputError
from binding.modality import Modality, ModalitySpec, register_modality

if TYPE_CHECKING:
    import numpy as np
    import torch

    from binding.config import Settings
    from binding.encoder import Encoder

#: What a trained model folder is recognised by (binding.train.saved.SPEC_NAME).
SPEC_FILE = "spec.json"


@dataclass(frozen=True)
class TrainedTower:
    """A trained model folder, as read from its `spec.json`."""

    folder: Path
    modality: str
    kind: str  # bind, pair, lora
    tower_type: str  # array (a new modality), base (a built-in tower retrained)
    input_shape: tuple[int, ...]
    anchor_model: str
    anchor_modality: str
    metrics: dict[str, Any]

    @property
    def network_input(self) -> str:
        """The encoder's key for this tower (never one of the base network's towers)."""
        return f"trained:{self.modality}"

    @property
    def signal(self) -> bool:
        return len(self.input_shape) == 2


def find_model_folders(folders: Iterable[str | Path]) -> list[Path]:
    """Model folders named by `folders`: each one itself, or the model folders inside it."""
    found: list[Path] = []
    for raw in folders:
        folder = Path(raw).expanduser()
        if (folder / SPEC_FILE).is_file():
            candidates = [folder]
        elif folder.is_dir():
            candidates = sorted(p for p in folder.iterdir() if (p / SPEC_FILE).is_file())
            if not candidates:
                raise ConfigurationError(
                    f"{folder}: no trained model here (no {SPEC_FILE}, nor folders holding one)"
                )
        else:
            raise ConfigurationError(f"{folder}: no such folder (BINDING_TOWERS / --towers)")
        found.extend(c for c in candidates if c not in found)
    return found


def read_tower(folder: str | Path) -> TrainedTower:
    """The `spec.json` of a trained model folder; `ConfigurationError` naming the problem."""
    folder = Path(folder)
    path = folder / SPEC_FILE
    try:
        spec: dict[str, Any] = json.loads(path.read_text())
        tower = spec["tower"]
        input_kind = spec["input"]
        anchor = spec["anchor"]
        return TrainedTower(
            folder=folder,
            modality=str(spec["modality"]),
            kind=str(spec.get("kind", "bind")),
            tower_type=str(tower["type"]),
            input_shape=tuple(int(size) for size in input_kind["shape"]),
            anchor_model=str(anchor["model"]),
            anchor_modality=str(anchor.get("modality", "image")),
            metrics=dict(spec.get("metrics", {})),
        )
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read ({error.strerror or error})") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"{path}: not a `binding train` spec ({error!r})") from None


def _array_spec(tower: TrainedTower) -> ModalitySpec:
    shape = tower.input_shape
    what = "signal (channels, length)" if tower.signal else "map (channels, height, width)"

    from binding.io.arrays import decode_array

    def preprocess(array: np.ndarray) -> torch.Tensor:
        return array_items(tower, array)

    return ModalitySpec(
        name=tower.modality,
        network_input=tower.network_input,
        item_shape=shape,
        preview="line-plot" if tower.signal else "heat-map",
        decode=decode_array,
        preprocess=preprocess,
        suffixes=(".npy", ".npz", ".csv"),
        folder_names=(tower.modality,),
        folder_categories=frozenset({"array", "table"}),
        payload_fields=("channels", "length") if tower.signal else ("channels", "height", "width"),
        facts=_array_facts,
        description=f"trained {what} {shape}, against {tower.anchor_model} {tower.anchor_modality}",
        origin=str(tower.folder),
    )


def _array_facts(array: np.ndarray) -> dict[str, Any]:
    if array.ndim == 2:
        return {"channels": int(array.shape[0]), "length": int(array.shape[1])}
    return {
        "channels": int(array.shape[0]),
        "height": int(array.shape[1]),
        "width": int(array.shape[2]),
    }


def array_items(tower: TrainedTower, array: Any) -> torch.Tensor:
    """One array of the tower's input shape as network items `(1, *shape)`; InputError else."""
    import numpy as np
    import torch

    values = np.asarray(array)
    if values.ndim == len(tower.input_shape) - 1 and len(tower.input_shape) == 2:
        values = values[None, :]  # a 1-D signal is one channel
    if tuple(values.shape) != tower.input_shape:
        raise InputError(
            f"<{tower.modality} array>",
            f"a {tower.modality} array must have shape {tower.input_shape} "
            f"(the shape its tower was trained on), got {tuple(values.shape)}",
        )
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).unsqueeze(0)


#: Towers registered in this process, by modality name.
_REGISTERED: dict[str, TrainedTower] = {}


def register_towers(
    folders: Iterable[str | Path], *, base_model: str | None = None
) -> list[TrainedTower]:
    """Register the modality of every trained model folder in `folders`; return them.

    With `base_model`, a tower trained against another model is a `ConfigurationError`:
    its vectors live in another space. Registering a folder again is a no-op; two folders
    with one modality name are refused.
    """
    towers = []
    for folder in find_model_folders(folders):
        tower = read_tower(folder)
        if tower.tower_type != "array":
            raise ConfigurationError(
                f"{folder}: a {tower.kind} run retrains the built-in {tower.modality} tower; "
                "only new modalities (`binding train bind`) can be added with --towers "
                "(load it in Python: binding.train.saved.load_trained_tower)"
            )
        if base_model is not None and tower.anchor_model != base_model:
            raise ConfigurationError(
                f"{folder}: the {tower.modality} tower was trained against model "
                f"{tower.anchor_model!r}, but this engine's model is {base_model!r}; its vectors "
                f"would not be comparable. Use --model {tower.anchor_model} (BINDING_MODEL), "
                "or train the tower again against this model"
            )
        known = _REGISTERED.get(tower.modality)
        if known is not None and known.folder.resolve() != folder.resolve():
            raise ConfigurationError(
                f"{folder}: modality {tower.modality!r} is already given by {known.folder}"
            )
        try:
            register_modality(_array_spec(tower), replace=known is not None)
        except ValueError as error:
            raise ConfigurationError(f"{folder}: {error}") from None
        _REGISTERED[tower.modality] = tower
        towers.append(tower)
    return towers


def register_from_settings(settings: Settings, *, model: str | None = None) -> list[TrainedTower]:
    """`register_towers` over `settings.towers`, checked against `model` (default: settings')."""
    folders = settings.tower_folders()
    if not folders:
        return []
    return register_towers(folders, base_model=model or settings.model)


def registered_tower(modality: Modality | str) -> TrainedTower | None:
    """The trained tower behind a modality, None for a built-in one."""
    return _REGISTERED.get(str(modality))


def forget_tower(modality: str) -> None:
    """Unregister a trained modality (tests; a long-lived process dropping a folder)."""
    from binding.modality import unregister_modality

    _REGISTERED.pop(modality, None)
    unregister_modality(modality)


def attach_towers(encoder: Encoder, towers: Sequence[TrainedTower]) -> None:
    """Load each tower's weights and give them to the encoder under its network input."""
    from binding.train.saved import TrainedModelError, load_trained_tower

    for tower in towers:
        if encoder.has_tower(tower.network_input):
            continue
        try:
            module, _ = load_trained_tower(tower.folder)
        except TrainedModelError as error:
            raise ConfigurationError(str(error)) from None
        encoder.add_tower(tower.network_input, module)


def describe_towers(settings: Settings) -> list[dict[str, Any]]:
    """Name, modality, anchor and metrics of every model folder in `settings.towers`."""
    rows = []
    for folder in find_model_folders(settings.tower_folders()):
        tower = read_tower(folder)
        recall = tower.metrics.get("recall_at_1", {})
        rows.append(
            {
                "name": folder.name,
                "folder": str(folder),
                "modality": tower.modality,
                "kind": tower.kind,
                "input_shape": list(tower.input_shape),
                "anchor": f"{tower.anchor_model}:{tower.anchor_modality}",
                "recall_at_1": recall,
                "chance": tower.metrics.get("chance"),
                "validation_pairs": tower.metrics.get("validation_pairs"),
            }
        )
    return rows
