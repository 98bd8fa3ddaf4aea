"""`binding train bind` benchmark: does a new modality really learn the anchor's content?

Paired data is generated: an image of one coloured shape (8 hues x 3 shapes, random
position and size, pixel noise) and a 3-channel, 256-sample "sensor" signal that encodes
the same content through a transform no shortcut can read: the hue sets the frequency of
channel 0, the shape its waveform (sine, square, sawtooth), the position the frequencies of
channels 1 and 2, the size their amplitude, each with random phase and additive noise. The
anchor is the frozen image tower of `--model` (default `imagebind_tiny`, seeded random
weights: fixed features that still carry colour, shape and position), so a tower can only
score above chance by decoding the signal into what the image tower sees.

    .venv/bin/python bench/train.py                       # ~3 min on 2 CPU cores
    .venv/bin/python bench/train.py --pairs 300 --epochs 8 --out /tmp/bench.json

Prints a table (held-out recall@1 both ways vs chance, samples/s, peak RSS) and writes
bench/results/train.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HUES = 8
SHAPES = ("circle", "square", "triangle")
LENGTH = 256


def make_pair(rng: np.random.Generator, folder: Path, index: int) -> tuple[str, str, str]:
    """One image and its sensor signal; returns (image path, signal path, label)."""
    import colorsys

    from PIL import Image, ImageDraw

    hue, shape = int(rng.integers(HUES)), int(rng.integers(len(SHAPES)))
    size = float(rng.uniform(0.25, 0.5))
    cx, cy = (float(v) for v in rng.uniform(0.3, 0.7, size=2))
    side = 64
    pixels = rng.normal(110, 20, size=(side, side, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue / HUES, 0.9, 0.95))
    r = size * side / 2
    x, y = cx * side, cy * side
    box = (x - r, y - r, x + r, y + r)
    if SHAPES[shape] == "circle":
        draw.ellipse(box, fill=colour)
    elif SHAPES[shape] == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
    image_path = folder / f"{index:05d}.png"
    image.save(image_path)

    t = np.arange(LENGTH) / LENGTH
    phase = rng.uniform(0, 2 * np.pi, size=3)
    carrier = 2 * np.pi * (4 + 3 * hue) * t + phase[0]
    wave = [np.sin(carrier), np.sign(np.sin(carrier)), (carrier / np.pi) % 2 - 1][shape]
    signal = np.stack(
        [
            wave,
            size * 2 * np.sin(2 * np.pi * (3 + 20 * cx) * t + phase[1]),
            size * 2 * np.sin(2 * np.pi * (3 + 20 * cy) * t + phase[2]),
        ]
    )
    signal += rng.normal(0, 0.3, size=signal.shape)
    signal_path = folder / f"{index:05d}.npy"
    np.save(signal_path, signal.astype(np.float32))
    return (
        str(image_path),
        str(signal_path),
        f"{['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink'][hue]} {SHAPES[shape]}",
    )


def make_dataset(folder: Path, pairs: int, seed: int) -> Path:
    """Write `pairs` image/signal pairs and a CSV manifest into `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["anchor,input,label"]
    for index in range(pairs):
        image, signal, label = make_pair(rng, folder, index)
        lines.append(f"{Path(image).name},{Path(signal).name},{label}")
    manifest = folder / "pairs.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="imagebind_tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--temperature", type=float, default=0.02)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.json")
    args = parser.parse_args()
    os.environ.setdefault("BINDING_SEED", "0")

    import torch
    from rich.console import Console
    from rich.table import Table

    from binding.train.commands import TrainRequest, run_training
    from binding.train.loop import LoopConfig

    with tempfile.TemporaryDirectory(prefix="binding-bench-train-") as tmp:
        started = time.perf_counter()
        manifest = make_dataset(Path(tmp) / "data", args.pairs, args.seed)
        generated = time.perf_counter() - started
        request = TrainRequest(
            kind="bind",
            manifest=str(manifest),
            modality="sensor",
            out=str(Path(tmp) / "model"),
            model=args.model,
            device="cpu",
            val_fraction=0.2,
            loop=LoopConfig(
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=2e-3,
                seed=args.seed,
                checkpoint_every=10_000,
                patience=args.epochs,
            ),
        )
        started = time.perf_counter()
        summary = run_training(request, quiet=not sys.stderr.isatty())
        seconds = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    recall = summary["recall_at_1"]
    result: dict[str, Any] = {
        "pairs": args.pairs,
        "validation_pairs": summary["validation_pairs"],
        "epochs": args.epochs,
        "steps": summary["steps"],
        "model": args.model,
        "recall_at_1": recall,
        "recall": summary["recall"],
        "chance": summary["chance"],
        "times_chance": recall["input_to_anchor"] / summary["chance"],
        "zero_shot_accuracy": summary.get("zero_shot_accuracy"),
        "samples_per_second": summary["samples_per_second"],
        "train_seconds": seconds,
        "generate_seconds": generated,
        "peak_rss_mb": peak_rss_mb,
        "bf16": summary["bf16"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"binding train bind: {args.pairs} synthetic pairs, {args.epochs} epochs")
    for column in ("direction", "held-out recall@1", "chance", "x chance"):
        table.add_column(column)
    for key, label in (
        ("input_to_anchor", "sensor → image"),
        ("anchor_to_input", "image → sensor"),
    ):
        table.add_row(
            label,
            f"{recall[key]:.3f}",
            f"{summary['chance']:.3f}",
            f"{recall[key] / summary['chance']:.1f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"{summary['samples_per_second']:.0f} samples/s, {seconds:.0f} s training, "
        f"peak RSS {peak_rss_mb:.0f} MB; written to {args.out}"
    )


if __name__ == "__main__":
    main()
