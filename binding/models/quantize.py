"""Dynamic int8 quantisation for CPU inference, fused q/k/v projections included.

`torch.ao.quantization.quantize_dynamic(model, {nn.Linear})` alone would miss the
attention's fused input projection (a bare `in_proj_weight`, kept so the checkpoint
loads as it is), a quarter of every block's matrix work. `quantize_int8` first turns
those into `nn.Linear` modules, then quantises every Linear in place.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from binding.models.blocks import SelfAttention
from binding.models.network import ImageBind


def quantize_int8(model: ImageBind) -> ImageBind:
    """Quantise `model` in place (weights int8, activations quantised per call); CPU only.

    The model's state dict changes (packed int8 weights); outputs stay within about 1%
    (cosine >= 0.99 to fp32 on the benchmark's inputs, `bench/encoder.py`).
    """
    for module in model.modules():
        if isinstance(module, SelfAttention) and module.qkv_int8 is None:
            weight, bias = module.in_proj_weight, module.in_proj_bias
            qkv = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device)
            qkv.weight = nn.Parameter(weight.detach(), requires_grad=False)
            qkv.bias = nn.Parameter(bias.detach(), requires_grad=False)
            module.qkv_int8 = qkv
            module.in_proj_weight = None  # type: ignore[assignment]
            module.in_proj_bias = None  # type: ignore[assignment]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        from torch.ao.quantization import quantize_dynamic

        quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return model
