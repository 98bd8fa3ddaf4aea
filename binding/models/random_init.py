"""Seeded random weights that keep activations in a sane range.

Each tensor comes from its own generator, seeded by (seed, key), so a tensor's values do
not depend on module creation order or on which towers are built: the text tower of a
text-only build equals the text tower of a full build with the same seed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from binding.models.blocks import SelfAttention
from binding.models.network import ImageBind, LogitScale
from binding.models.registry import ArchConfig
from binding.models.stems import TextTokenizer

#: Spread of embeddings, positions, class tokens and biases (CLIP/ViT's customary 0.02).
SMALL_STD = 0.02

Fill = Callable[[torch.Tensor, torch.Generator], None]


def key_seed(seed: int, key: str) -> int:
    """The generator seed of tensor `key` (63 bits of sha256 of "seed/key")."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _normal(mean: float, std: float) -> Fill:
    def fill(t: torch.Tensor, g: torch.Generator) -> None:
        # randn + affine is faster on CPU than normal_(mean, std)
        torch.randn(t.shape, generator=g, out=t).mul_(std).add_(mean)

    return fill


def _constant(value: float) -> Fill:
    def fill(t: torch.Tensor, g: torch.Generator) -> None:
        t.fill_(value)

    return fill


def _causal_mask(t: torch.Tensor, g: torch.Generator) -> None:
    t.fill_(float("-inf")).triu_(1)  # additive mask: -inf above the diagonal, 0 elsewhere


def _fan_in_std(weight: torch.Tensor) -> float:
    return weight[0].numel() ** -0.5


def _plan(model: ImageBind) -> dict[str, Fill]:
    """How each state-dict entry of `model` is filled, by the kind of module that owns it."""
    arch = model.arch
    plan: dict[str, Fill] = {}
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        tower = prefix.split(".")[1] if prefix.count(".") >= 1 else ""
        # residual branches are scaled down by depth (GPT-2) so deep trunks stay tame
        depth_scale = 1 / math.sqrt(2 * arch.tower(tower).blocks) if tower else 1.0
        tensors = dict(module.named_parameters(recurse=False))
        tensors.update(module.named_buffers(recurse=False))
        for name, tensor in tensors.items():
            key = dot + name
            if isinstance(module, nn.LayerNorm):
                plan[key] = _normal(1.0 if name == "weight" else 0.0, SMALL_STD)
            elif isinstance(module, SelfAttention):
                if name == "in_proj_weight":
                    plan[key] = _normal(0.0, _fan_in_std(tensor))
                elif name in ("bias_k", "bias_v"):
                    plan[key] = _normal(0.0, 1.0)  # as large as projected keys/values
                else:
                    plan[key] = _normal(0.0, SMALL_STD)
            elif isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
                if name == "bias":
                    plan[key] = _normal(0.0, SMALL_STD)
                else:
                    residual = prefix.endswith(("attn.out_proj", "mlp.fc2"))
                    std = _fan_in_std(tensor) * (depth_scale if residual else 1.0)
                    plan[key] = _normal(0.0, std)
            elif isinstance(module, LogitScale):
                scale = arch.tower(tower).logit_scale
                assert scale is not None
                plan[key] = _constant(math.log(scale))
            elif isinstance(module, TextTokenizer) and name == "mask":
                plan[key] = _causal_mask
            else:  # embeddings, positions, class tokens
                plan[key] = _normal(0.0, SMALL_STD)
    return plan


def random_state_dict(
    arch: ArchConfig, seed: int, modalities: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """A full state dict (fp32, CPU) of random weights for `arch`'s towers (all when None).

    Matrices are N(0, 1/fan_in) (residual outputs further scaled by 1/sqrt(2*blocks)),
    LayerNorm weights near 1, biases and embeddings N(0, 0.02), scales at their initial
    values and the text mask causal. The same (seed, key) always gives the same tensor.
    `imagebind_huge` (1.2 B values, 4.8 GB) takes about 4-10 s on two busy cores.
    """
    with torch.device("meta"):
        model = ImageBind(arch, modalities)
    shapes = model.expected_shapes()
    plan = _plan(model)
    assert plan.keys() == shapes.keys(), "every state-dict entry needs an init rule"

    def make(key: str) -> torch.Tensor:
        tensor = torch.empty(shapes[key], dtype=torch.float32)
        plan[key](tensor, torch.Generator().manual_seed(key_seed(seed, key)))
        return tensor

    # torch releases the GIL while generating, so threads fill tensors in parallel
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        tensors = list(pool.map(make, shapes))
    return dict(zip(shapes, tensors, strict=True))
