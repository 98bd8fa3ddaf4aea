"""Clips the user fetched from YouTube, found by name: `<youtube_id>_<start>` with the start
in seconds zero-padded to six digits (`abc_000030.wav`, the VGGSound release's naming) or as
written in the table (`abc_30.wav`, `abc_30.000.flac`), as `.wav`, `.flac` or `.mp4` (its
audio track), anywhere below the dataset folder."""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".wav", ".flac", ".mp4")


def index_clips(root: Path) -> dict[str, Path]:
    """Every clip below `root` by its file name without the suffix (first found wins)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    return found


def clip_names(youtube_id: str, start: str) -> list[str]:
    """The names a clip starting at `start` seconds may have, without suffix."""
    names = [f"{youtube_id}_{start}"]
    try:
        seconds = float(start)
    except ValueError:
        return names
    if seconds.is_integer():
        names += [f"{youtube_id}_{int(seconds):06d}", f"{youtube_id}_{int(seconds)}"]
    names.append(f"{youtube_id}_{seconds:.3f}")
    return list(dict.fromkeys(names))


def find_clip(clips: dict[str, Path], youtube_id: str, start: str) -> Path | None:
    return next((clips[n] for n in clip_names(youtube_id, start) if n in clips), None)
