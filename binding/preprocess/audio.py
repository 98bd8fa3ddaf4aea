"""Audio preprocessing: three 2 s clips as normalised 128-bin Kaldi log-mel filter banks.

The reference (`load_and_transform_audio_data` + `waveform2melspec` in ImageBind's `data.py`)
resamples to 16 kHz, cuts three evenly spaced 2 s clips (see `binding.preprocess.clips`),
subtracts each clip's mean over all its channels, computes Kaldi filter banks on the first
channel with `torchaudio.compliance.kaldi.fbank`, pads or cuts them to 204 frames and
normalises. `fbank` below is our own implementation of exactly the Kaldi settings ImageBind
uses; it matches torchaudio 2.9.1 within 1e-3 (tests/preprocess/test_audio.py).

Resampling differs on purpose: the reference uses torchaudio's windowed-sinc resampler, we use
soxr (a higher-quality band-limited resampler that needs no torchaudio). Inputs already at
16 kHz go through exactly the reference arithmetic.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import soxr
import torch

from binding.errors import InputError
from binding.io.audio import Audio
from binding.models.registry import PREPROCESS
from binding.preprocess.clips import clip_windows

# data.py load_and_transform_audio_data(sample_rate=16000)
AUDIO_SAMPLE_RATE = 16_000
# data.py load_and_transform_audio_data(clip_duration=2)
AUDIO_CLIP_SECONDS = 2
# data.py load_and_transform_audio_data(clips_per_video=3)
AUDIO_CLIPS = 3
# data.py load_and_transform_audio_data(num_mel_bins=128)
NUM_MEL_BINS = PREPROCESS.num_mel_bins
# data.py load_and_transform_audio_data(target_length=204); 2 s give 198 frames, zero-padded
TARGET_FRAMES = PREPROCESS.audio_frames
# data.py load_and_transform_audio_data(mean=-4.268, std=9.138) (AudioSet statistics, from AST)
AUDIO_MEAN = PREPROCESS.audio_mean
AUDIO_STD = PREPROCESS.audio_std

# waveform2melspec: frame_length=25, frame_shift=DEFAULT_AUDIO_FRAME_SHIFT_MS=10 (ms)
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
# Kaldi defaults torchaudio keeps (kaldi.fbank signature): preemphasis_coefficient=0.97,
# low_freq=20, high_freq=0 (= Nyquist), round_to_power_of_two, remove_dc_offset, snip_edges
PREEMPHASIS = 0.97
LOW_FREQ_HZ = 20.0
# Floor before the log: Kaldi's std::numeric_limits<float>::epsilon() (torchaudio's EPSILON)
LOG_FLOOR = float(np.finfo(np.float32).eps)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (HQ): (channels, frames) -> (channels, frames')."""
    if from_rate == to_rate:
        return samples
    out = soxr.resample(np.ascontiguousarray(samples.T), from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)  # (channels, frames')


def _frame_sizes(sample_rate: int) -> tuple[int, int, int]:
    """Samples per frame, per shift, and the FFT size (the frame rounded up to a power of two)."""
    length = int(sample_rate * FRAME_LENGTH_MS * 0.001)
    shift = int(sample_rate * FRAME_SHIFT_MS * 0.001)
    return length, shift, 1 << (length - 1).bit_length()


def _mel(freq_hz: float) -> float:
    return 1127.0 * math.log(1.0 + freq_hz / 700.0)  # HTK mel scale


