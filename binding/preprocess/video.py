"""Video preprocessing: five 2 s clips of two frames, three spatial crops each -> (15, 3, 2, 224, 224).

The reference (`load_and_transform_video_data` in ImageBind's `data.py`) cuts five evenly
spaced 2 s clips (`binding.preprocess.clips`), reads each clip's frames with decord through
pytorchvideo (frames ceil(fps * start) .. ceil(fps * end) - 1, capped at the last frame) and
keeps two of them with `UniformTemporalSubsample(2)`: the first and the last. Each clip is
divided by 255, its short side scaled to 224 (`ShortSideScale`: bilinear,
align_corners=False, no antialiasing, long side floor(long / short * 224)), normalised with
CLIP's mean and std, and cut into three 224 x 224 crops: left, centre, right for a landscape
(or square) frame, top, centre, bottom for a portrait one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from binding.errors import InputError
from binding.models.registry import PREPROCESS
from binding.preprocess.clips import clip_windows
from binding.preprocess.image import CLIP_MEAN, CLIP_STD

# data.py load_and_transform_video_data(clip_duration=2)
VIDEO_CLIP_SECONDS = 2
# data.py load_and_transform_video_data(clips_per_video=5)
VIDEO_CLIPS = 5
# data.py UniformTemporalSubsample(num_samples=clip_duration): 2 frames per clip
FRAMES_PER_CLIP = PREPROCESS.frames_per_clip
# data.py ShortSideScale(224) and SpatialCrop(224, num_crops=3)
VIDEO_SIZE = PREPROCESS.image_size
SPATIAL_CROPS = 3
# A frame wider than this ratio would scale to a huge tensor (224 x 224 * ratio per frame)
MAX_ASPECT_RATIO = 20.0


def clip_frame_indices(
    frame_count: int,
    fps: float,
    clips: int = VIDEO_CLIPS,
    clip_duration: float = VIDEO_CLIP_SECONDS,
    frames_per_clip: int = FRAMES_PER_CLIP,
) -> list[list[int]]:
    """Frame indices the reference reads for each clip of a video of `frame_count` frames.

    Duration is frame_count / fps (decord's). Clip frames run from ceil(fps * start) to
    min(ceil(fps * end), frame_count) - 1, and `frames_per_clip` of them are picked evenly
    (torch.linspace, truncated), so 2 frames are the clip's first and last.
    """
    if frame_count <= 0 or not fps > 0:
        raise ValueError(f"a video needs frames and a frame rate, got {frame_count} at {fps} fps")
    indices = []
    for start, end in clip_windows(frame_count / fps, clips, clip_duration):
        first = math.ceil(fps * float(start))
        stop = min(math.ceil(fps * float(end)), frame_count)
        if stop <= first:
            raise ValueError(f"clip [{float(start):.3f}, {float(end):.3f}) s holds no frame")
        picks = torch.linspace(0, stop - first - 1, frames_per_clip).clamp(0, stop - first - 1)
        indices.append([first + int(i) for i in picks.long()])
    return indices


def clip_times(
    duration_s: float,
    clips: int = VIDEO_CLIPS,
    clip_duration: float = VIDEO_CLIP_SECONDS,
    frames_per_clip: int = FRAMES_PER_CLIP,
    *,
    fps: float | None = None,
) -> list[list[float]]:
    """Times (seconds) of the frames taken from each clip.

    With `fps`, the times of exactly the frames the reference reads
    (`clip_frame_indices(round(duration_s * fps), fps)` / fps). Without it, times spread
    evenly from each clip's start to its end (capped at the video's end), which is what
    a frame rate-agnostic caller can ask `Video.read_frames_at` for.
    """
    if fps is not None:
        frame_count = max(round(duration_s * fps), 1)
        return [
            [i / fps for i in clip]
            for clip in clip_frame_indices(frame_count, fps, clips, clip_duration, frames_per_clip)
        ]
    times = []
    for start, end in clip_windows(duration_s, clips, clip_duration):
        stop = min(float(end), duration_s)
        times.append(np.linspace(float(start), stop, frames_per_clip).tolist())
    return times


def _short_side_scale(video: torch.Tensor, size: int) -> torch.Tensor:
    """(C, T, H, W) -> (C, T, H', W') with the short side `size`, as pytorchvideo's ShortSideScale."""
    _, _, height, width = video.shape
    if width < height:
        new_height, new_width = int(math.floor(height / width * size)), size
    else:
        new_height, new_width = size, int(math.floor(width / height * size))
    return torch.nn.functional.interpolate(
        video, size=(new_height, new_width), mode="bilinear", align_corners=False
    )


def _spatial_crops(video: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Three (C, T, size, size) crops: left/centre/right, or top/centre/bottom if portrait."""
    height, width = video.shape[-2:]
    y_centre = math.ceil((height - size) / 2)
    x_centre = math.ceil((width - size) / 2)
    if height > width:
        offsets = [(0, x_centre), (y_centre, x_centre), (height - size, x_centre)]
    else:
        offsets = [(y_centre, 0), (y_centre, x_centre), (y_centre, width - size)]
    return [video[..., y : y + size, x : x + size] for y, x in offsets]


def preprocess_video(
    frames_per_clip: Sequence[Sequence[np.ndarray]], *, source: str | None = None
) -> torch.Tensor:
    """Network input of one video from its clips' frames: (clips * 3, 3, T, 224, 224).

    `frames_per_clip` holds, for each clip, its frames as (H, W, 3) uint8 RGB arrays (all of
    one size); with the reference's 5 clips of 2 frames the result is (15, 3, 2, 224, 224),
    ordered clip by clip, three crops each. `source` names the video in errors.
    """
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1, 1)
    crops = []
    for frames in frames_per_clip:
        if not frames:
            raise InputError(source, "a clip has no frames")
        shapes = {np.shape(frame) for frame in frames}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
            raise InputError(
                source, f"frames must all be (H, W, 3) RGB; got shapes {sorted(shapes)}"
            )
        height, width, _ = next(iter(shapes))
        if min(height, width) < 1 or max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
            raise InputError(source, f"frames of {width}x{height} are too narrow to crop")
        stacked = torch.from_numpy(np.stack([np.asarray(f, dtype=np.uint8) for f in frames]))
        clip = stacked.permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W)
        clip = _short_side_scale(clip, VIDEO_SIZE)
        clip = (clip - mean) / std
        crops.extend(_spatial_crops(clip, VIDEO_SIZE))
    return torch.stack(crops)  # (clips * 3, 3, T, 224, 224)


def video_clips(
    source: Path | str | bytes | Sequence[Sequence[np.ndarray]], *, name: str | None = None
) -> torch.Tensor:
    """Decode a video file (path or bytes) and preprocess it: (15, 3, 2, 224, 224).

    The one convenience here that reads a file (through `binding.io.video`); pass the clips'
    frames instead to stay pure.
    """
    if not isinstance(source, Path | str | bytes | bytearray | memoryview):
        return preprocess_video(source, source=name)
    from binding.io.video import decode_video

    if isinstance(source, bytearray | memoryview):
        source = bytes(source)
    with decode_video(source, name=name) as video:
        indices = clip_frame_indices(video.info.frame_count, video.info.fps)
        return preprocess_video(video.read_clips(indices), source=video.source)
