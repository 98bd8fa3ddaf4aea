"""Building a model by name: the network, then its weights (checkpoint or seeded random).

Weights are checked strictly before loading: a missing, unexpected or misshapen key is a
`CheckpointError` that names the keys. A subset build reads only its towers' keys.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch

from binding.errors import CheckpointError
from binding.modality import NETWORK_INPUT, NETWORK_MODALITIES, parse_modality
from binding.models import checkpoint as checkpoint_io
from binding.models.network import ImageBind, tower_prefixes
from binding.models.random_init import random_state_dict
from binding.models.registry import ModelSpec, RandomWeightsWarning, get_spec

if TYPE_CHECKING:
    from binding.config import Settings

_LISTED = 10  # keys named per kind of mismatch; the rest are counted


def _listing(kind: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    more = f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
    return f"{len(keys)} {kind}: {shown}{more}"


def check_state_dict(
    expected_shapes: Mapping[str, torch.Size | tuple[int, ...]],
    state: Mapping[str, torch.Tensor],
) -> None:
    """Raise `CheckpointError` naming every missing, unexpected and misshapen key."""
    missing = [k for k in expected_shapes if k not in state]
    unexpected = [k for k in state if k not in expected_shapes]
    misshapen = [
        f"{k} (expected {tuple(shape)}, got {tuple(state[k].shape)})"
        for k, shape in expected_shapes.items()
        if k in state and tuple(state[k].shape) != tuple(shape)
    ]
    problems = [
        _listing(kind, keys)
        for kind, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("misshapen keys", misshapen),
        )
        if keys
    ]
    if problems:
        raise CheckpointError("checkpoint does not fit the model: " + "; ".join(problems))


def network_modalities(modalities: Iterable[str] | None) -> tuple[str, ...] | None:
    """Tower names for user words: `image`/`video`/`vision` -> `vision`, the rest as they are."""
    if modalities is None:
        return None
    towers: list[str] = []
    for name in modalities:
        key = name.strip().lower()
        tower = key if key in NETWORK_MODALITIES else NETWORK_INPUT[parse_modality(key)]
        if tower not in towers:
            towers.append(tower)
    return tuple(towers)


def _default_checkpoint(spec: ModelSpec, settings: Settings) -> Path:
    if spec.packaged:
        from binding.models.packaged import packaged_path

        return packaged_path(spec)
    assert spec.url is not None and spec.filename is not None
    path = checkpoint_io.resolve_checkpoint(  # type: ignore[attr-defined]
        spec.url,
        filename=spec.filename,
        size=spec.size_bytes,
        sha256=spec.sha256,
        cache_dir=Path(settings.cache_dir),
        offline=settings.offline,
    )
    return Path(checkpoint_io.ensure_safetensors(path))  # type: ignore[attr-defined]


def _checkpoint_path(checkpoint: str | Path, spec: ModelSpec, settings: Settings) -> Path:
    text = str(checkpoint)
    if urlparse(text).scheme in ("http", "https"):
        known = text == spec.url
        path = checkpoint_io.resolve_checkpoint(  # type: ignore[attr-defined]
            text,
            filename=spec.filename if known and spec.filename else Path(urlparse(text).path).name,
            size=spec.size_bytes if known else None,
            sha256=spec.sha256 if known else None,
            cache_dir=Path(settings.cache_dir),
            offline=settings.offline,
        )
        return Path(path)
    return Path(checkpoint)


def _load(model: ImageBind, state: Mapping[str, torch.Tensor]) -> None:
    expected = model.expected_shapes()
    check_state_dict(expected, state)
    dtypes = {k: v.dtype for k, v in model.state_dict(keep_vars=True).items()}
    state = {k: v if v.dtype == dtypes[k] else v.to(dtypes[k]) for k, v in state.items()}
    # assign=True adopts the tensors (memory-mapped ones stay mapped) instead of copying
    model.load_state_dict(state, strict=True, assign=True)


def build(
    name: str | None = None,
    modalities: Iterable[str] | None = None,
    checkpoint: str | Path | None = None,
    seed: int | None = None,
    *,
    settings: Settings | None = None,
    device: str | torch.device | None = None,
) -> ImageBind:
    """The network called `name` (default `imagebind_huge`), in eval mode, ready to embed.

    - `modalities`: towers to build (`vision`/`image`/`video`, `text`, `audio`, `depth`,
      `thermal`, `imu`); all when None. Only their weights are read.
    - `checkpoint`: a local `.pth`/`.safetensors` file or an http(s) URL, loaded strictly.
    - `seed`: seeded random weights instead (warns `RandomWeightsWarning`).
    - neither: the model's own weights, downloaded once into `settings.cache_dir`
      (`settings.offline` forbids the download), or read from the package for a model
      that ships them (`binding_mini`, checked against its size and sha256); a model without published weights
      (`imagebind_tiny`) gets random weights with seed 0 and a warning.
    - `device`: where the weights live; `"meta"` builds shapes only, without weights.

    `settings` (default: `Settings()` from the environment) supplies `cache_dir` and
    `offline`; its `model`/`checkpoint`/`seed` are not read here: callers pass them.
    Parameters do not require gradients (inference); call `requires_grad_()` to train.
    """
    from binding.models.registry import DEFAULT_MODEL

    spec = get_spec(name or DEFAULT_MODEL)
    towers = network_modalities(modalities)
    if checkpoint is not None and seed is not None:
        raise ValueError("give either a checkpoint or a seed, not both")
    if spec.random_weights_only and checkpoint is None and seed is None:
        seed = 0
    with torch.device("meta"):
        model = ImageBind(spec.arch, towers)
    model.eval().requires_grad_(False)
    if device is not None and torch.device(device).type == "meta":
        return model

    built = model.modalities
    source = f"random weights (seed {seed})"
    if seed is not None:
        warnings.warn(
            f"{spec.name} has random weights (seed {seed}): its embeddings are meaningless; "
            "use them for tests and speed measurements only",
            RandomWeightsWarning,
            stacklevel=2,
        )
        state = random_state_dict(spec.arch, seed, built)
    else:
        if settings is None:
            from binding.config import Settings

            settings = Settings()  # type: ignore[call-arg]  # pydantic fills the defaults
        if checkpoint is None:
            path = _default_checkpoint(spec, settings)
        else:
            path = _checkpoint_path(checkpoint, spec, settings)
        source = str(path)
        prefixes = [p for tower in built for p in tower_prefixes(tower)]
        state = checkpoint_io.read_state_dict(path, prefixes)
        if not state:
            raise CheckpointError(
                f"checkpoint {path} has no weights for the towers {', '.join(built)} of {spec.name}"
            )
    try:
        _load(model, state)
    except CheckpointError as exc:
        raise CheckpointError(f"{spec.name} from {source}: {exc}") from None
    model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return model
