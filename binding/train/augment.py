"""Augmentations of a training batch, drawn per step so that a resumed run replays them.

A tower trained on a few thousand items can memorise them: the same picture, recording or
waveform comes back every epoch. These augmentations change what the tower sees each time
while keeping what a caption or an anchor says about it. They are off unless asked for
(`binding train --augment`): where a tower underfits rather than memorises, they slow it
down (binding_mini's stage 1, docs/mini.md).

- pictures (image, depth, thermal; `(N, C, H, W)`): a random shift of up to 1/8 of the
  side (the uncovered border is 0, the data's mean after normalisation) and a horizontal
  flip half the time. Shapes, colours, counts and sizes survive; positions do not, and
  no caption of ours names a position. No vertical flip: it turns upright shapes over.
- recordings (audio spectrograms `(N, 1, mel, frames)`, IMU `(N, channels, samples)`):
  a random circular shift in time. What repeats (a gait, a note's pitch and timbre)
  survives; where it starts in the clip does not, which is what a memorising tower keys on.
- arrays of a new modality: Gaussian noise of `scale` times the data's standard deviation.

Every draw comes from `generator` for the whole global batch and is then sliced to this
process's rows (`part`), so one process and N processes train on the same batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: (local batch, generator, global batch size, this process's rows) -> augmented batch
Augment = Callable[[torch.Tensor, torch.Generator, int, slice], torch.Tensor]

#: Largest shift of a picture, as a fraction of its side.
MAX_SHIFT = 1 / 8
PICTURES = ("image", "depth", "thermal")
RECORDINGS = ("audio", "imu")


def noise(scale: float) -> Augment:
    """Gaussian noise of standard deviation `scale` (arrays of a new modality)."""

    def apply(x: torch.Tensor, generator: torch.Generator, batch: int, part: slice) -> torch.Tensor:
        drawn = torch.randn((batch, *x.shape[1:]), generator=generator)[part]
        return x + scale * drawn.to(x.device, x.dtype)

    return apply


def shift_and_flip(
    x: torch.Tensor, generator: torch.Generator, batch: int, part: slice
) -> torch.Tensor:
    """Shift each picture by up to MAX_SHIFT of its side, flip half of them left-right."""
    height, width = x.shape[-2:]
    most_y, most_x = int(height * MAX_SHIFT), int(width * MAX_SHIFT)
    dy = torch.randint(-most_y, most_y + 1, (batch,), generator=generator)[part]
    dx = torch.randint(-most_x, most_x + 1, (batch,), generator=generator)[part]
    flip = (torch.rand(batch, generator=generator) < 0.5)[part]
    out = torch.zeros_like(x)
    for i in range(len(x)):
        picture = x[i].flip(-1) if flip[i] else x[i]
        sy, sx = int(dy[i]), int(dx[i])
        # rows/cols of the source that stay inside the frame after the shift
        src_y = slice(max(0, -sy), height - max(0, sy))
        src_x = slice(max(0, -sx), width - max(0, sx))
        dst_y = slice(max(0, sy), height - max(0, -sy))
        dst_x = slice(max(0, sx), width - max(0, -sx))
        out[i][..., dst_y, dst_x] = picture[..., src_y, src_x]
    return out


def time_shift(
    x: torch.Tensor, generator: torch.Generator, batch: int, part: slice
) -> torch.Tensor:
    """Roll each recording by a random number of steps along its last (time) axis."""
    length = x.shape[-1]
    shifts = torch.randint(0, length, (batch,), generator=generator)[part]
    return torch.stack([x[i].roll(int(shifts[i]), dims=-1) for i in range(len(x))])


def for_modality(name: str) -> Augment | None:
    """The augmentation of a built-in modality's network items; None when it has none."""
    if name in PICTURES:
        return shift_and_flip
    if name in RECORDINGS:
        return time_shift
    return None
