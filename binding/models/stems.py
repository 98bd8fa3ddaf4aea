"""Tokenisers of the towers: network input -> `(B, N, C)` tokens with class token and positions.

Module and parameter names reproduce the ImageBind checkpoint's keys under
`modality_preprocessors.<tower>.` (for example `rgbt_stem.proj.1.weight` for the vision
Conv3d, whose slot 0 in the reference is a weightless frame-repeat).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from binding.models.registry import STEM_LN_EPS, ImuStem, PatchStem, TokenStem, TowerConfig

#: Attribute holding each tower's patch projection (the reference's names, kept for its keys).
_STEM_ATTR = {
    "vision": "rgbt_stem",
    "audio": "rgbt_stem",
    "thermal": "rgbt_stem",
    "depth": "depth_stem",
    "imu": "imu_stem",
}


def _shape_error(tower: str, expected: str, got: torch.Size) -> ValueError:
    return ValueError(f"{tower}: expected input {expected}, got {tuple(got)}")


class PatchProjection(nn.Module):
    """Patch projection (`proj`) and the optional LayerNorm after it (`norm_layer`)."""

    def __init__(self, proj: nn.Module, width: int, norm: bool) -> None:
        super().__init__()
        self.proj = proj
        self.norm_layer = nn.LayerNorm(width, eps=STEM_LN_EPS) if norm else None


class PositionTable(nn.Module):
    """Holds the learned positions (`pos_embedding_helper.pos_embed` in the checkpoint)."""

    def __init__(self, tokens: int, width: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.empty(1, tokens, width))


class PatchTokenizer(nn.Module):
    """Vision, audio, depth and thermal: patches -> LayerNorm? -> [CLS] + tokens -> + positions."""

    def __init__(self, tower: TowerConfig) -> None:
        super().__init__()
        stem = tower.stem
        assert isinstance(stem, PatchStem)
        self.tower = tower.name
        self.stem = stem
        self.input_shape = tower.input_shape
        self.grid = tower.grid
        width = tower.width
        proj: nn.Module
        if len(stem.kernel) == 3:
            k3, s3 = (
                cast("tuple[int, int, int]", stem.kernel),
                cast("tuple[int, int, int]", stem.stride),
            )
            conv3d = nn.Conv3d(stem.in_channels, width, k3, s3, bias=False)
            proj = nn.Sequential(nn.Identity(), conv3d)  # checkpoint key: proj.1.weight
        else:
            k2, s2 = cast("tuple[int, int]", stem.kernel), cast("tuple[int, int]", stem.stride)
            proj = nn.Conv2d(stem.in_channels, width, k2, s2, bias=False)
        self.cls_token = nn.Parameter(torch.empty(1, 1, width))
        self.add_module(_STEM_ATTR[tower.name], PatchProjection(proj, width, stem.norm))
        self.pos_embedding_helper = PositionTable(tower.num_tokens, width)

    @property
    def projection(self) -> PatchProjection:
        module = getattr(self, _STEM_ATTR[self.tower])
        assert isinstance(module, PatchProjection)
        return module

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, [T,] H, W) -> (B, C, *grid)."""
        projection = self.projection
        stem = self.stem
        channels = stem.in_channels
        if x.ndim < 3 or x.shape[1] != channels:
            raise _shape_error(self.tower, f"(B, {channels}, ...)", x.shape)
        if len(stem.kernel) == 2:
            if x.ndim != 4 or (self.tower != "vision" and x.shape[2:] != self.input_shape[1:]):
                raise _shape_error(
                    self.tower, f"(B, {', '.join(map(str, self.input_shape))})", x.shape
                )
            conv2d = projection.proj
            assert isinstance(conv2d, nn.Conv2d)
            return F.conv2d(x, conv2d.weight, stride=stem.stride)
        conv3d = projection.proj[1]  # type: ignore[index]
        assert isinstance(conv3d, nn.Conv3d)
        frames = x.shape[2] if x.ndim == 5 else 1
        if x.ndim not in (4, 5) or frames not in (1, stem.frames):
            raise _shape_error(
                self.tower, f"images (B, 3, H, W) or clips (B, 3, {stem.frames}, H, W)", x.shape
            )
        if frames == 1:
            # An image is a clip of `frames` identical frames, so the temporal kernel can be
            # summed once instead of convolving repeated copies of the image.
            x = x.squeeze(2) if x.ndim == 5 else x
            weight = conv3d.weight.sum(dim=2)  # (C, 3, kh, kw)
            return F.conv2d(x, weight, stride=stem.stride[1:]).unsqueeze(2)
        return F.conv3d(x, conv3d.weight, stride=stem.stride)

    def _positions(self, grid: tuple[int, ...]) -> torch.Tensor:
        """Learned positions (1, N, C); vision resamples them (bicubic) to another patch grid."""
        table = self.pos_embedding_helper.pos_embed
        if grid == self.grid:
            return table
        if self.tower != "vision" or grid[0] != 1:
            raise ValueError(
                f"{self.tower}: input of shape {self.input_shape} expected "
                f"(patch grid {self.grid}, got {grid})"
            )
        cls_pos, patch_pos = table[:, :1], table[:, 1:]
        h, w = self.grid[1:]
        C = table.shape[-1]
        square = patch_pos.reshape(1, h, w, C).permute(0, 3, 1, 2)  # (1, C, h, w)
        target = grid[1:]
        if target[0] == target[1] and h == w:
            # the reference passes a scale factor; doing the same gives identical weights
            scale = math.sqrt(target[0] * target[1] / (h * w))
            resized = F.interpolate(square.float(), scale_factor=scale, mode="bicubic")
        else:
            resized = F.interpolate(square.float(), size=target, mode="bicubic")
        resized = resized.to(table.dtype).permute(0, 2, 3, 1).reshape(1, -1, C)
        return torch.cat((cls_pos, resized), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.cls_token.dtype)  # lets a bf16 copy of the model take fp32 inputs
        patches = self._patches(x)  # (B, C, *grid)
        grid = tuple(patches.shape[2:])
        tokens = patches.flatten(2).transpose(1, 2)  # (B, N-1, C)
        norm = self.projection.norm_layer
        if norm is not None:
            tokens = norm(tokens)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat((cls, tokens), dim=1) + self._positions(grid)  # (B, N, C)


