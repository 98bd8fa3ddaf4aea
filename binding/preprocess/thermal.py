"""Thermal preprocessing: a [0, 1] frame -> ImageBind's thermal tower input, (1, 224, 224).

The reference has no thermal loader; the paper feeds the single-channel frame as the sensor
returns it. Short side to 224 (bicubic, on the float frame, antialiased when shrinking),
centre crop 224, values kept in [0, 1] (bicubic overshoot at edges is clipped).

No normalisation by default: a community evaluation on LLVIP scored 62.4% without CLIP
normalisation and 55.2% with it (the paper reports 63.4%). Pass `normalize=(mean, std)` to
apply `(x - mean) / std` anyway, e.g. `(CLIP_MEAN[0], CLIP_STD[0])`.
"""

from __future__ import annotations

import numpy as np
import torch

from binding.errors import InputError
from binding.preprocess.image import resize_center_crop


def preprocess_thermal(
    frame: np.ndarray, *, normalize: tuple[float, float] | None = None
) -> torch.Tensor:
    """A (H, W) float frame in [0, 1] -> the thermal tower's input, (1, 224, 224) float32.

    Decode files with `binding.io.thermal.decode_thermal`, which returns such a frame.
    """
    values = np.asarray(frame)
    if values.ndim != 2 or values.size == 0:
        raise InputError("<thermal>", f"expected a 2-D frame (H, W), got shape {values.shape}")
    if values.dtype.kind != "f":
        raise InputError("<thermal>", f"expected float values in [0, 1], got dtype {values.dtype}")
    if not np.isfinite(values).all():
        raise InputError("<thermal>", "thermal frame has NaN or infinite values")
    if values.min() < 0 or values.max() > 1:
        raise InputError(
            "<thermal>",
            f"values must be in [0, 1], got [{values.min():g}, {values.max():g}]; "
            "decode_thermal scales frames",
        )
    plane = resize_center_crop(values, mode="bicubic").clamp_(0.0, 1.0)  # (224, 224)
    if normalize is not None:
        mean, std = normalize
        if std <= 0:
            raise ValueError(f"normalize std must be positive, got {std}")
        plane = (plane - mean) / std
    return plane.unsqueeze(0)  # (1, 224, 224)
