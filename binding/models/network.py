"""`ImageBind`: our implementation of the ImageBind network, loadable from its checkpoint.

Each tower runs: tokenizer (`modality_preprocessors`) -> transformer (`modality_trunks`)
-> LayerNorm + Linear on one token (`modality_heads`) -> L2-normalise and scale
(`modality_postprocessors`). `state_dict()` has exactly the keys and shapes of the
reference model's, for whichever towers were built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from binding.models.blocks import Trunk
from binding.models.registry import MAX_LOGIT_SCALE, TRUNK_LN_EPS, ArchConfig, TowerConfig
from binding.models.stems import make_tokenizer


class Head(nn.Sequential):
    """LayerNorm -> Linear (no bias) on the pooled token: (B, C) -> (B, E).

    Laid out as the reference's `Sequential(LayerNorm, select-token, [Dropout,] Linear)`,
    whose weightless slots keep the checkpoint's indices (`0.*`, `2.weight`/`3.weight`).
    """

    def __init__(self, tower: TowerConfig, embed_dim: int) -> None:
        layers: list[nn.Module] = [nn.LayerNorm(tower.width, eps=TRUNK_LN_EPS), nn.Identity()]
        if tower.head_dropout:
            layers.append(nn.Dropout(tower.head_dropout))
        layers.append(nn.Linear(tower.width, embed_dim, bias=False))
        super().__init__(*layers)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self[-1](self[0](pooled))


class TextHead(nn.Module):
    """The text tower's head: `proj = Sequential(LayerNorm, Linear)` on the end-of-text token."""

    def __init__(self, tower: TowerConfig, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.LayerNorm(tower.width, eps=TRUNK_LN_EPS),
            nn.Linear(tower.width, embed_dim, bias=False),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(pooled)


class Normalize(nn.Module):
    """L2-normalise the last dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)


class LogitScale(nn.Module):
    """Multiply by exp(`log_logit_scale`), clipped at 100; learnable (text) or a fixed buffer."""

    def __init__(self, learnable: bool) -> None:
        super().__init__()
        if learnable:
            self.log_logit_scale = nn.Parameter(torch.empty(()))
        else:
            self.register_buffer("log_logit_scale", torch.empty(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.log_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        return x * scale.to(x.dtype)


def _postprocessor(tower: TowerConfig) -> nn.Module:
    if tower.logit_scale is None:
        return Normalize()
    # checkpoint key: `1.log_logit_scale`
    return nn.Sequential(Normalize(), LogitScale(tower.learnable_scale))


def tower_prefixes(modality: str) -> tuple[str, ...]:
    """State-dict key prefixes that hold one tower's weights."""
    return tuple(
        f"modality_{part}.{modality}."
        for part in ("preprocessors", "trunks", "heads", "postprocessors")
    )


class ImageBind(nn.Module):
    """ImageBind-compatible network over a subset of its towers.

    `forward({tower: input})` returns what the reference returns: per tower, the L2-normalised
    embedding times the tower's scale (vision 1, text learned, audio 20, thermal 10,
    depth 5, IMU 5). Inputs with 5 or more dimensions are `(B, S, ...)` clips, embedded
    one by one and averaged over S. `embed(tower, x, normalize=True)` gives unit vectors.
    """

    def __init__(self, arch: ArchConfig, modalities: Iterable[str] | None = None) -> None:
        super().__init__()
        self.arch = arch
        names = arch.modalities if modalities is None else tuple(dict.fromkeys(modalities))
        towers = [arch.tower(name) for name in names]  # ValueError for unknown towers
        towers.sort(key=lambda t: arch.modalities.index(t.name))
        self.modality_preprocessors = nn.ModuleDict({t.name: make_tokenizer(t) for t in towers})
        self.modality_trunks = nn.ModuleDict({t.name: Trunk(t) for t in towers})
        self.modality_heads = nn.ModuleDict(
            {
                t.name: TextHead(t, arch.embed_dim)
                if t.pooling == "eot"
                else Head(t, arch.embed_dim)
                for t in towers
            }
        )
        self.modality_postprocessors = nn.ModuleDict({t.name: _postprocessor(t) for t in towers})

    @property
    def modalities(self) -> tuple[str, ...]:
        """The towers this network was built with, in checkpoint order."""
        return tuple(self.modality_trunks.keys())

    @property
    def embed_dim(self) -> int:
        return self.arch.embed_dim

    def _tower(self, modality: str) -> nn.Module:
        if modality not in self.modality_trunks:
            raise ValueError(
                f"this network has no {modality!r} tower; it was built with: "
                f"{', '.join(self.modalities)}"
            )
        return self.modality_trunks[modality]

    def embed_items(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Scaled embeddings of single items, never read as clips: (B, ...) -> (B, E).

        For one video clip per item, `(B, 3, 2, H, W)`, which `embed` would read as clips.
        """
        trunk = self._tower(modality)
        tokens = self.modality_preprocessors[modality](x)  # (B, N, C)
        if self.arch.tower(modality).pooling == "eot":
            index = x.argmax(dim=-1)  # end-of-text has the highest id (49407)
        else:
            index = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)  # class token
        pooled = trunk(tokens, index)  # (B, C)
        embedding = self.modality_heads[modality](pooled)  # (B, E)
        return self.modality_postprocessors[modality](embedding)

    def embed(self, modality: str, x: torch.Tensor, *, normalize: bool = False) -> torch.Tensor:
        """Embeddings (B, E) of one tower's input batch.

        `normalize=False` gives the reference's output (unit vector times the tower's
        scale; clips averaged after scaling); `normalize=True` gives unit vectors.
        """
        self._tower(modality)
        clips = x.ndim >= 5  # (B, S, ...) clips, as the reference decides
        if clips:
            B, S = x.shape[:2]
            x = x.reshape(B * S, *x.shape[2:])
        out = self.embed_items(modality, x)
        if clips:
            out = out.view(B, S, -1).mean(dim=1)
        return F.normalize(out, dim=-1) if normalize else out

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Reference semantics: `{tower: input}` -> `{tower: scaled embedding (B, E)}`."""
        return {modality: self.embed(modality, x) for modality, x in inputs.items()}

    def expected_shapes(self) -> dict[str, torch.Size]:
        """Key -> shape of every tensor a checkpoint must provide for the built towers."""
        return {key: value.shape for key, value in self.state_dict(keep_vars=True).items()}
