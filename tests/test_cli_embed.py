"""`binding models`, `binding embed` and `binding doctor` through the real typer app."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings

runner = CliRunner()


def _write_media(folder: Path) -> tuple[Path, Path]:
    photo = folder / "photo.dat"  # a misleading name: the bytes say PNG
    Image.new("RGB", (320, 240), (30, 120, 200)).save(photo, "PNG")
    sound = folder / "tone"
    t = np.arange(16000) / 16000
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.2 * np.sin(2 * np.pi * 440 * t), 16000, format="FLAC")
    sound.write_bytes(buffer.getvalue())
    return photo, sound


def test_models_lists_both_models_and_the_license() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "imagebind_huge" in result.output and "imagebind_tiny" in result.output
    assert "CC BY-NC-SA 4.0" in result.output
    assert "meaningless" in result.output


def test_embed_detects_modalities_from_bytes_and_keeps_input_order(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    photo, sound = _write_media(tmp_path)
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", str(sound), str(photo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "random weights" in result.output  # the tiny model says its vectors are meaningless
    rows = np.load(out)
    assert rows.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)

    # the same files one at a time give the same rows, in the order given
    single = tmp_path / "photo.npy"
    assert runner.invoke(app, ["embed", str(photo), "-o", str(single)]).exit_code == 0
    np.testing.assert_allclose(np.load(single)[0], rows[1], atol=1e-5)


def test_embed_texts_and_raw_outputs(tiny_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "text.npy"
    result = runner.invoke(
        app, ["embed", "--modality", "text", "a dog", "a cat", "--raw", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = np.load(out)
    assert rows.shape == (2, 32)
    assert np.linalg.norm(rows, axis=1).min() > 1.5  # scaled by the learned logit scale


def test_embed_bad_input_names_the_file(tiny_settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    result = runner.invoke(app, ["embed", str(bad), "-o", str(tmp_path / "x.npy")])
    assert result.exit_code == 1
    assert "broken.png" in result.output
    missing = runner.invoke(app, ["embed", str(tmp_path / "nope.jpg"), "-o", "x.npy"])
    assert missing.exit_code == 1 and "nope.jpg" in missing.output


def test_doctor_reports_the_tiny_model_and_a_missing_checkpoint(
    tiny_settings: Settings, monkeypatch
) -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "torch" in result.output and "random weights" in result.output
    # offline, the huge checkpoint is not cached: a failure with the way out
    monkeypatch.setenv("BINDING_MODEL", "imagebind_huge")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "not cached" in result.output and "BINDING_CHECKPOINT" in result.output