@lru_cache(maxsize=8)
def mel_filters(sample_rate: int, fft_size: int, num_bins: int = NUM_MEL_BINS) -> torch.Tensor:
    """Kaldi's triangular mel filters: (num_bins, fft_size // 2 + 1), zero at the Nyquist bin.

    Triangles are equally spaced on the HTK mel scale between `LOW_FREQ_HZ` and Nyquist and
    are evaluated in mel (not Hz), as Kaldi's `MelBanks` does. Computed in float32 in the same
    order as Kaldi and torchaudio: in float64 the weights would move by ~1e-5, which a tone
    sitting on a narrow triangle's foot turns into a visible log difference.
    """
    low, high = _mel(LOW_FREQ_HZ), _mel(sample_rate / 2)
    delta = (high - low) / (num_bins + 1)
    index = torch.arange(num_bins, dtype=torch.float32).unsqueeze(1)  # (num_bins, 1)
    left = low + index * delta
    centre = low + (index + 1.0) * delta
    right = low + (index + 2.0) * delta
    fft_hz = (sample_rate / fft_size) * torch.arange(fft_size // 2, dtype=torch.float32)
    fft_mel = (1127.0 * (1.0 + fft_hz / 700.0).log()).unsqueeze(0)  # (1, fft_size // 2)
    rising = (fft_mel - left) / (centre - left)
    falling = (right - fft_mel) / (right - centre)
    weights = torch.clamp_min(torch.minimum(rising, falling), 0.0)  # (num_bins, fft_size // 2)
    return torch.nn.functional.pad(weights, (0, 1))  # the Nyquist bin gets no weight


def fbank(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Kaldi log-mel filter banks with ImageBind's settings: (frames, 128).

    `waveform` is (samples,) or (channels, samples); like Kaldi, only the first channel is
    used. Settings (`waveform2melspec`): 25 ms Hann frames every 10 ms, only frames that fit
    (snip_edges), no dither, each frame's mean removed, pre-emphasis 0.97, FFT of the frame
    zero-padded to a power of two, power spectrum, 128 HTK-mel triangles from 20 Hz to
    Nyquist, log with a floor of float32 epsilon, no energy column.
    Raises ValueError if the waveform is shorter than one frame.
    """
    signal = waveform[0] if waveform.dim() == 2 else waveform  # (samples,)
    if not signal.is_floating_point():
        signal = signal.float()
    length, shift, fft_size = _frame_sizes(sample_rate)
    if signal.numel() < length:
        raise ValueError(
            f"{signal.numel()} samples at {sample_rate} Hz is shorter than one "
            f"{FRAME_LENGTH_MS:.0f} ms frame ({length} samples)"
        )
    frames = signal.unfold(0, length, shift)  # (n_frames, length)
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # x[j-1], x[0] for j = 0
    frames = frames - PREEMPHASIS * previous
    window = torch.hann_window(length, periodic=False, dtype=frames.dtype, device=frames.device)
    frames = torch.nn.functional.pad(frames * window, (0, fft_size - length))
    power = torch.fft.rfft(frames).abs().pow(2)  # (n_frames, fft_size // 2 + 1)
    filters = mel_filters(sample_rate, fft_size).to(device=power.device, dtype=power.dtype)
    energies = power @ filters.T  # (n_frames, num_bins)
    return energies.clamp_min(LOG_FLOOR).log()


def audio_clip_bounds(frames: int, sample_rate: int = AUDIO_SAMPLE_RATE) -> list[tuple[int, int]]:
    """Sample ranges [start, end) of the three clips of a `frames`-long recording, as the reference.

    Ends may pass the recording's end (a recording under 2 s): slicing keeps what exists.
    """
    duration = frames / sample_rate
    return [
        (math.floor(start * sample_rate), math.floor(end * sample_rate))
        for start, end in clip_windows(duration, AUDIO_CLIPS, AUDIO_CLIP_SECONDS)
    ]


def preprocess_audio(audio: Audio) -> torch.Tensor:
    """Network input of one recording: (3, 1, 128, 204), three 2 s clips.

    Resamples to 16 kHz (soxr), cuts three evenly spaced 2 s clips, and for each: subtracts
    its mean over all channels (in place, as the reference does), computes `fbank` of the
    first channel, transposes to (128, frames), zero-pads or cuts to 204 frames, and
    normalises (x - AUDIO_MEAN) / AUDIO_STD.
    Raises `InputError` naming the recording if a clip is shorter than one 25 ms frame.
    """
    samples = resample(audio.samples, audio.sample_rate, AUDIO_SAMPLE_RATE)
    # A private copy: each clip's mean is subtracted in place, as in the reference, where
    # `waveform -= waveform.mean()` on a slice also shifts the overlapping part of the next
    # clips (recordings of 2-6 s). After fbank's per-frame mean removal only frames across
    # such a step see it, but in quiet mel bins it moves features by up to ~0.4.
    waveform = torch.tensor(samples, dtype=torch.float32)  # (C, N)
    min_frames, _, _ = _frame_sizes(AUDIO_SAMPLE_RATE)
    clips = []
    for start, end in audio_clip_bounds(waveform.shape[1]):
        clip = waveform[:, start:end]  # (C, n), a view
        if clip.shape[1] < min_frames:
            raise InputError(
                audio.source,
                f"too short: {clip.shape[1] / AUDIO_SAMPLE_RATE * 1000:.1f} ms of audio, less "
                f"than one {FRAME_LENGTH_MS:.0f} ms filter-bank frame",
            )
        clip -= clip.mean()
        features = fbank(clip, AUDIO_SAMPLE_RATE).T  # (128, frames)
        missing = TARGET_FRAMES - features.shape[1]
        if missing > 0:
            features = torch.nn.functional.pad(features, (0, missing))
        features = features[:, :TARGET_FRAMES]
        clips.append(((features - AUDIO_MEAN) / AUDIO_STD).unsqueeze(0))  # (1, 128, 204)
    return torch.stack(clips)  # (3, 1, 128, 204)
