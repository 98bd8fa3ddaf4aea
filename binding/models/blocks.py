"""Transformer trunk: pre-norm blocks with fused-qkv attention on `scaled_dot_product_attention`.

Parameter names follow the ImageBind checkpoint (`nn.MultiheadAttention` layout:
`in_proj_weight`, `in_proj_bias`, `bias_k`, `bias_v`, `out_proj`), so its weights load as
they are. Tensors are batch-first, `(B, N, C)`, throughout.

The last block of a trunk only has to produce the one token the head reads (the class
token, or text's end-of-text token); `Trunk.forward` therefore runs it for that token
alone, which saves one block's MLP and attention queries for every other token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from binding.models.registry import TRUNK_LN_EPS, TowerConfig


class SelfAttention(nn.Module):
    """Multi-head self-attention, optionally with a learned key/value appended (`bias_kv`)."""

    def __init__(self, width: int, heads: int, bias_kv: bool) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))  # rows: q, k, v
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.bias_k: nn.Parameter | None = None
        self.bias_v: nn.Parameter | None = None
        if bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, width))
            self.bias_v = nn.Parameter(torch.empty(1, 1, width))
        self.out_proj = nn.Linear(width, width)
        # set by `binding.models.quantize` to an int8 module computing the fused projection
        self.qkv_int8: nn.Module | None = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        # (B, N, C) -> (B, H, N, C/H), a strided view
        B, N, C = x.shape
        return x.view(B, N, self.heads, C // self.heads).transpose(1, 2)

    def _append_bias_kv(
        self, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # (B, H, N, D) -> (B, H, N+1, D), as nn.MultiheadAttention(add_bias_kv=True) does
        if self.bias_k is None or self.bias_v is None:
            return k, v
        B, H, _, D = k.shape
        bk = self.bias_k.to(k.dtype).view(1, H, 1, D).expand(B, H, 1, D)
        bv = self.bias_v.to(v.dtype).view(1, H, 1, D).expand(B, H, 1, D)
        return torch.cat((k, bk), dim=2), torch.cat((v, bv), dim=2)

    def _merge(self, out: torch.Tensor) -> torch.Tensor:
        # (B, H, N, D) -> (B, N, C) -> out_proj
        B, H, N, D = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(B, N, H * D))

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        if self.qkv_int8 is not None:
            return self.qkv_int8(x)
        return F.linear(x, self.in_proj_weight, self.in_proj_bias)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self._qkv(x).view(B, N, 3, self.heads, C // self.heads)  # (B, N, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, D)
        k, v = self._append_bias_kv(k, v)
        # a causal tower never has bias_kv in ImageBind; the extra key would be masked here
        assert not (causal and self.bias_k is not None), "causal attention with bias_kv"
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self._merge(out)

    def forward_one(self, x: torch.Tensor, index: torch.Tensor, causal: bool) -> torch.Tensor:
        """Attention output for token `index[b]` of each sequence only: (B, N, C) -> (B, 1, C)."""
        B, N, C = x.shape
        rows = torch.arange(B, device=x.device)
        if self.qkv_int8 is not None:
            qkv = self.qkv_int8(x)  # (B, N, 3C)
            q, kv = qkv[rows, index].unsqueeze(1)[..., :C], qkv[..., C:]
        else:
            w, b = self.in_proj_weight, self.in_proj_bias
            kv = F.linear(x, w[C:], b[C:])  # (B, N, 2C)
            q = F.linear(x[rows, index].unsqueeze(1), w[:C], b[:C])  # (B, 1, C)
        k, v = kv.view(B, N, 2, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        k, v = self._append_bias_kv(k, v)
        mask = None
        if causal:  # the query at position p sees keys 0..p
            mask = (torch.arange(N, device=x.device) <= index[:, None]).view(B, 1, 1, N)
        out = F.scaled_dot_product_attention(self._split(q), k, v, attn_mask=mask)
        return self._merge(out)


class Mlp(nn.Module):
    """Linear -> GELU (exact) -> Linear, `ratio` times wider in the middle."""

    def __init__(self, width: int, ratio: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width * ratio)
        self.fc2 = nn.Linear(width * ratio, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm_1(x)), then x + mlp(norm_2(x))."""

    def __init__(self, tower: TowerConfig) -> None:
        super().__init__()
        width = tower.width
        self.attn = SelfAttention(width, tower.heads, tower.bias_kv)
        self.norm_1 = nn.LayerNorm(width, eps=TRUNK_LN_EPS)
        self.mlp = Mlp(width, tower.mlp_ratio)
        self.norm_2 = nn.LayerNorm(width, eps=TRUNK_LN_EPS)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        x = x + self.attn(self.norm_1(x), causal)
        return x + self.mlp(self.norm_2(x))

    def forward_one(self, x: torch.Tensor, index: torch.Tensor, causal: bool) -> torch.Tensor:
        """The block's output at token `index[b]` only: (B, N, C) -> (B, C)."""
        rows = torch.arange(x.shape[0], device=x.device)
        y = x[rows, index] + self.attn.forward_one(self.norm_1(x), index, causal).squeeze(1)
        return y + self.mlp(self.norm_2(y))


class Trunk(nn.Module):
    """A tower's transformer: optional LayerNorm first (vision), then `blocks`."""

    def __init__(self, tower: TowerConfig) -> None:
        super().__init__()
        self.pre_transformer_layer: nn.Sequential | None = None
        if tower.pre_ln:  # the checkpoint key is `pre_transformer_layer.0.*`
            self.pre_transformer_layer = nn.Sequential(nn.LayerNorm(tower.width, eps=TRUNK_LN_EPS))
        self.blocks = nn.ModuleList(Block(tower) for _ in range(tower.blocks))
        self.causal = tower.pooling == "eot"

    def forward(self, tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Token `index[b]` of each sequence after the last block: (B, N, C) -> (B, C)."""
        x = tokens
        if self.causal and not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            # causal attention: tokens after the last pooled one cannot change it, so the
            # padding after the longest text is dropped (77 -> ~10 tokens for a short query)
            x = x[:, : int(index.max()) + 1]
        if self.pre_transformer_layer is not None:
            x = self.pre_transformer_layer(x)
        *body, last = self.blocks
        for block in body:
            x = block(x, self.causal)
        assert isinstance(last, Block)
        return last.forward_one(x, index, self.causal)
