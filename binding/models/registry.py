"""The model registry: every number that describes a model lives here and nowhere else.

A `ModelSpec` names a model, its architecture (`ArchConfig`, one `TowerConfig` per network
input), its preprocessing (`PreprocessConfig`: input sizes and normalisation constants, which
`binding.preprocess` and the modality specs read) and where its weights come from.
`list_models()` and `get_spec(name)` are the only ways in; the network, the loader and the
CLI read their numbers from the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: The model used when none is named.
DEFAULT_MODEL = "imagebind_huge"

#: Epsilon of the LayerNorms in trunks and heads (reference `transformer.py`, `_LAYER_NORM`).
TRUNK_LN_EPS = 1e-6
#: Epsilon of the LayerNorms after the patch stems (reference: `nn.LayerNorm` default).
STEM_LN_EPS = 1e-5
#: The text tower's learnable scale starts at 1/0.07 and is clipped at 100 (CLIP's values).
TEXT_LOGIT_SCALE_INIT = 1 / 0.07
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class PreprocessConfig:
    """How decoded media become network items for the ImageBind family: the one home of
    the sizes and normalisation constants (`binding.preprocess` reads them from here).

    Values are those of the reference's `data.py` and the ImageBind paper (arXiv
    2305.05665, appendix); the comments name the argument each comes from. Every model's
    tower `input_shape`s must be these shapes (tests/test_modality_spec.py checks each
    registered model), since the preprocessing makes the items the towers read.
    """

    image_size: int = 224  # load_and_transform_vision_data: Resize(224), CenterCrop(224)
    clip_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)  # CLIP
    clip_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    context_length: int = 77  # load_and_transform_text: CLIP's context
    frames_per_clip: int = 2  # video: two-frame clips (the vision stem's time kernel)
    num_mel_bins: int = 128  # load_and_transform_audio_data(num_mel_bins=128)
    audio_frames: int = 204  # load_and_transform_audio_data(target_length=204)
    audio_mean: float = -4.268  # load_and_transform_audio_data(mean=-4.268, std=9.138)
    audio_std: float = 9.138
    depth_mean: float = 0.0418  # Omnivore RGBD Normalize, disparity / 75 (4th channel)
    depth_std: float = 0.0295
    imu_channels: int = 6  # accelerometer xyz, gyroscope xyz
    imu_rate: int = 400  # Hz
    imu_window: int = 2000  # samples: 5 s at 400 Hz

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def video_shape(self) -> tuple[int, int, int, int]:
        return (3, self.frames_per_clip, self.image_size, self.image_size)

    @property
    def text_shape(self) -> tuple[int]:
        return (self.context_length,)

    @property
    def audio_shape(self) -> tuple[int, int, int]:
        return (1, self.num_mel_bins, self.audio_frames)

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """Depth and thermal: one channel at the image size."""
        return (1, self.image_size, self.image_size)

    @property
    def imu_shape(self) -> tuple[int, int]:
        return (self.imu_channels, self.imu_window)


#: The preprocessing of every ImageBind-family model (its weights were trained with it).
PREPROCESS = PreprocessConfig()


class RandomWeightsWarning(UserWarning):
    """A model was built with random weights: its embeddings are meaningless."""


@dataclass(frozen=True)
class PatchStem:
    """Image-like input cut into patches by a convolution without bias.

    `kernel`/`stride` have 3 entries (time, height, width) for the vision tower, whose
    images are repeated to `frames` frames, and 2 entries for spectrograms and maps.
    """

    in_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    norm: bool  # LayerNorm (eps 1e-5) after the patch projection
    frames: int = 1  # vision: an image becomes a clip of this many identical frames


@dataclass(frozen=True)
class TokenStem:
    """Token ids looked up in an embedding table (the text tower)."""

    vocab_size: int
    context_length: int


@dataclass(frozen=True)
class ImuStem:
    """A `[channels, samples]` signal cut into windows of `window` samples, then a Linear."""

    channels: int
    window: int


Stem = PatchStem | TokenStem | ImuStem


@dataclass(frozen=True)
class TowerConfig:
    """One network input's encoder: stem, transformer trunk, head and output scale.

    `input_shape` is one item's shape without the batch dimension. `logit_scale` is the
    factor the unit-normalised output is multiplied by (None: unit vectors, as vision);
    `learnable_scale` stores it as a parameter (text) rather than a fixed buffer.
    """

    name: str
    width: int
    blocks: int
    heads: int
    input_shape: tuple[int, ...]
    stem: Stem
    bias_kv: bool  # learned key/value appended to every sequence
    pre_ln: bool  # LayerNorm before the first block (vision only)
    drop_path: float  # training-time stochastic depth; inert at inference
    logit_scale: float | None
    learnable_scale: bool = False
    head_dropout: float = 0.0  # training-time dropout before the head's Linear (IMU)
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(
                f"tower {self.name}: width {self.width} is not divisible by {self.heads} heads"
            )

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def pooling(self) -> str:
        """`eot`: the text head reads the end-of-text token; `cls`: the others read token 0."""
        return "eot" if isinstance(self.stem, TokenStem) else "cls"

    @property
    def grid(self) -> tuple[int, ...]:
        """Patch layout of the reference input shape (empty for text)."""
        stem = self.stem
        if isinstance(stem, TokenStem):
            return ()
        if isinstance(stem, ImuStem):
            return (self.input_shape[-1] // stem.window,)
        spatial = self.input_shape[-len(stem.kernel) :]
        if len(stem.kernel) == 3:  # vision: (frames, H, W)
            spatial = (stem.frames, *self.input_shape[-2:])
        return tuple(
            (size - k) // s + 1
            for size, k, s in zip(spatial, stem.kernel, stem.stride, strict=True)
        )

    @property
    def num_tokens(self) -> int:
        """Sequence length of the reference input, class token included."""
        if isinstance(self.stem, TokenStem):
            return self.stem.context_length
        return math.prod(self.grid) + 1


@dataclass(frozen=True)
class ArchConfig:
    """A whole ImageBind-style network: its towers and the shared embedding size."""

    embed_dim: int
    towers: tuple[TowerConfig, ...]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.towers)

    def tower(self, name: str) -> TowerConfig:
        for t in self.towers:
            if t.name == name:
                return t
        raise ValueError(f"no tower {name!r}; this model has: {', '.join(self.modalities)}")


@dataclass(frozen=True)
class ModelSpec:
    """A model users can name: architecture plus where its weights come from."""

    name: str
    arch: ArchConfig
    description: str
    license: str
    url: str | None = None
    filename: str | None = None
    size_bytes: int | None = None  # exact size of the download; None when not known
    sha256: str | None = None  # of the download; None when not known
    random_weights_only: bool = False
    preprocess: PreprocessConfig = PREPROCESS  # the loader pairs weights with this
    #: the weights ship inside the package (`binding/models/weights/<filename>`): no download
    packaged: bool = False

    @property
    def embed_dim(self) -> int:
        return self.arch.embed_dim


def imagebind_arch(
    *,
    embed_dim: int,
    vision: tuple[int, int, int],
    text: tuple[int, int, int],
    audio: tuple[int, int, int],
    depth: tuple[int, int, int],
    thermal: tuple[int, int, int],
    imu: tuple[int, int, int],
    audio_drop_path: float = 0.1,
    imu_drop_path: float = 0.7,
    vision_patch: int = 14,
    audio_patch: tuple[int, int] = (16, 10),
    map_patch: int = 16,
    imu_window: int = 8,
) -> ArchConfig:
    """The ImageBind family; each tower is given as (width, blocks, heads).

    Stems, input shapes and scales are those of the reference `ImageBindModel`. The patch
    sizes can be enlarged for small models (shorter sequences) without changing the input
    shapes, so every model shares one preprocessing: `vision_patch` (spatial kernel = stride
    of the (2, p, p) vision stem), `audio_patch` (kernel, stride of the spectrogram stem),
    `map_patch` (kernel = stride for depth and thermal), `imu_window` (samples per token).
    """

    def tower(name: str, size: tuple[int, int, int], **kw: Any) -> TowerConfig:
        width, blocks, heads = size
        return TowerConfig(name=name, width=width, blocks=blocks, heads=heads, **kw)

    towers = (
        tower(
            "vision",
            vision,
            input_shape=(3, 224, 224),
            stem=PatchStem(
                in_channels=3,
                kernel=(2, vision_patch, vision_patch),
                stride=(2, vision_patch, vision_patch),
                norm=False,
                frames=2,
            ),
            bias_kv=False,
            pre_ln=True,
            drop_path=0.0,
            logit_scale=None,
        ),
        tower(
            "text",
            text,
            input_shape=(77,),
            stem=TokenStem(vocab_size=49408, context_length=77),
            bias_kv=False,
            pre_ln=False,
            drop_path=0.0,
            logit_scale=TEXT_LOGIT_SCALE_INIT,
            learnable_scale=True,
        ),
        tower(
            "audio",
            audio,
            input_shape=(1, 128, 204),  # 128 mel bins x 204 frames (2 s)
            stem=PatchStem(
                in_channels=1,
                kernel=(audio_patch[0],) * 2,
                stride=(audio_patch[1],) * 2,
                norm=True,
            ),
            bias_kv=True,
            pre_ln=False,
            drop_path=audio_drop_path,
            logit_scale=20.0,
        ),
        tower(
            "depth",
            depth,
            input_shape=(1, 224, 224),
            stem=PatchStem(
                in_channels=1, kernel=(map_patch,) * 2, stride=(map_patch,) * 2, norm=True
            ),
            bias_kv=True,
            pre_ln=False,
            drop_path=0.0,
            logit_scale=5.0,
        ),
        tower(
            "thermal",
            thermal,
            input_shape=(1, 224, 224),
            stem=PatchStem(
                in_channels=1, kernel=(map_patch,) * 2, stride=(map_patch,) * 2, norm=True
            ),
            bias_kv=True,
            pre_ln=False,
            drop_path=0.0,
            logit_scale=10.0,
        ),
        tower(
            "imu",
            imu,
            input_shape=(6, 2000),  # 5 s at 400 Hz: accelerometer xyz, gyroscope xyz
            stem=ImuStem(channels=6, window=imu_window),
            bias_kv=True,
            pre_ln=False,
            drop_path=imu_drop_path,
            logit_scale=5.0,
            head_dropout=0.5,
        ),
    )
    return ArchConfig(embed_dim=embed_dim, towers=towers)


_LICENSE_WEIGHTS = "CC BY-NC-SA 4.0"
#: weights we trained ourselves carry the code's license (pyproject.toml, README "License")
_LICENSE_OURS = "ours, as the code"
#: binding_mini: embedding size and (width, blocks, heads) of every tower
MINI_EMBED_DIM = 64
MINI_TOWER = (64, 2, 4)

_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="imagebind_huge",
            # reference `imagebind_huge()`; the other towers keep the constructor defaults
            arch=imagebind_arch(
                embed_dim=1024,
                vision=(1280, 32, 16),
                text=(1024, 24, 16),
                audio=(768, 12, 12),
                depth=(384, 12, 8),
                thermal=(768, 12, 12),
                imu=(512, 6, 8),
            ),
            description="ImageBind (Meta AI): six modalities in one 1024-d space.",
            license=_LICENSE_WEIGHTS,
            url="https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth",
            filename="imagebind_huge.pth",
            # 1,311 keys, 1,200,786,990 fp32 elements (4,803,147,960 bytes of tensors) plus
            # pickle/zip structure. Meta publishes no hash; size and sha256 are the Git LFS
            # pointer of this file as re-uploaded unchanged to Hugging Face (see docs/models.md).
            size_bytes=4_803_584_173,
            sha256="d6f6c22bedcc90708448d5d2fbb7b2db9c73f505dc89bd0b2e09b23af1b62157",
        ),
        ModelSpec(
            name="imagebind_tiny",
            # a test configuration: the ImageBind layout at width 32, 2 blocks, 2 heads
            arch=imagebind_arch(
                embed_dim=32,
                vision=(32, 2, 2),
                text=(32, 2, 2),
                audio=(32, 2, 2),
                depth=(32, 2, 2),
                thermal=(32, 2, 2),
                imu=(32, 2, 2),
            ),
            description="ImageBind layout at width 32 for tests and smoke runs; random weights only.",
            license="ours, as the code (random weights, no training)",
            random_weights_only=True,
        ),
        ModelSpec(
            name="binding_mini",
            # the ImageBind layout, small and with large patches (short sequences), trained
            # from scratch on the synthetic world of `binding.world` (docs/mini.md)
            arch=imagebind_arch(
                embed_dim=MINI_EMBED_DIM,
                vision=MINI_TOWER,
                text=MINI_TOWER,
                audio=MINI_TOWER,
                depth=MINI_TOWER,
                thermal=MINI_TOWER,
                imu=MINI_TOWER,
                audio_drop_path=0.0,
                imu_drop_path=0.0,
                vision_patch=16,  # 14 x 14 = 196 patches
                audio_patch=(16, 16),  # 8 x 12 = 96 patches
                map_patch=32,  # 7 x 7 = 49 patches
                imu_window=50,  # 40 windows
            ),
            description="ImageBind layout at width 64, trained here on a synthetic world of "
            "coloured shapes (docs/mini.md); knows that world, not real photos.",
            license=_LICENSE_OURS,
            filename="binding_mini.safetensors",
            # scripts/train_mini.sh prints both after assembling; update them when retraining
            size_bytes=8_209_212,
            sha256="ca80873de1aeb10bfb3d15a03b311066a79efbc876aca006c93844dc92b34988",
            packaged=True,
        ),
    )
}


def list_models() -> list[ModelSpec]:
    """Every model that can be built, in registry order."""
    return list(_MODELS.values())


def get_spec(name: str) -> ModelSpec:
    """The spec of the model called `name`; ValueError listing the choices otherwise."""
    try:
        return _MODELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(_MODELS)}") from None
