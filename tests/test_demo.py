"""The demo folder: the same seed gives byte-identical files (issue 13, item 3)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from binding.demo import OGG_SERIAL, make_demo_data, with_ogg_serial


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_the_same_bytes_for_every_file(tmp_path: Path) -> None:
    first = make_demo_data(tmp_path / "first", seed=3, speech=True)
    second = make_demo_data(tmp_path / "second", seed=3, speech=True)
    hashes_first, hashes_second = _hashes(first.root), _hashes(second.root)
    assert len(hashes_first) == len(first.all()) >= 18
    different = [name for name in hashes_first if hashes_first[name] != hashes_second.get(name)]
    assert not different, f"these files differ between two generations: {different}"
    assert hashes_first.keys() == hashes_second.keys()
    # every modality's generator is seeded: another seed changes the random ones
    other = _hashes(make_demo_data(tmp_path / "other", seed=4, speech=False).root)
    assert other["audio/noise.flac"] != hashes_first["audio/noise.flac"]


def _ogg(seconds: float = 2.0) -> bytes:
    samples = 0.3 * np.sin(2 * np.pi * 330 * np.arange(int(16_000 * seconds)) / 16_000)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.astype(np.float32), 16_000, format="OGG")
    return buffer.getvalue()


def test_ogg_serial_is_fixed_and_the_audio_kept() -> None:
    raw = _ogg()
    fixed = with_ogg_serial(raw, OGG_SERIAL)
    assert fixed == with_ogg_serial(_ogg(), OGG_SERIAL)  # libsndfile's random serial is gone
    assert fixed[14:18] == OGG_SERIAL.to_bytes(4, "little")
    original, _ = soundfile.read(io.BytesIO(raw))
    rewritten, _ = soundfile.read(io.BytesIO(fixed))  # libsndfile checks every page's CRC
    np.testing.assert_array_equal(original, rewritten)
    assert with_ogg_serial(fixed, OGG_SERIAL) == fixed


def test_ogg_rewrite_refuses_what_is_not_one_ogg_stream() -> None:
    with pytest.raises(ValueError, match="not an Ogg page at byte 0"):
        with_ogg_serial(b"RIFF....WAVE", 1)
    raw = _ogg()
    with pytest.raises(ValueError, match="cut short"):
        with_ogg_serial(raw[: len(raw) - 10], 1)
    chained = raw + with_ogg_serial(raw, OGG_SERIAL + 1)
    with pytest.raises(ValueError, match="a second logical stream"):
        with_ogg_serial(with_ogg_serial(raw, OGG_SERIAL) + chained[len(raw) :], OGG_SERIAL)
