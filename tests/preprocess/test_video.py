"""Video preprocessing against the reference's frame sampling and transforms.

Fixtures come from `tools/fbank_fixtures.py`, which runs ImageBind's `data.py` transforms
and pinned pytorchvideo's clip sampler, decord clip arithmetic and `UniformTemporalSubsample`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from binding.errors import InputError
from binding.preprocess.image import CLIP_MEAN, CLIP_STD
from binding.preprocess.video import (
    clip_frame_indices,
    clip_times,
    preprocess_video,
    video_clips,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TIMEPOINTS = json.loads((FIXTURES / "audio" / "clip_timepoints.json").read_text())
TRANSFORM = np.load(FIXTURES / "video" / "transform_reference.npz")
PIXEL_STRIDE = 9  # tools/fbank_fixtures.py keeps every 9th pixel of the reference output


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Small tensors: on a shared, loaded CPU, OpenMP threads only wait for each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def video_frames(height: int, width: int, frames: int, offset: int) -> list[np.ndarray]:
    """The tool's deterministic frames (integer arithmetic only)."""
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        channels = [(x * 3 + y * 5 + t * 17 + c * 50 + offset) % 256 for c in range(3)]
        channels[1] = (channels[1] * 7 + (x // 8 + y // 8) * 31) % 256
        out.append(np.stack(channels, axis=-1).astype(np.uint8))
    return out


def test_frame_indices_match_the_reference() -> None:
    for case in TIMEPOINTS["video"]:
        assert clip_frame_indices(case["frame_count"], case["fps"]) == case["indices"], case


@pytest.mark.parametrize("case", ["landscape_90x160", "portrait_120x68", "square_50x50"])
def test_transform_matches_the_reference(case: str) -> None:
    height, width, offset = (int(v) for v in TRANSFORM[f"{case}/shape"])
    frames = video_frames(height, width, 4, offset)
    ours = preprocess_video([frames[:2], frames[2:]])
    assert ours.shape == (6, 3, 2, 224, 224)
    strided = ours[..., ::PIXEL_STRIDE, ::PIXEL_STRIDE].numpy()
    error = float(np.abs(strided - TRANSFORM[f"{case}/strided"]).max())
    print(f"video transform {case}: max abs error {error:.3g}")
    assert error < 1e-5
    sums = ours.double().sum(dim=(1, 2, 3, 4)).numpy()
    np.testing.assert_allclose(sums, TRANSFORM[f"{case}/crop_sums"], rtol=1e-6, atol=1e-2)


def test_fifteen_clips_from_five_windows() -> None:
    frames = video_frames(48, 64, 10, 0)
    clips = [frames[i : i + 2] for i in range(0, 10, 2)]
    out = preprocess_video(clips)
    assert out.shape == (15, 3, 2, 224, 224) and out.dtype == torch.float32


def test_crops_follow_orientation() -> None:
    # A landscape frame whose columns are numbered: left, centre, right crops see
    # the left edge, the middle and the right edge.
    width, height = 448, 224
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8)[None, :, None], (height, 1, 3))
    out = preprocess_video([[ramp, ramp]])  # (3, 3, 2, 224, 224)
    red = out[:, 0, 0] * CLIP_STD[0] + CLIP_MEAN[0]  # back to [0, 1]
    assert red[0, :, 0].mean() < 0.01 and red[2, :, -1].mean() > 0.99
    assert abs(red[1, :, 112].mean() - 0.5) < 0.01
    # portrait: top, centre, bottom
    column = np.tile(np.linspace(0, 255, 448).astype(np.uint8)[:, None, None], (1, 224, 3))
    out = preprocess_video([[column, column]])
    red = out[:, 0, 0] * CLIP_STD[0] + CLIP_MEAN[0]
    assert red[0, 0].mean() < 0.01 and red[2, -1].mean() > 0.99


def test_clip_times() -> None:
    # with fps: the times of exactly the frames the reference reads
    times = clip_times(6.0, fps=25.0)
    assert times == [[i / 25.0 for i in clip] for clip in clip_frame_indices(150, 25.0)]
    assert times[0] == [0.0, 49 / 25.0]
    # without: evenly from each window's start to its end, capped at the video's end
    assert clip_times(10.0) == [[0.0, 2.0], [2.0, 4.0], [4.0, 6.0], [6.0, 8.0], [8.0, 10.0]]
    assert clip_times(1.0, clips=2) == [[0.0, 1.0], [0.0, 1.0]]


def test_bad_frames_are_input_errors() -> None:
    with pytest.raises(InputError, match="clip.mp4: a clip has no frames"):
        preprocess_video([[]], source="clip.mp4")
    frame = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(InputError, match="RGB"):
        preprocess_video([[frame, np.zeros((10, 12, 3), np.uint8)]])
    with pytest.raises(InputError, match="too narrow"):
        preprocess_video([[np.zeros((2, 400, 3), np.uint8)] * 2])
    with pytest.raises(ValueError, match="frames and a frame rate"):
        clip_frame_indices(0, 25.0)


def test_video_clips_accepts_frames_too() -> None:
    frames = video_frames(32, 40, 2, 0)
    torch.testing.assert_close(video_clips([frames]), preprocess_video([frames]))
