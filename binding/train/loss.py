"""Symmetric InfoNCE with a learnable temperature, negatives gathered across ranks.

After open_clip's `ClipLoss` (gather with gradients, full loss on every rank): with
`torch.distributed.nn.all_gather` the gradient of each rank's loss reaches every rank's
features, and DDP's average of the gradients equals the one-process gradient over the
global batch. ImageBind's loss is this one (arXiv 2305.05665, eq. 1, both directions).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

#: CLIP's initial temperature 0.07; the scale 1/tau is clipped at 100 as in CLIP.
INIT_TEMPERATURE = 0.07
MAX_SCALE = 100.0


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's (b, D) features into (world * b, D), keeping gradients."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features), dim=0)


class ContrastiveLoss(nn.Module):
    """(input, anchor) unit vectors -> mean of the two cross-entropies over the global batch."""

    def __init__(self, temperature: float = INIT_TEMPERATURE, learn_temperature: bool = True):
        super().__init__()
        self.log_scale = nn.Parameter(
            torch.tensor(math.log(1 / temperature)), requires_grad=learn_temperature
        )

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=MAX_SCALE)

    def forward(self, inputs: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        all_inputs = gather_features(inputs)
        all_anchors = gather_features(anchors)
        logits = self.scale * all_inputs.float() @ all_anchors.float().T
        labels = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
