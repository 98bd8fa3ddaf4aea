"""Where the clips of a recording start and end: ImageBind's evenly spaced constant-length clips.

ImageBind cuts audio (3 clips) and video (5 clips) with pytorchvideo's
`ConstantClipsPerVideoSampler` at the commit its requirements pin (28fe037d): clip i of n
spans [i * s, i * s + d) with s = max(D - d, 0) / max(n - 1, 1), for a recording of D
seconds and clips of d seconds. A recording shorter than d gives n identical clips that start
at 0 and run past the end (the caller keeps what exists). The arithmetic is exact
(`fractions.Fraction`) as in pytorchvideo, so sample and frame indices match the reference's.
"""

from __future__ import annotations

from fractions import Fraction


def clip_windows(
    duration_s: float, clips: int, clip_duration_s: float
) -> list[tuple[Fraction, Fraction]]:
    """`clips` windows (start, end) in seconds, as exact fractions, evenly spaced over the recording."""
    if clips < 1:
        raise ValueError(f"clips must be at least 1, got {clips}")
    length = Fraction(clip_duration_s)
    # float minus float, then exact: pytorchvideo computes `video_duration - Fraction(d)` in
    # float (a float minus a Fraction is a float) and wraps the result in a Fraction.
    latest_start = Fraction(max(float(duration_s) - float(length), 0))
    step = latest_start / max(clips - 1, 1)
    return [(step * i, step * i + length) for i in range(clips)]
