"""`binding eval` speed and the fast precisions' effect on metrics.

1. Share of time in the encoder: a zero-shot classification of `--items` generated images
   (10 classes, 64x64 PNG noise) on `imagebind_tiny` (seeded random weights: a quick figure,
   the tiny towers are ~100x cheaper than imagebind_huge's, so on the real model the share
   only grows). Cold (empty embedding cache) and warm (everything cached) runs; the share is
   `CachedEmbedder.encoder_seconds` (decoding + forward passes) over the wall time of the
   evaluation (reading, hashing, caching, scoring and writing the JSON included).
2. bf16 and int8 against fp32 on the same `--precision-items` items: top-1/top-5, how many
   predictions agree with fp32, and the mean cosine of the vectors to fp32's. With random
   weights the metrics are at chance: read the agreement and cosine, not the accuracy.

    .venv/bin/python bench/eval.py                     # 10,000 items, ~2 min here
    .venv/bin/python bench/eval.py --items 2000 --precision-items 500

Prints a table and writes bench/results/eval.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from binding.config import Settings  # noqa: E402
from binding.eval.cache import CachedEmbedder  # noqa: E402
from binding.eval.classify import classify, read_labelled  # noqa: E402
from binding.eval.runner import open_embedder, run_classify  # noqa: E402

CLASSES = [f"class {i}" for i in range(10)]


def make_folder(root: Path, items: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for n in range(items):
        folder = root / CLASSES[n % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        (folder / f"{n:05d}.png").write_bytes(buffer.getvalue())
    return root


def settings_for(work: Path, precision: str) -> Settings:
    return Settings(
        model="imagebind_tiny",
        seed=0,
        device="cpu",
        precision=precision,
        data_dir=work / "data",
        cache_dir=work / "cache",
        offline=True,
        _env_file=None,
    )


def timed_run(settings: Settings, folder: Path, label: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedder = open_embedder(settings, ["image"])
    data = read_labelled(folder, "image")
    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=len(data.items) + len(CLASSES) * 8)
        start = time.perf_counter()
        run, result = run_classify(data, embedder, progress=lambda n: bar.advance(task, n))
        run.save(settings.data_dir / f"{label}.json")
        wall = time.perf_counter() - start
    embedder.close()
    return {
        "items": len(data.items),
        "wall_s": wall,
        "encoder_s": embedder.encoder_seconds,
        "encoder_share": embedder.encoder_seconds / wall,
        "embedded": embedder.misses,
        "from_cache": embedder.hits,
        "items_per_s": len(data.items) / wall,
        "top1": result.top1,
    }


def precision_runs(folder: Path, work: Path) -> dict[str, Any]:
    data = read_labelled(folder, "image")
    out: dict[str, Any] = {}
    reference: dict[str, np.ndarray] = {}
    for precision in ("fp32", "bf16", "int8"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            embedder = open_embedder(settings_for(work, precision), ["image"], cache=False)
        start = time.perf_counter()
        vectors = embedder.embed("image", data.items)
        seconds = time.perf_counter() - start
        result = classify(data, CachedEmbedder(embedder.encoder, None))
        scores = vectors @ _prototypes(embedder).T
        predicted = scores.argmax(axis=1)
        if precision == "fp32":
            reference = {"vectors": vectors, "predicted": predicted}
        out[precision] = {
            "top1": result.top1,
            "top5": result.top5,
            "agreement_with_fp32": float((predicted == reference["predicted"]).mean()),
            "mean_cosine_to_fp32": float((vectors * reference["vectors"]).sum(axis=1).mean()),
            "embed_items_per_s": len(data.items) / seconds,
            # random-weight vectors share a large common part; the centred cosine (fp32's
            # mean removed from both) shows the differences that part hides
            "centred_cosine_to_fp32": _centred_cosine(vectors, reference["vectors"]),
        }
    return out


def _centred_cosine(vectors: np.ndarray, reference: np.ndarray) -> float:
    mean = reference.mean(axis=0, keepdims=True)
    a, b = vectors - mean, reference - mean
    cos = (a * b).sum(axis=1) / np.maximum(
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12
    )
    return float(cos.mean())


def _prototypes(embedder: CachedEmbedder) -> np.ndarray:
    from binding.eval.classify import DEFAULT_TEMPLATES, text_prototypes
    from binding.modality import Modality

    return text_prototypes(embedder, CLASSES, DEFAULT_TEMPLATES[Modality.IMAGE])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--precision-items", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "eval.json")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        work = Path(tmp)
        folder = make_folder(work / "set", args.items)
        settings = settings_for(work, "fp32")
        cold = timed_run(settings, folder, "cold")
        warm = timed_run(settings, folder, "warm")
        small = make_folder(work / "small", args.precision_items)
        precisions = precision_runs(small, work / "p")
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    result = {
        "model": "imagebind_tiny (seeded random weights)",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": __import__("torch").get_num_threads(),
        "python": platform.python_version(),
        "share": {"cold": cold, "warm": warm},
        "precisions": {"items": args.precision_items, **precisions},
    }
    table = Table(title=f"binding eval classify, {args.items} images, imagebind_tiny ({cpu})")
    for column in ("run", "wall s", "encoder s", "encoder share", "embedded", "cached", "items/s"):
        table.add_column(column, justify="right")
    for name, row in (("cold cache", cold), ("warm cache", warm)):
        table.add_row(name, f"{row['wall_s']:.1f}", f"{row['encoder_s']:.1f}",
                      f"{row['encoder_share']:.1%}", str(row["embedded"]), str(row["from_cache"]),
                      f"{row['items_per_s']:.0f}")  # fmt: skip
    console.print(table)
    table = Table(title=f"precisions on the same {args.precision_items} images (random weights)")
    columns = (
        "precision",
        "top-1",
        "top-5",
        "agrees with fp32",
        "cosine to fp32",
        "centred",
        "items/s",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in precisions.items():
        table.add_row(name, f"{row['top1']:.3f}", f"{row['top5']:.3f}",
                      f"{row['agreement_with_fp32']:.3f}", f"{row['mean_cosine_to_fp32']:.4f}",
                      f"{row['centred_cosine_to_fp32']:.4f}", f"{row['embed_items_per_s']:.0f}")  # fmt: skip
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
