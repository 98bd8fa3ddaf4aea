"""IMU windows: 400 Hz, (6, 2000) each, padding and tail policy, soxr resampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from binding.io.imu import ImuRecording
from binding.preprocess.imu import IMU_RATE, IMU_WINDOW, imu_windows, resample_imu


def ramp(steps: int, rate: float = IMU_RATE, start_s: float = 0.0) -> ImuRecording:
    t = np.arange(steps, dtype=np.float32)
    return ImuRecording(np.stack([t + 10_000 * c for c in range(6)]), rate, "ramp.csv", start_s)


def test_short_recording_is_one_padded_window() -> None:
    windows = imu_windows(ramp(1200))  # 3 s
    assert len(windows) == 1
    start, end, window = windows[0]
    assert (start, end) == (0.0, 3.0) and window.shape == (6, IMU_WINDOW)
    assert window.dtype == torch.float32
    torch.testing.assert_close(window[:, :1200], torch.from_numpy(ramp(1200).samples))
    assert torch.all(window[:, 1200:] == 0)


def test_exactly_five_seconds_is_one_full_window() -> None:
    windows = imu_windows(ramp(2000, start_s=12.5))
    assert [(s, e) for s, e, _ in windows] == [(12.5, 17.5)]


def test_long_recording_is_cut_back_to_back_with_a_padded_tail() -> None:
    windows = imu_windows(ramp(2000 * 3 + 800))  # 17 s: three full windows and 2 s more
    assert [(s, e) for s, e, _ in windows] == [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 17.0)]
    assert windows[1][2][0, 0] == 2000 and torch.all(windows[3][2][:, 800:] == 0)
    # a tail under 0.5 s is dropped
    assert len(imu_windows(ramp(4000 + 150))) == 2


def test_hop_makes_overlapping_windows() -> None:
    windows = imu_windows(ramp(5000), hop=1000)
    assert [s for s, _, _ in windows] == [0.0, 2.5, 5.0, 7.5]
    assert all(w.shape == (6, 2000) for _, _, w in windows)
    with pytest.raises(ValueError, match="hop"):
        imu_windows(ramp(5000), hop=0)


def test_other_rates_are_resampled_to_400_hz() -> None:
    t = np.arange(1000) / 100.0  # 10 s at 100 Hz
    slow = np.stack([np.sin(2 * np.pi * 1.0 * t)] * 6).astype(np.float32)
    recording = resample_imu(ImuRecording(slow, 100.0, "slow.csv", 2.0))
    assert recording.sample_rate == 400 and recording.samples.shape == (6, 4000)
    assert recording.start_s == 2.0 and recording.samples.dtype == np.float32
    expected = np.sin(2 * np.pi * 1.0 * np.arange(4000) / 400.0)
    np.testing.assert_allclose(recording.samples[0, 100:-100], expected[100:-100], atol=1e-3)
    windows = imu_windows(ImuRecording(slow, 100.0))
    assert len(windows) == 2 and windows[-1][1] == pytest.approx(10.0)
    same = ramp(10)
    assert resample_imu(same) is same
