"""ImageBind-compatible networks, the model registry and checkpoints.

>>> from binding.models import build, list_models
>>> model = build("imagebind_tiny", modalities=["text"])  # random weights: warns
>>> model.embed("text", ids, normalize=True)  # (B, 32) unit vectors
"""

from binding.models.loading import build, check_state_dict, network_modalities
from binding.models.network import ImageBind, tower_prefixes
from binding.models.random_init import random_state_dict
from binding.models.registry import (
    DEFAULT_MODEL,
    ArchConfig,
    ImuStem,
    ModelSpec,
    PatchStem,
    RandomWeightsWarning,
    TokenStem,
    TowerConfig,
    get_spec,
    list_models,
)

__all__ = [
    "DEFAULT_MODEL",
    "ArchConfig",
    "ImageBind",
    "ImuStem",
    "ModelSpec",
    "PatchStem",
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
