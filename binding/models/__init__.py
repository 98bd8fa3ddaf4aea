"""ImageBind-compatible networks, the model registry and checkpoints.

>>> from binding.models import build, list_models
>>> model = build("imagebind_tiny", modalities=["text"])  # random weights: warns
>>> from binding.preprocess.text import tokenize
>>> model.embed("text", tokenize(["a dog"]), normalize=True)  # (1, 32) unit vectors

The registry needs no torch; the network does. Names are resolved lazily (PEP 562) so that
`get_spec` in a dashboard or a query node does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from binding.models.registry import (
    DEFAULT_MODEL,
    PREPROCESS,
    ArchConfig,
    ImuStem,
    ModelSpec,
    PatchStem,
    PreprocessConfig,
    RandomWeightsWarning,
    TokenStem,
    TowerConfig,
    get_spec,
    list_models,
)

if TYPE_CHECKING:
    from binding.models.loading import build, check_state_dict, network_modalities
    from binding.models.network import ImageBind, tower_prefixes
    from binding.models.random_init import random_state_dict

_LAZY = {
    "build": "binding.models.loading",
    "check_state_dict": "binding.models.loading",
    "network_modalities": "binding.models.loading",
    "ImageBind": "binding.models.network",
    "tower_prefixes": "binding.models.network",
    "random_state_dict": "binding.models.random_init",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'binding.models' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "PREPROCESS",
    "ArchConfig",
    "ImageBind",
    "ImuStem",
    "ModelSpec",
    "PatchStem",
    "PreprocessConfig",
    "RandomWeightsWarning",
    "TokenStem",
    "TowerConfig",
    "build",
    "check_state_dict",
    "get_spec",
    "list_models",
    "network_modalities",
    "random_state_dict",
    "tower_prefixes",
]
