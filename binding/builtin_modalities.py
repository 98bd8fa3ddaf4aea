"""The seven built-in modalities, each described once by its `ModalitySpec`.

Decoders and preprocessing live in `binding.io` and `binding.preprocess`; the callables
here import them on first use, so naming a modality never loads torch or FFmpeg. Item
shapes are the base network's preprocessing config (`binding.models.registry.PREPROCESS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binding.modality import Expansion, ModalitySpec, register_modality
from binding.models.registry import PREPROCESS

if TYPE_CHECKING:
    import torch

    from binding.config import Settings


# -- text -----------------------------------------------------------------------------------


def _prepare_texts(items: Sequence[Any]) -> list[torch.Tensor]:
    from binding.errors import InputError
    from binding.inputs import describe
    from binding.preprocess.text import tokenize

    for item in items:
        if not isinstance(item, str):
            raise InputError(describe(item), "a text input must be a string")
    return list(tokenize(list(items)).unsqueeze(1))


def _expand_text(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.ingest.expand import expand_text

    return expand_text(path, label, settings)


# -- image, depth, thermal ------------------------------------------------------------------


def _decode_image(source: Any, *, name: str | None = None) -> Any:
    from binding.io.image import decode_image

    return decode_image(source, name=name)


def _preprocess_image(image: Any) -> torch.Tensor:
    from binding.preprocess.image import preprocess_image

    return preprocess_image(image).unsqueeze(0)


def _decode_depth(source: Any, *, name: str | None = None) -> Any:
    from binding.io.depth import decode_depth

    return decode_depth(source, name=name)


def _preprocess_depth(depth: Any) -> torch.Tensor:
    from binding.preprocess.depth import preprocess_depth

    return preprocess_depth(depth).unsqueeze(0)


def _decode_thermal(source: Any, *, name: str | None = None) -> Any:
    from binding.io.thermal import decode_thermal

    return decode_thermal(source, name=name)


def _preprocess_thermal(frame: Any) -> torch.Tensor:
    from binding.preprocess.thermal import preprocess_thermal

    return preprocess_thermal(frame).unsqueeze(0)


def _picture_facts(decoded: Any) -> dict[str, Any]:
    from binding.ingest.expand import picture_facts

    return picture_facts(decoded)


# -- video ----------------------------------------------------------------------------------


def _video_clips(source: Any) -> torch.Tensor:
    from binding.preprocess.video import video_clips

    return video_clips(source)


def _expand_video(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.ingest.expand import expand_video

    return expand_video(path, label, settings)


# -- audio ----------------------------------------------------------------------------------


def _decode_audio(source: Any, *, name: str | None = None) -> Any:
    from binding.io.audio import decode_audio

    return decode_audio(source, name=name)


def _preprocess_audio(audio: Any) -> torch.Tensor:
    from binding.preprocess.audio import preprocess_audio

    return preprocess_audio(audio)


def _expand_audio(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.ingest.expand import expand_audio

    return expand_audio(path, label, settings)


# -- IMU ------------------------------------------------------------------------------------


def _decode_imu(source: Any, *, name: str | None = None) -> Any:
    from binding.io.imu import decode_imu

    return decode_imu(source, name=name)


def _imu_windows(recording: Any) -> torch.Tensor:
    import torch

    from binding.preprocess.imu import imu_windows

    return torch.stack([window for _, _, window in imu_windows(recording)])


def _expand_imu(path: Path, label: str, settings: Settings) -> Expansion:
    from binding.ingest.expand import expand_imu

    return expand_imu(path, label, settings)


_PICTURE = frozenset({"image", "array"})  # what a depth/ or thermal/ folder may claim

BUILTIN_SPECS: tuple[ModalitySpec, ...] = (
    ModalitySpec(
        name="text",
        network_input="text",
        item_shape=PREPROCESS.text_shape,
        preview="text",
        prepare_batch=_prepare_texts,
        expand=_expand_text,
        suffixes=(".txt",),
        payload_fields=("characters",),
        description="UTF-8 text, CLIP's BPE tokens",
        builtin=True,
    ),
    ModalitySpec(
        name="image",
        media_categories=frozenset({"image"}),
        network_input="vision",
        item_shape=PREPROCESS.image_shape,
        preview="image",
        decode=_decode_image,
        preprocess=_preprocess_image,
        facts=_picture_facts,
        suffixes=(".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic"),
        payload_fields=("width", "height"),
        description="pictures (Pillow)",
        builtin=True,
    ),
    ModalitySpec(
        name="video",
        media_categories=frozenset({"video"}),
        network_input="vision",
        item_shape=PREPROCESS.video_shape,
        preview="video",
        preprocess=_video_clips,
        expand=_expand_video,
        suffixes=(".mp4", ".mov", ".webm", ".mkv", ".avi", ".3gp", ".ogv"),
        payload_fields=("duration", "width", "height", "fps", "frames"),
        description="video files (PyAV): clips of two frames",
        builtin=True,
    ),
    ModalitySpec(
        name="audio",
        media_categories=frozenset({"audio"}),
        network_input="audio",
        item_shape=PREPROCESS.audio_shape,
        preview="audio",
        decode=_decode_audio,
        preprocess=_preprocess_audio,
        expand=_expand_audio,
        suffixes=(".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".aiff"),
        payload_fields=("duration", "sample_rate", "channels"),
        description="audio files: log-mel filter banks of 2 s clips",
        builtin=True,
    ),
    ModalitySpec(
        name="depth",
        network_input="depth",
        item_shape=PREPROCESS.map_shape,
        preview="heat-map",
        decode=_decode_depth,
        preprocess=_preprocess_depth,
        facts=_picture_facts,
        folder_names=("depth",),
        folder_categories=_PICTURE,
        payload_fields=("width", "height"),
        description="depth maps (16-bit PNG/TIFF, .npy), as disparity",
        builtin=True,
    ),
    ModalitySpec(
        name="thermal",
        network_input="thermal",
        item_shape=PREPROCESS.map_shape,
        preview="heat-map",
        decode=_decode_thermal,
        preprocess=_preprocess_thermal,
        facts=_picture_facts,
        folder_names=("thermal",),
        folder_categories=_PICTURE,
        payload_fields=("width", "height"),
        description="thermal frames (8/16-bit PNG/TIFF, .npy)",
        builtin=True,
    ),
    ModalitySpec(
        name="imu",
        network_input="imu",
        item_shape=PREPROCESS.imu_shape,
        preview="line-plot",
        decode=_decode_imu,
        preprocess=_imu_windows,
        expand=_expand_imu,
        suffixes=(".csv", ".npy"),
        payload_fields=("duration", "sample_rate", "samples"),
        description="accelerometer + gyroscope recordings (CSV, .npy): 5 s windows at 400 Hz",
        builtin=True,
    ),
)

for _spec in BUILTIN_SPECS:
    register_modality(_spec)
