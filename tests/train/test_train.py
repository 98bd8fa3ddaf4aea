"""`binding train` end to end on generated data with the tiny model (seeded random weights)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.train.commands import TrainRequest, run_training
from binding.train.loop import LoopConfig
from binding.train.saved import load_trained_tower

ROOT = Path(__file__).resolve().parents[2]


def _pairs(folder: Path, count: int) -> Path:
    """Images of a colour and signals whose frequency is that colour's hue."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["anchor,input"]
    t = np.arange(32) / 32
    for index in range(count):
        level = int(rng.integers(8))
        Image.new("RGB", (16, 16), (30 * level, 255 - 30 * level, 90)).save(folder / f"{index}.png")
        signal = np.stack(
            [np.sin(2 * np.pi * (1 + level) * t + rng.uniform(0, 6)), rng.normal(size=32)]
        )
        np.save(folder / f"{index}.npy", signal.astype(np.float32))
        rows.append(f"{index}.png,{index}.npy")
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    return folder / "pairs.csv"


def _args(manifest: Path, out: Path, epochs: int) -> list[str]:
    return [
        "bind", str(manifest), "--modality", "wave", "--out", str(out), "--epochs", str(epochs),
        "--batch-size", "16", "--width", "32", "--blocks", "1", "--heads", "2",
        "--precision", "fp32", "--checkpoint-every", "7", "--patience", "1000", "--json",
    ]  # fmt: skip


def test_bind_cli_json_outputs_and_loader(tiny_settings: Settings, tmp_path: Path) -> None:
    manifest = _pairs(tmp_path / "data", 40)
    (tmp_path / "data" / "pairs.csv").open("a").write("39.png,missing.npy\n")
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["train", *_args(manifest, out, 3)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary["recall_at_1"]) == {"input_to_anchor", "anchor_to_input"}
    assert summary["validation_pairs"] == 4 and summary["out"] == str(out)
    assert summary["left_out_pairs"] == 1 and "missing.npy" in result.stderr
    for name in ("tower.safetensors", "spec.json", "report.json", "curves.png", "metrics.jsonl"):
        assert (out / name).is_file(), name
    tower, spec = load_trained_tower(out)
    assert spec["modality"] == "wave" and spec["input"] == {"kind": "signal", "shape": [2, 32]}
    assert spec["anchor"]["model"] == "imagebind_tiny" and len(spec["anchor"]["hash"]) == 64
    signal = torch.from_numpy(np.load(tmp_path / "data" / "0.npy"))[None]
    vector = tower(signal)
    assert vector.shape == (1, 32) and torch.allclose(vector.norm(dim=-1), torch.ones(1))


def test_resume_after_sigkill_equals_uninterrupted_run(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    manifest = _pairs(tmp_path / "data", 48)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "binding.train"]
    whole = tmp_path / "whole"
    subprocess.run(
        [*command, *_args(manifest, whole, 30)], env=env, check=True, capture_output=True
    )

    cut = tmp_path / "cut"
    process = subprocess.Popen(
        [*command, *_args(manifest, cut, 30)], env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        log = cut / "metrics.jsonl"
        if (
            (cut / "checkpoint.pt").is_file()
            and log.is_file()
            and log.read_text().count('"step"') > 40
        ):
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (cut / "tower.safetensors").exists()
    subprocess.run(
        [*command, *_args(manifest, cut, 30), "--resume"], env=env, check=True, capture_output=True
    )

    expected, resumed = (
        load_file(str(whole / "tower.safetensors")),
        load_file(str(cut / "tower.safetensors")),
    )
    assert expected.keys() == resumed.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6)
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # the resumed log holds no replayed steps


@pytest.mark.slow
def test_bench_learns_the_anchor(tmp_path: Path) -> None:
    """The short benchmark: held-out recall@1 of sensor -> image at least 5x chance."""
    out = tmp_path / "train.json"
    env = {**os.environ, "BINDING_SEED": "0", "BINDING_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "train.py"), *BENCH_SHORT, "--out", str(out)],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["recall_at_1"]["input_to_anchor"] >= 5 * result["chance"], result


BENCH_SHORT = ["--pairs", "400", "--epochs", "20"]


def test_lora_adapters_apply_or_merge(tiny_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = ["anchor,input"]
    for index in range(12):
        Image.new("RGB", (32, 32), (20 * index, 100, 255 - 20 * index)).save(
            folder / f"{index}.png"
        )
        rows.append(f'{index}.png,"a colour number {index}"')
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "lora"
    request = TrainRequest(
        kind="lora", manifest=str(folder / "pairs.csv"), modality="text", anchor="image", out=str(out),
        lora_rank=2, merge=True, val_fraction=0.25,
        loop=LoopConfig(epochs=3, batch_size=8, lr=1e-2, precision="fp32", noise=0.0),
    )  # fmt: skip
    summary = run_training(request, quiet=True)
    assert summary["validation_pairs"] == 3
    adapter = load_file(str(out / "adapter.safetensors"))
    assert adapter and all(key.endswith((".down", ".up")) for key in adapter)
    assert any(tensor.abs().sum() > 0 for key, tensor in adapter.items() if key.endswith(".up"))
    applied, spec = load_trained_tower(out, merge=False)
    merged, _ = load_trained_tower(out, merge=True)
    from binding.inputs import prepare

    tokens = prepare("text", ["a colour number 3"])[0]
    torch.testing.assert_close(applied(tokens), merged(tokens), rtol=1e-4, atol=1e-5)
    assert spec["lora"]["rank"] == 2 and spec["tower"]["type"] == "base"


def test_two_process_ddp_matches_one_process(tiny_settings: Settings, tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo), same global batch: the same loss curve."""
    manifest = _pairs(tmp_path / "data", 40)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["--checkpoint-every", "1000"]
    subprocess.run(
        [sys.executable, "-m", "binding.train", *_args(manifest, one, 3), *common],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    done = subprocess.run(
        [*torchrun, "-m", "binding.train", *_args(manifest, two, 3), *common],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    def losses(folder: Path) -> list[float]:
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return [row["loss"] for row in rows if row["kind"] == "step"]

    assert len(losses(one)) == len(losses(two)) > 3
    np.testing.assert_allclose(losses(two), losses(one), rtol=1e-4, atol=1e-5)


def test_ctrl_c_saves_and_stops(tiny_settings: Settings, tmp_path: Path) -> None:
    manifest = _pairs(tmp_path / "data", 48)
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "binding.train", *_args(manifest, out, 200)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "checkpoint.pt").is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == "interrupted" and summary["steps"] < 600
    assert (out / "tower.safetensors").is_file() and (out / "checkpoint.pt").is_file()


def test_pair_trains_both_towers(tiny_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = ["anchor,input"]
    for index in range(10):
        Image.new("RGB", (32, 32), (25 * index, 80, 200 - 15 * index)).save(folder / f"{index}.png")
        rows.append(f'"colour {index}",{index}.png')
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "pair"
    request = TrainRequest(
        kind="pair", manifest=str(folder / "pairs.csv"), modality="image", anchor="text",
        out=str(out), val_fraction=0.3,
        loop=LoopConfig(epochs=2, batch_size=4, precision="fp32"),
    )  # fmt: skip
    summary = run_training(request, quiet=True)
    assert summary["validation_pairs"] == 3
    spec = json.loads((out / "spec.json").read_text())
    assert spec["anchor"]["trained"] and spec["files"]["anchor"] == "anchor.safetensors"
    tower, _ = load_trained_tower(out)
    from binding.inputs import prepare

    vector = tower(prepare("image", [str(folder / "0.png")])[0])
    assert vector.shape == (1, 32)
