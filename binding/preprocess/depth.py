"""Depth preprocessing: metres -> disparity -> ImageBind's depth tower input, (1, 224, 224).

The reference has no depth loader. ImageBind trained its depth tower on SUN RGB-D disparity
maps prepared as Omnivore did; those who reproduced its published depth numbers (see
facebookresearch/ImageBind#134, omnivore#12, LanguageBind's depth processor) use:

1. depth in metres, clamped to [0.01, 75] m;
2. disparity = baseline * focal / depth (Kinect baseline 0.075 m, focal in pixels);
3. disparity clamped to [0.01, 75] and divided by 75 (Omnivore's `DepthNorm(max_depth=75,
   clamp_max_before_scale=True)`);
4. short side to 224 and centre crop 224;
5. (x - 0.0418) / 0.0295 (Omnivore's statistics for this channel).

Our choices where the recipe is silent:
- Pixels with depth <= 0 carry no measurement (sensors write 0 there). They are set to the
  far limit (75 m, disparity ~0.5, i.e. "far away") instead of being clamped to 0.01 m, which
  would make every hole look like the nearest possible surface (the brightest value).
- The resize is bilinear on the float map (antialiased when shrinking), never through 8-bit.
- `focal` should be the camera's focal length in pixels at the map's resolution; the NYU
  Kinect value is the default because NYU/SUN RGB-D maps are what the tower saw.
"""

from __future__ import annotations

import numpy as np
import torch

from binding.errors import InputError
from binding.io.depth import DepthMap
from binding.models.registry import PREPROCESS
from binding.preprocess.image import resize_center_crop

# Kinect v1 stereo baseline, metres (Omnivore's SUN RGB-D conversion, omnivore#12)
KINECT_BASELINE_M = 0.075
# NYU Depth v2 colour camera focal length fx, pixels (NYU toolbox camera_params.m)
NYU_FOCAL_PX = 518.857901
# Depth clamp before the conversion, metres (imagebind.md; Omnivore's min_depth 0.01)
MIN_DEPTH_M = 0.01
MAX_DEPTH_M = 75.0
# Disparity clamp and scale (Omnivore DepthNorm: min_depth 0.01, max_depth 75)
MIN_DISPARITY = 0.01
MAX_DISPARITY = 75.0
# Normalisation of disparity / 75 (Omnivore RGBD Normalize, 4th channel)
DEPTH_MEAN = PREPROCESS.depth_mean
DEPTH_STD = PREPROCESS.depth_std


def depth_to_disparity(
    depth_m: np.ndarray, *, baseline: float = KINECT_BASELINE_M, focal: float = NYU_FOCAL_PX
) -> np.ndarray:
    """Depth in metres -> disparity (H, W) float32; depth <= 0 (no measurement) counts as far."""
    depth = np.where(depth_m > 0, depth_m, MAX_DEPTH_M).astype(np.float32)
    depth = np.clip(depth, MIN_DEPTH_M, MAX_DEPTH_M)
    return (np.float32(baseline * focal) / depth).astype(np.float32)


def preprocess_depth(
    depth: DepthMap | np.ndarray,
    *,
    baseline: float = KINECT_BASELINE_M,
    focal: float = NYU_FOCAL_PX,
    is_disparity: bool | None = None,
) -> torch.Tensor:
    """A depth map -> the depth tower's input, (1, 224, 224) float32.

    `depth` is a `DepthMap` (from `binding.io.depth.decode_depth`) or a 2-D array in metres.
    `is_disparity` overrides what the input says it is (a `DepthMap` knows; an array is
    metres unless this is True). `baseline` (metres) and `focal` (pixels) are the camera's.
    """
    if isinstance(depth, DepthMap):
        values = depth.values
        disparity_input = depth.is_disparity if is_disparity is None else is_disparity
    else:
        values = np.asarray(depth)
        disparity_input = bool(is_disparity)
    if values.ndim != 2 or values.size == 0:
        raise InputError("<depth>", f"expected a 2-D depth map (H, W), got shape {values.shape}")
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all():
        raise InputError("<depth>", "depth values must be finite numbers (write 0 for no data)")
    if baseline <= 0 or focal <= 0:
        raise ValueError(f"baseline and focal must be positive, got {baseline}, {focal}")
    if disparity_input:
        disparity = values.astype(np.float32)
    else:
        disparity = depth_to_disparity(values, baseline=baseline, focal=focal)
    scaled = np.clip(disparity, MIN_DISPARITY, MAX_DISPARITY) / np.float32(MAX_DISPARITY)
    plane = resize_center_crop(scaled, mode="bilinear")  # (224, 224)
    return ((plane - DEPTH_MEAN) / DEPTH_STD).unsqueeze(0)  # (1, 224, 224)
