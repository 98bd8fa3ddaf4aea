"""The encoder of a new modality: binding's transformer with a patch stem sized from the data.

A signal `(C, L)` is cut into windows of `patch` samples, each flattened and projected by a
Linear (as the IMU tower's stem); a map `(C, H, W)` is cut into `patch x patch` tiles by a
convolution (as the depth and thermal stems). Then a class token, learned positions, the
pre-norm blocks of `binding.models.blocks`, LayerNorm + Linear to the shared dimension, and
L2 normalisation. Per-channel mean and std of the training data are buffers of the module,
so a loaded tower takes raw arrays.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from binding.models.blocks import Trunk
from binding.models.registry import TRUNK_LN_EPS, ImuStem, PatchStem, TowerConfig

#: Patch tokens aimed at when sizing the stem from the data (a few dozen keep a CPU run short).
TARGET_TOKENS = 32


@dataclass(frozen=True)
class ArrayTowerConfig:
    """Everything needed to rebuild the tower; saved in `spec.json`."""

    modality: str
    input_shape: tuple[int, ...]  # (C, L) or (C, H, W)
    patch: int
    width: int
    blocks: int
    heads: int
    embed_dim: int

    @property
    def kind(self) -> str:
        return "signal" if len(self.input_shape) == 2 else "map"

    @property
    def grid(self) -> tuple[int, ...]:
        """Patch layout (the input is zero-padded up to a whole number of patches)."""
        return tuple(math.ceil(size / self.patch) for size in self.input_shape[1:])

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> ArrayTowerConfig:
        shape = raw["input_shape"]
        if not isinstance(shape, list | tuple):
            raise ValueError(f"tower config: input_shape must be a list, got {shape!r}")
        return cls(
            modality=str(raw["modality"]),
            input_shape=tuple(int(size) for size in shape),
            patch=int(str(raw["patch"])),
            width=int(str(raw["width"])),
            blocks=int(str(raw["blocks"])),
            heads=int(str(raw["heads"])),
            embed_dim=int(str(raw["embed_dim"])),
        )


def size_tower(
    modality: str,
    input_shape: tuple[int, ...],
    *,
    embed_dim: int,
    width: int = 128,
    blocks: int = 4,
    heads: int = 4,
) -> ArrayTowerConfig:
    """A config whose patch gives about TARGET_TOKENS tokens for this input shape."""
    if len(input_shape) not in (2, 3):
        raise ValueError(f"input shape {input_shape}: expected (C, L) or (C, H, W)")
    spatial = input_shape[1:]
    per_axis = TARGET_TOKENS ** (1 / len(spatial))
    patch = max(1, math.ceil(max(spatial) / per_axis))
    return ArrayTowerConfig(modality, tuple(input_shape), patch, width, blocks, heads, embed_dim)


class ArrayTower(nn.Module):
    """Raw arrays (B, C, L) or (B, C, H, W) -> unit vectors (B, embed_dim)."""

    def __init__(self, config: ArrayTowerConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.input_shape[0]
        width = config.width
        stem = (
            ImuStem(channels, config.patch)
            if config.kind == "signal"
            else PatchStem(channels, (config.patch, config.patch), (config.patch,) * 2, False)
        )
        trunk_config = TowerConfig(
            name=config.modality,
            width=width,
            blocks=config.blocks,
            heads=config.heads,
            input_shape=config.input_shape,
            stem=stem,
            bias_kv=False,
            pre_ln=False,
            drop_path=0.0,
            logit_scale=None,
        )
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        if config.kind == "signal":
            self.patch_embed: nn.Module = nn.Linear(channels * config.patch, width, bias=False)
        else:
            self.patch_embed = nn.Conv2d(channels, width, config.patch, config.patch, bias=False)
        self.patch_norm = nn.LayerNorm(width, eps=TRUNK_LN_EPS)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, math.prod(config.grid) + 1, width))
        self.trunk = Trunk(trunk_config)
        self.head_norm = nn.LayerNorm(width, eps=TRUNK_LN_EPS)
        self.head = nn.Linear(width, config.embed_dim, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ViT-style init (truncated normal 0.02, zero biases, unit LayerNorms)."""
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif "norm" in name:
                nn.init.ones_(param)
            else:
                nn.init.trunc_normal_(param, std=0.02)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)  # type: ignore[operator]
        self.std.copy_(std.clamp(min=1e-6))  # type: ignore[operator]

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        config = self.config
        expected = (config.input_shape[0], *config.input_shape[1:])
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"{config.modality}: expected input (B, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}"
            )
        view = (1, -1) + (1,) * (x.ndim - 2)
        x = (x - self.mean.view(view)) / self.std.view(view)  # type: ignore[operator]
        pads: list[int] = []
        for size, cells in zip(reversed(x.shape[2:]), reversed(config.grid), strict=True):
            pads += [0, cells * config.patch - size]
        x = F.pad(x, pads)
        if config.kind == "signal":
            B, C, L = x.shape
            windows = x.view(B, C, L // config.patch, config.patch).permute(0, 2, 1, 3)
            patches = self.patch_embed(windows.reshape(B, L // config.patch, C * config.patch))
        else:
            patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        patches = self.patch_norm(patches)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        return torch.cat((cls, patches), dim=1) + self.pos_embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(x)
        index = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        pooled = self.trunk(tokens, index)
        return F.normalize(self.head(self.head_norm(pooled)), dim=-1)
