"""LoRA adapters (Hu et al., arXiv 2106.09685) on a tower's attention and MLP projections.

Each adapted weight W (the fused q/k/v `in_proj_weight`, `out_proj.weight`, `mlp.fc1` and
`mlp.fc2`) reads as W + (alpha / r) * up @ down, through `torch.nn.utils.parametrize`; `up`
starts at zero so training starts from the base tower. The base stays frozen; the adapter
file holds only `down` and `up` (a few hundred KB), applied at load time or merged.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from binding.models.blocks import Block

#: (module inside a Block, parameter) pairs that get adapters.
TARGETS = (
    ("attn", "in_proj_weight"),
    ("attn.out_proj", "weight"),
    ("mlp.fc1", "weight"),
    ("mlp.fc2", "weight"),
)


class LoraDelta(nn.Module):
    """The parametrization W -> W + scaling * up @ down."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.down = nn.Parameter(torch.empty(rank, in_features))
        self.up = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))
        self.scaling = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + (self.up @ self.down).to(weight.dtype) * self.scaling


def _targets(tower: nn.Module) -> list[tuple[str, nn.Module, str]]:
    found = []
    for name, module in tower.named_modules():
        if isinstance(module, Block):
            for path, parameter in TARGETS:
                target = module.get_submodule(path)
                found.append(
                    (
                        f"{name}.{path}.{parameter}" if name else f"{path}.{parameter}",
                        target,
                        parameter,
                    )
                )
    if not found:
        raise ValueError("no transformer blocks to adapt in this tower")
    return found


def add_adapters(tower: nn.Module, rank: int, alpha: float) -> list[str]:
    """Freeze `tower` and add rank-`rank` adapters; returns the adapted weights' names."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    for weight in tower.parameters():
        weight.requires_grad_(False)
    names = []
    for name, module, parameter in _targets(tower):
        out_features, in_features = getattr(module, parameter).shape
        parametrize.register_parametrization(
            module, parameter, LoraDelta(out_features, in_features, rank, alpha)
        )
        names.append(name)
    return names


def adapter_state(tower: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' tensors: `<weight name>.down` / `.up`."""
    state = {}
    for name, module, parameter in _targets(tower):
        delta = _delta(module, parameter)
        state[f"{name}.down"] = delta.down.detach().cpu().contiguous()
        state[f"{name}.up"] = delta.up.detach().cpu().contiguous()
    return state


def load_adapters(tower: nn.Module, state: dict[str, torch.Tensor], alpha: float) -> None:
    """Add adapters shaped by `state` to `tower` and fill them (the inverse of adapter_state)."""
    rank = next(v for k, v in state.items() if k.endswith(".down")).shape[0]
    add_adapters(tower, rank, alpha)
    for name, module, parameter in _targets(tower):
        delta = _delta(module, parameter)
        try:
            delta.down.data.copy_(state[f"{name}.down"])
            delta.up.data.copy_(state[f"{name}.up"])
        except KeyError as error:
            raise ValueError(
                f"adapter file lacks {error.args[0]}: made for another tower?"
            ) from error


def merge_adapters(tower: nn.Module) -> None:
    """Fold every adapter into its weight: a plain tower again, with the adapted weights."""
    for _, module, parameter in _targets(tower):
        if parametrize.is_parametrized(module, parameter):
            parametrize.remove_parametrizations(module, parameter, leave_parametrized=True)


def _delta(module: nn.Module, parameter: str) -> LoraDelta:
    delta = module.parametrizations[parameter][0]  # type: ignore[union-attr, index]
    assert isinstance(delta, LoraDelta)
    return delta
