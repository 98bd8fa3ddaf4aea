"""binding_mini: prepare the synthetic world for `scripts/train_mini.sh`, and evaluate the result.

python bench/mini.py prepare OUT --n-train 2400 --n-val 240 --n-test 480
    writes OUT/world/{train,val,test} (binding.world, seeds 1, 2, 3: no test scene is seen
    in training) and OUT/pairs_<modality>.csv: the train and val pairs of each modality in
    one manifest (absolute paths, split train/val) for `binding train`.
python bench/mini.py evaluate OUT --checkpoint FILE --json bench/results/binding_mini.json
    runs `binding eval classify|retrieve` on the test world (OUT/world/test) and collects
    the metrics, each beside chance, into one JSON (table in docs/mini.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MODALITIES = ("text", "audio", "depth", "thermal", "imu")
SEEDS = {"train": 1, "val": 2, "test": 3}
#: prompt templates for zero-shot (the world's own caption forms, docs/mini.md)
OBJECT_TEMPLATES = ("a {}.", "a photo of a {}.", "{}s on a background.")
ACTIVITY_TEMPLATES = ("a photo taken while {}.", "a {} photo.")
SHAPE_TEMPLATES = OBJECT_TEMPLATES


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def merge_manifests(worlds: dict[str, Path], out: Path) -> dict[str, int]:
    """One manifest per modality: rows of every split's world, paths made absolute."""
    counts: dict[str, int] = {}
    for modality in MODALITIES:
        rows: list[dict[str, str]] = []
        for split, root in worlds.items():
            for row in _read(root / f"pairs_{modality}.csv"):
                anchor = str((root / row["anchor"]).resolve())
                value = row["input"]
                if modality != "text":
                    value = str((root / value).resolve())
                rows.append(
                    {
                        "anchor": anchor,
                        "input": value,
                        "split": split,
                        "label": row.get("label", ""),
                    }
                )
        with (out / f"pairs_{modality}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["anchor", "input", "split", "label"])
            writer.writeheader()
            writer.writerows(rows)
        counts[modality] = len(rows)
    return counts


def prepare(out: Path, n: dict[str, int]) -> None:
    from binding.world import write_world

    worlds = {}
    for split in ("train", "val", "test"):
        started = time.perf_counter()
        world = write_world(out / "world" / split, n=n[split], seed=SEEDS[split], split=split)
        worlds[split] = Path(world.root)
        print(
            f"world {split}: {n[split]} scenes in {time.perf_counter() - started:.1f} s", flush=True
        )
    counts = merge_manifests({k: worlds[k] for k in ("train", "val")}, out)
    print(f"manifests: {counts}", flush=True)


def _eval(args: list[str], out: Path, checkpoint: str) -> dict:
    command = [str(Path(sys.executable).parent / "binding"), "eval", *args, "--model", "binding_mini",
               "--checkpoint", checkpoint, "--no-cache", "--device", "cpu", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def evaluate(root: Path, checkpoint: str, result_path: Path) -> dict:
    test = root / "world" / "test"
    work = root / "eval"
    work.mkdir(parents=True, exist_ok=True)
    labels = _read(test / "labels.csv")
    by_modality: dict[str, list[tuple[str, str]]] = {}
    for row in labels:
        modality = Path(row["path"]).parts[0]
        by_modality.setdefault(modality, []).append((row["path"], row["label"]))
    results: dict[str, dict] = {}

    def classify(name: str, modality: str, rows: list[tuple[str, str]], templates, against=None):
        csv_path = test / f"eval_{name}.csv"
        with csv_path.open("w", newline="") as handle:
            csv.writer(handle).writerows([("path", "label"), *rows])
        args = ["classify", str(csv_path), "--modality", modality]
        if against:
            args += ["--against", against]
        else:
            for template in templates:
                args += ["-t", template]
        run = _eval(args, work / f"{name}.json", checkpoint)
        m = run["metrics"]
        classes = len({label for _, label in rows})
        results[name] = {"top1": m["top1"], "top5": m.get("top5"), "chance": 1 / classes,
                         "classes": classes, "count": run["data"]["count"]}  # fmt: skip
        print(f"{name}: top1 {m['top1']:.3f} (chance {1 / classes:.3f})", flush=True)

    def retrieve(name: str, query: str, target: str, rows: list[tuple[str, str]]):
        csv_path = test / f"eval_{name}.csv"
        with csv_path.open("w", newline="") as handle:
            csv.writer(handle).writerows([("query", "target"), *rows])
        run = _eval(["retrieve", str(csv_path), "-q", query, "-t", target],
                    work / f"{name}.json", checkpoint)  # fmt: skip
        results[name] = {**run["metrics"], "chance_R@1": 1 / len({t for _, t in rows})}
        print(f"{name}: {json.dumps(run['metrics'])[:200]}", flush=True)

    classify("image_zero_shot", "image", by_modality["image"], OBJECT_TEMPLATES)
    captions = [(r["input"], r["anchor"]) for r in _read(test / "pairs_text.csv")]
    retrieve("text_to_image", "text", "image", captions)
    for modality in ("audio", "depth", "thermal", "imu"):
        pairs = [(r["input"], r["anchor"]) for r in _read(test / f"pairs_{modality}.csv")]
        retrieve(f"{modality}_to_image", modality, "image", pairs)
    # emergent zero-shot against text: each modality with the classes it can carry
    classify("audio_zero_shot", "audio", by_modality["audio"], OBJECT_TEMPLATES)
    classify("thermal_zero_shot", "thermal", by_modality["thermal"], OBJECT_TEMPLATES)
    shapes = [(path, label.split()[-1]) for path, label in by_modality["depth"]]
    classify("depth_zero_shot_shape", "depth", shapes, SHAPE_TEMPLATES)
    classify("imu_zero_shot_activity", "imu", by_modality["imu"], ACTIVITY_TEMPLATES)
    payload = {
        "model": "binding_mini",
        "test_world": {"seed": SEEDS["test"], "scenes": len(by_modality["image"])},
        "cpu": platform.processor() or platform.machine(),
        "threads": os.cpu_count(),
        "metrics": results,
    }
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out", type=Path)
    for split, default in (("train", 2400), ("val", 240), ("test", 480)):
        p.add_argument(f"--n-{split}", type=int, default=default)
    e = sub.add_parser("evaluate")
    e.add_argument("out", type=Path)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--json", type=Path, default=Path("bench/results/binding_mini.json"))
    args = parser.parse_args()
    if args.command == "prepare":
        args.out.mkdir(parents=True, exist_ok=True)
        prepare(args.out, {"train": args.n_train, "val": args.n_val, "test": args.n_test})
    else:
        evaluate(args.out, args.checkpoint, args.json)


if __name__ == "__main__":
    main()
