"""A seventh modality added with only its spec: a trained array sensor used everywhere.

`binding train bind` learns a tower for a generic 2-channel sensor against the tiny image
tower; its output folder (weights + `spec.json`) is the modality's only definition. Given
with `--towers` (or BINDING_TOWERS), the modality then works through the real CLI and
engine: `embed --modality`, ingest (folder rule and `--modality`), query terms `NAME:file`,
composite queries `NAME:file + text:"..."`, `binding models`. The worked example of
docs/architecture.md ("How to add a modality") is this test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.modality import Modality, parse_modality
from binding.towers import forget_tower
from binding.train.saved import load_trained_tower

NAME = "vibration"
SHAPE = (2, 48)


def _signal(level: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(SHAPE[1]) / SHAPE[1]
    wave = np.sin(2 * np.pi * (1 + level) * t + rng.uniform(0, 6))
    return np.stack([wave, rng.normal(size=SHAPE[1])]).astype(np.float32)


def train_tower(root: Path) -> Path:
    """A tower for the sensor, trained for a few seconds (images of a colour <-> its wave),
    in `root/towers/vibration`; the environment is the tiny model's, set only meanwhile."""
    rng = np.random.default_rng(0)
    data = root / "pairs"
    data.mkdir(parents=True)
    rows = ["anchor,input"]
    for index in range(32):
        level = int(rng.integers(8))
        colour = (30 * level, 255 - 30 * level, 90)
        Image.new("RGB", (16, 16), colour).save(data / f"{index}.png")
        np.save(data / f"{index}.npy", _signal(level, rng))
        rows.append(f"{index}.png,{index}.npy")
    (data / "pairs.csv").write_text("\n".join(rows) + "\n")
    out = root / "towers" / NAME
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BINDING_MODEL", "imagebind_tiny")
        env.setenv("BINDING_SEED", "0")
        env.setenv("BINDING_DEVICE", "cpu")
        env.setenv("BINDING_CACHE_DIR", str(root / "cache"))
        env.setenv("BINDING_OFFLINE", "true")
        env.delenv("BINDING_TOWERS", raising=False)
        env.chdir(root)
        result = CliRunner().invoke(
            app,
            [
                "train",
                "bind",
                str(data / "pairs.csv"),
                "--modality",
                NAME,
                "--out",
                str(out),
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--width",
                "32",
                "--blocks",
                "1",
                "--heads",
                "2",
                "--precision",
                "fp32",
                "--json",
            ],  # fmt: skip
        )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield train_tower(tmp_path_factory.mktemp("new_modality"))
    forget_tower(NAME)


@pytest.fixture
def sensor_files(tmp_path: Path) -> Path:
    """A folder named after the modality with three recordings, and a wave of level 3."""
    folder = tmp_path / "media" / NAME
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for level in (1, 3, 6):
        np.save(folder / f"level{level}.npy", _signal(level, rng))
    return folder


