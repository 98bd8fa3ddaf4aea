"""IMU preprocessing: 400 Hz, cut into 5 s windows of (6, 2000) samples.

ImageBind's IMU tower takes (6, 2000): 5 s at 400 Hz, accelerometer x, y, z then gyroscope
x, y, z (imagebind.md; no reference loader exists). Units and normalisation are not
published: values pass through unchanged, in the units `binding.io.imu` expects (m/s^2 and
rad/s, as Ego4D).

- Resampling uses soxr (band-limited, like audio): a 1 kHz IMU carries vibration above
  200 Hz that linear interpolation would fold into the band the model sees.
- A recording of at most 5 s gives one window, zero-padded at the end.
- A longer one gives a window every `hop` samples (default 2000: back to back). The last,
  partial window is zero-padded if it holds at least `MIN_IMU_SECONDS` (0.5 s) of data and
  dropped otherwise, so no stretch longer than that goes unembedded and no window is mostly
  padding. Zero padding is what the audio path does too; note that an accelerometer at rest
  reads ~9.8 m/s^2, so padded windows embed a fall to zero.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from binding.io.imu import MIN_IMU_SECONDS, ImuRecording
from binding.models.registry import PREPROCESS

# imagebind.md: IMU input (6, 2000) = 5 s at 400 Hz
IMU_RATE = PREPROCESS.imu_rate
IMU_WINDOW = PREPROCESS.imu_window
IMU_WINDOW_S = IMU_WINDOW / IMU_RATE


def resample_imu(recording: ImuRecording, rate: float = IMU_RATE) -> ImuRecording:
    """The recording at `rate` Hz (soxr, high quality); unchanged if already there."""
    if recording.sample_rate == rate:
        return recording
    out = soxr.resample(
        np.ascontiguousarray(recording.samples.T, dtype=np.float64),
        recording.sample_rate,
        rate,
        quality="HQ",
    )  # (T', 6)
    samples = np.ascontiguousarray(np.asarray(out).T, dtype=np.float32)  # (6, T')
    return ImuRecording(samples, float(rate), recording.source, recording.start_s)


def imu_windows(
    recording: ImuRecording, hop: int | None = None
) -> list[tuple[float, float, torch.Tensor]]:
    """(start_s, end_s, window) for each 5 s window; window is (6, 2000) float32.

    Times are in the recording's clock (`start_s` onwards) and cover real data only (a padded
    window ends where the data ends). `hop` is the step between windows in 400 Hz samples
    (default 2000, no overlap).
    """
    hop = IMU_WINDOW if hop is None else int(hop)
    if hop < 1:
        raise ValueError(f"hop must be at least 1 sample, got {hop}")
    samples = torch.from_numpy(resample_imu(recording).samples)  # (6, T)
    total = samples.shape[1]
    starts = [0] if total <= IMU_WINDOW else list(range(0, total - IMU_WINDOW + 1, hop))
    tail_start = starts[-1] + hop
    uncovered = total - max(tail_start, starts[-1] + IMU_WINDOW)  # data no window holds yet
    if total > IMU_WINDOW and tail_start < total and uncovered >= MIN_IMU_SECONDS * IMU_RATE:
        starts.append(tail_start)
    windows = []
    for start in starts:
        piece = samples[:, start : start + IMU_WINDOW]
        end = start + piece.shape[1]
        if piece.shape[1] < IMU_WINDOW:
            piece = torch.nn.functional.pad(piece, (0, IMU_WINDOW - piece.shape[1]))
        windows.append(
            (
                recording.start_s + start / IMU_RATE,
                recording.start_s + end / IMU_RATE,
                piece.contiguous(),  # (6, 2000)
            )
        )
    return windows