class TextTokenizer(nn.Module):
    """Token ids (B, 77) -> embeddings + positions. `mask` is the checkpoint's causal mask."""

    def __init__(self, tower: TowerConfig) -> None:
        super().__init__()
        stem = tower.stem
        assert isinstance(stem, TokenStem)
        self.context_length = stem.context_length
        # from an empty table: nn.Embedding's own init (normal_) imports torch._dynamo on the
        # meta device, which would add seconds to every cold start
        table = torch.empty(stem.vocab_size, tower.width)
        self.token_embedding = nn.Embedding.from_pretrained(table, freeze=False)
        self.pos_embed = nn.Parameter(torch.empty(1, stem.context_length, tower.width))
        # Kept so the checkpoint loads strictly; attention uses `is_causal`, which is the same.
        self.register_buffer("mask", torch.empty(stem.context_length, stem.context_length))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.ndim != 2 or ids.shape[1] != self.context_length:
            raise _shape_error("text", f"token ids (B, {self.context_length})", ids.shape)
        if ids.dtype.is_floating_point:
            raise ValueError(f"text: expected integer token ids, got {ids.dtype}")
        return self.token_embedding(ids) + self.pos_embed  # (B, 77, C)


class ImuTokenizer(nn.Module):
    """IMU (B, 6, 2000) -> windows of 8 samples (B, 250, 48) -> Linear -> LayerNorm -> tokens."""

    def __init__(self, tower: TowerConfig) -> None:
        super().__init__()
        stem = tower.stem
        assert isinstance(stem, ImuStem)
        self.stem = stem
        self.input_shape = tower.input_shape
        width = tower.width
        self.imu_stem = PatchProjection(
            nn.Linear(stem.channels * stem.window, width, bias=False), width, norm=True
        )
        self.pos_embed = nn.Parameter(torch.empty(1, tower.num_tokens, width))
        self.cls_token = nn.Parameter(torch.empty(1, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            raise _shape_error("imu", f"(B, {', '.join(map(str, self.input_shape))})", x.shape)
        x = x.to(self.cls_token.dtype)
        B, channels, samples = x.shape
        window = self.stem.window
        # (B, 6, 2000) -> (B, 6, 250, 8) -> (B, 250, 6, 8) -> (B, 250, 48): channel-major windows
        windows = x.view(B, channels, samples // window, window).transpose(1, 2)
        windows = windows.reshape(B, samples // window, channels * window)
        norm = self.imu_stem.norm_layer
        assert norm is not None
        tokens = norm(self.imu_stem.proj(windows))  # a module call, so int8 swaps apply
        cls = self.cls_token.expand(B, -1, -1)
        return torch.cat((cls, tokens), dim=1) + self.pos_embed  # (B, 251, C)


def make_tokenizer(tower: TowerConfig) -> nn.Module:
    if isinstance(tower.stem, TokenStem):
        return TextTokenizer(tower)
    if isinstance(tower.stem, ImuStem):
        return ImuTokenizer(tower)
    return PatchTokenizer(tower)