def _invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_embed_with_a_trained_tower(
    trained: Path, tiny_settings: Settings, sensor_files: Path, tmp_path: Path
) -> None:
    out = tmp_path / "vectors.npy"
    file = sensor_files / "level3.npy"
    csv = tmp_path / "level3.csv"  # the same recording as a CSV: one column per channel
    array = np.load(file)
    csv.write_text("x,noise\n" + "\n".join(f"{a!r},{b!r}" for a, b in array.T.tolist()) + "\n")
    result = _invoke(
        "embed", "--towers", str(trained), "--modality", NAME, str(file), str(csv), "-o", str(out)
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    vectors = np.load(out)
    tower, _ = load_trained_tower(trained)
    with torch.no_grad():
        expected = tower(torch.from_numpy(array)[None]).numpy()
    np.testing.assert_allclose(vectors[0], expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors[1], expected[0], rtol=1e-4, atol=1e-5)
    assert parse_modality(NAME) is Modality(NAME) and NAME in [m.value for m in Modality]


def test_ingest_query_and_composite_through_the_cli(
    trained: Path, tiny_settings: Settings, sensor_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINDING_TOWERS", str(trained.parent))  # a folder holding model folders
    bad = sensor_files / "short.npy"
    np.save(bad, np.zeros((2, 10), dtype=np.float32))  # another shape than the tower's
    (sensor_files / "garbage.csv").write_text("not,an\narray,here\n")
    result = _invoke("ingest", str(sensor_files.parent), "--json")
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    outcomes = {Path(o["source"]).name: o for o in report["files"]}
    for level in (1, 3, 6):
        assert outcomes[f"level{level}.npy"]["status"] == "embedded"
        assert outcomes[f"level{level}.npy"]["modality"] == NAME
    assert outcomes["short.npy"]["status"] == "rejected"
    assert "shape (2, 48)" in outcomes["short.npy"]["reason"]
    assert "(2, 10)" in outcomes["short.npy"]["reason"]
    assert outcomes["garbage.csv"]["status"] == "rejected"
    assert "non-numeric" in outcomes["garbage.csv"]["reason"]

    query = f"{NAME}:{sensor_files / 'level3.npy'}"
    result = _invoke("search", query, "--json", "-n", "3")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    hits = json.loads(result.stdout)["hits"]  # type: ignore[attr-defined]
    assert hits[0]["payload"]["name"] == "level3.npy"
    assert hits[0]["payload"]["modality"] == NAME and hits[0]["score"] == pytest.approx(1, abs=1e-5)
    assert hits[0]["payload"]["channels"] == 2 and hits[0]["payload"]["length"] == 48

    composite = f'{query} + 0.5*text:"a red square"'
    result = _invoke("search", composite, "--json", "--modality", NAME, "--explain")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    found = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert found["query"].startswith(f"{NAME}:") and "text:" in found["query"]
    assert {h["payload"]["modality"] for h in found["hits"]} == {NAME}
    assert len(found["hits"][0]["explanation"]["cosines"]) == 2

    result = _invoke("models")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert NAME in result.stdout and "imagebind_tiny:image" in result.stdout  # type: ignore[attr-defined]


def test_modality_flag_and_bytes_without_folder_rule(
    trained: Path, tiny_settings: Settings, sensor_files: Path, tmp_path: Path
) -> None:
    from binding import api

    loose = tmp_path / "loose.npy"  # not under a folder named after the modality
    np.save(loose, np.load(sensor_files / "level6.npy"))
    with api.open(towers=str(trained)) as engine:
        report = engine.ingest([loose], modality=NAME)
        assert [o.status for o in report.files] == ["embedded"]
        upload = engine.ingest_bytes("upload.npy", loose.read_bytes(), modality=NAME)
        assert upload.status == "duplicate"  # same content, same modality: the same point
        hits = engine.search(f"{NAME}:{loose}", limit=1).hits
        assert hits[0].payload["name"] == "loose.npy"


def test_a_tower_of_another_base_model_is_refused(
    trained: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    copy = tmp_path / "other"
    copy.mkdir()
    for file in trained.iterdir():
        if file.is_file():
            (copy / file.name).write_bytes(file.read_bytes())
    spec = json.loads((copy / "spec.json").read_text())
    spec["anchor"]["model"] = "imagebind_huge"
    (copy / "spec.json").write_text(json.dumps(spec))
    result = _invoke("embed", "--towers", str(copy), "--modality", NAME, "x.npy", "-o", "o.npy")
    assert result.exit_code == 1
    message = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "trained against model 'imagebind_huge'" in message
    assert "this engine's model is 'imagebind_tiny'" in message


def test_eval_classify_reads_the_trained_modality(
    trained: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    for label, level in (("slow", 1), ("fast", 6)):
        (tmp_path / "classes" / label).mkdir(parents=True)
        for index in range(3):
            np.save(tmp_path / "classes" / label / f"{index}.npy", _signal(level, rng))
    run = tmp_path / "run.json"
    result = _invoke(
        "eval", "classify", str(tmp_path / "classes"), "--modality", NAME,
        "--towers", str(trained), "-o", str(run),
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    report = json.loads(run.read_text())
    assert report["metrics"]["count"] == 6 and report["data"]["modality"] == NAME


def test_tower_folders_that_cannot_be_used_are_refused_with_reasons(
    trained: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    from binding.errors import ConfigurationError
    from binding.towers import register_towers

    with pytest.raises(ConfigurationError, match="no such folder"):
        register_towers([tmp_path / "absent"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no trained model here"):
        register_towers([tmp_path / "empty"])
    twin = tmp_path / "twin"
    twin.mkdir()
    for file in ("spec.json", "tower.safetensors"):
        (twin / file).write_bytes((trained / file).read_bytes())
    register_towers([trained])
    with pytest.raises(ConfigurationError, match=f"modality '{NAME}' is already given by"):
        register_towers([twin])
    spec = json.loads((twin / "spec.json").read_text())
    (twin / "spec.json").write_text(json.dumps({**spec, "kind": "lora", "tower": {"type": "base"}}))
    with pytest.raises(ConfigurationError, match="retrains the built-in"):
        register_towers([twin])
    (twin / "spec.json").write_text("{")
    with pytest.raises(ConfigurationError, match="not a `binding train` spec"):
        register_towers([twin])


def test_doctor_checks_the_tower_folders(trained: Path, tiny_settings: Settings) -> None:
    from binding.doctor import run_checks

    good = run_checks(tiny_settings.model_copy(update={"towers": str(trained)}))
    assert [(c.status, c.detail) for c in good if c.name == "towers"] == [
        ("ok", f"{NAME} (2x48): {trained}")
    ]
    other = tiny_settings.model_copy(update={"towers": str(trained)})
    bad = run_checks(other, model="imagebind_huge")
    (check,) = [c for c in bad if c.name == "towers"]
    assert check.status == "fail" and "trained against imagebind_tiny" in check.detail
