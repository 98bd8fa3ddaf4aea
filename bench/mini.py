"""binding_mini: prepare the synthetic world for `scripts/train_mini.sh`, and evaluate the result.

python bench/mini.py prepare OUT --n-train 2400 --n-val 240 --n-test 480
    writes OUT/world/{train,val,test} (binding.world, seeds 1, 2, 3: no test scene is seen
    in training) and OUT/pairs_<modality>.csv: the train and val pairs of each modality in
    one manifest (absolute paths, split train/val) for `binding train`.
python bench/mini.py evaluate OUT --checkpoint FILE --json bench/results/binding_mini.json
    runs `binding eval classify|retrieve` on the test world (OUT/world/test) and collects
    the metrics, each beside chance, into one JSON (table in docs/mini.md).
python bench/mini.py check OUT --checkpoint FILE [--json FILE]
    a quick look at a stage-1 checkpoint (image and text towers only, about a minute): image
    zero-shot over the 18 classes (default and alt style), image -> 5 activities against
    text, and what the image vectors carry (the probe). For recipe experiments before stage 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from binding.models.packaged import file_sha256

SEEDS = {"train": 1, "val": 2, "test": 3}
#: prompt templates for zero-shot (the world's own caption forms, docs/mini.md)
OBJECT_TEMPLATES = ("a {}.", "a photo of a {}.", "{}s on a background.")
ACTIVITY_TEMPLATES = ("a photo taken while {}.", "a photo, shot while {}.")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(out: Path, splits: tuple[str, ...], n: dict[str, int]) -> None:
    from binding.world import write_world

    for split in splits:
        started = time.perf_counter()
        folder = out / ("test" if split == "test" else "world")
        write_world(folder, n=n[split], seed=SEEDS[split], split=split)
        print(
            f"world {split}: {n[split]} scenes in {time.perf_counter() - started:.1f} s", flush=True
        )


def prepare(out: Path, n: dict[str, int]) -> None:
    """Train and val into OUT/world (one manifest per modality), test apart in OUT/test.

    Two processes: train then val (they share manifests), and test beside them.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        jobs = [pool.submit(_write, out, splits, n) for splits in (("train", "val"), ("test",))]
        for job in jobs:
            job.result()


def _eval(args: list[str], out: Path, checkpoint: str) -> dict:
    command = [str(Path(sys.executable).parent / "binding"), "eval", *args, "--model", "binding_mini",
               "--checkpoint", checkpoint, "--no-cache", "--device", "cpu", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _labels(test: Path, modality: str) -> list[tuple[str, str]]:
    folder = test / "labels"
    return [
        (str((folder / r["path"]).resolve()), r["label"])
        for r in _read(folder / f"test_{modality}.csv")
    ]


def evaluate(root: Path, checkpoint: str, result_path: Path) -> dict:
    test = root / "test"
    work = root / "eval"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}

    def classify(name: str, modality: str, rows: list[tuple[str, str]], templates) -> None:
        csv_path = work / f"{name}.csv"
        with csv_path.open("w", newline="") as handle:
            csv.writer(handle).writerows([("path", "label"), *rows])
        args = ["classify", str(csv_path), "--modality", modality]
        for template in templates:
            args += ["-t", template]
        run = _eval(args, work / f"{name}.json", checkpoint)
        m = run["metrics"]
        classes = len({label for _, label in rows})
        results[name] = {"top1": m["top1"], "top5": m.get("top5"), "chance": 1 / classes,
                         "classes": classes, "count": run["data"]["count"],
                         "templates": list(templates)}  # fmt: skip
        print(f"{name}: top1 {m['top1']:.3f} (chance {1 / classes:.3f})", flush=True)

    def retrieve(name: str, query: str) -> None:
        csv_path = test / "retrieval" / f"test_{query}.csv"
        targets = {r["target"] for r in _read(csv_path)}
        run = _eval(["retrieve", str(csv_path), "-q", query, "-t", "image"],
                    work / f"{name}.json", checkpoint)  # fmt: skip
        results[name] = {**run["metrics"], "chance_R@1": 1 / len(targets)}
        print(f"{name}: {json.dumps(run['metrics'])[:160]}", flush=True)

    classify("image_zero_shot", "image", _labels(test, "image"), OBJECT_TEMPLATES)
    # the same scenes drawn another way: never seen in training (docs/mini.md, "Quality")
    for name, rows in drawn_differently(test, work / "drawn").items():
        classify(f"image_{name}_zero_shot", "image", rows, OBJECT_TEMPLATES)
    for modality in ("text", "audio", "depth", "thermal", "imu"):
        retrieve(f"{modality}_image_retrieval", modality)
    # emergent zero-shot against text: each modality with the classes it can carry
    classify("audio_zero_shot", "audio", _labels(test, "audio"), OBJECT_TEMPLATES)
    classify("thermal_zero_shot", "thermal", _labels(test, "thermal"), OBJECT_TEMPLATES)
    shapes = [(path, label.split()[-1]) for path, label in _labels(test, "depth")]
    classify("depth_zero_shot_shape", "depth", shapes, OBJECT_TEMPLATES)
    classify("imu_zero_shot_activity", "imu", _labels(test, "imu"), ACTIVITY_TEMPLATES)
    scenes, images, encoder = _test_images(test, checkpoint)  # embedded once for both
    results["arithmetic_colour_swap"] = colour_swap(scenes, images, encoder)
    print(f"colour swap: {json.dumps(results['arithmetic_colour_swap'])}", flush=True)
    results["image_tower_probe"] = image_probe(scenes, images)
    print(f"image tower probe: {json.dumps(results['image_tower_probe'])}", flush=True)
    latency = text_latency(checkpoint)
    print(f"text query latency: {latency}", flush=True)
    payload = {
        "model": "binding_mini",
        "text_query_latency_ms": latency,
        "weights_sha256": file_sha256(Path(checkpoint)),
        "test_world": {"seed": SEEDS["test"], "scenes": len(_labels(test, "image"))},
        "cpu": cpu_description(),
        "metrics": results,
    }
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def drawn_differently(test: Path, folder: Path) -> dict[str, list[tuple[str, str]]]:
    """The test scenes drawn another way, as (file, class) rows: `alt` (binding.world's other
    style: outlines, other sizes, textured backgrounds, pixel noise) and `jpeg` (the default
    pictures saved as JPEG at quality 30)."""
    from PIL import Image

    from binding.world import render_image, sample_scenes

    rows: dict[str, list[tuple[str, str]]] = {"alt": [], "jpeg": []}
    for kind in rows:
        (folder / kind).mkdir(parents=True, exist_ok=True)
    labelled = _labels(test, "image")
    scenes = sample_scenes(len(labelled), SEEDS["test"])
    for (path, label), scene in zip(labelled, scenes, strict=True):
        assert scene.label == label, "the test world was not written by `prepare`"
        stem = Path(path).stem
        alt, jpeg = folder / "alt" / f"{stem}.png", folder / "jpeg" / f"{stem}.jpg"
        render_image(scene, style="alt").save(alt)
        Image.open(path).convert("RGB").save(jpeg, quality=30)
        rows["alt"].append((str(alt.resolve()), label))
        rows["jpeg"].append((str(jpeg.resolve()), label))
    return rows


def _test_images(test: Path, checkpoint: str) -> tuple[list[dict[str, str]], Any, Any]:
    """The test scenes, their image vectors, and the encoder (image and text towers)."""
    from binding.encoder import Encoder

    scenes = [r for r in _read(test / "scenes.csv") if r["split"] == "test"]
    files = [str((test / "image" / f"{r['id']}.png").resolve()) for r in scenes]
    encoder = Encoder.load("binding_mini", modalities=["image", "text"], checkpoint=checkpoint,
                           device="cpu")  # fmt: skip
    return scenes, encoder.embed("image", files), encoder


def image_probe(scenes: list[dict[str, str]], images: Any) -> dict[str, dict[str, float]]:
    """What the image vectors carry, without text: nearest class centroid, built from the
    even-numbered test scenes and scored on the odd ones, for colour, shape and activity.
    A modality bound to images can only learn what this finds (IMU needs the activity)."""
    import numpy as np

    result = {}
    for attribute in ("colour", "shape", "activity"):
        names = sorted({r[attribute] for r in scenes})
        truth = np.array([names.index(r[attribute]) for r in scenes])
        fit, score = np.arange(0, len(scenes), 2), np.arange(1, len(scenes), 2)
        centroids = np.stack([images[fit][truth[fit] == k].mean(0) for k in range(len(names))])
        predicted = (images[score] @ centroids.T).argmax(1)
        result[attribute] = {"accuracy": round(float(np.mean(predicted == truth[score])), 4),
                             "chance": round(1 / len(names), 4)}  # fmt: skip
    return result


def check(root: Path, checkpoint: str) -> dict[str, Any]:
    """Image-side numbers of a stage-1 checkpoint, computed in process (see the module doc)."""
    from binding.eval.classify import normalise, score_classes

    scenes, images, encoder = _test_images(root / "test", checkpoint)
    alt_rows = drawn_differently(root / "test", root / "eval" / "drawn")["alt"]
    alt = encoder.embed("image", [path for path, _ in alt_rows])

    def zero_shot(vectors: Any, labels: list[str], templates: tuple[str, ...]) -> float:
        classes = sorted(set(labels))
        prompts = [t.format(c) for c in classes for t in templates]
        text = encoder.embed("text", prompts).reshape(len(classes), len(templates), -1)
        truth = [classes.index(label) for label in labels]
        return round(score_classes(vectors, normalise(text.mean(1)), truth, classes).top1, 4)

    labels = [r["label"] for r in scenes]
    result: dict[str, Any] = {
        "image_zero_shot": zero_shot(images, labels, OBJECT_TEMPLATES),
        "image_alt_zero_shot": zero_shot(alt, [label for _, label in alt_rows], OBJECT_TEMPLATES),
        "image_activity_zero_shot": zero_shot(
            images, [r["activity"] for r in scenes], ACTIVITY_TEMPLATES
        ),
        "image_tower_probe": {k: v["accuracy"] for k, v in image_probe(scenes, images).items()},
    }
    return result


def colour_swap(
    scenes: list[dict[str, str]], images: Any, encoder: Any, k: int = 5
) -> dict[str, float]:
    """Embedding arithmetic on every test image: image - "<its colour>" + "<another colour>".

    For each image and each of the 5 other colours, the top k other test images: the share
    with the new colour, with the image's shape, and with both (what the dashboard's "a red
    circle - 'red' + 'blue'" example promises), each beside its chance (1/6, 1/3, 1/18 for a
    uniform world).
    """
    import numpy as np

    from binding.world import COLOURS

    words = dict(zip(COLOURS, encoder.embed("text", list(COLOURS)), strict=True))
    colours = np.array([r["colour"] for r in scenes])
    shapes = np.array([r["shape"] for r in scenes])
    hits = {"colour": [], "shape": [], "both": []}
    for i, row in enumerate(scenes):
        for colour in COLOURS:
            if colour == row["colour"]:
                continue
            query = images[i] - words[row["colour"]] + words[colour]
            scores = images @ (query / np.linalg.norm(query))
            scores[i] = -np.inf
            top = np.argsort(-scores)[:k]
            new_colour, same_shape = colours[top] == colour, shapes[top] == row["shape"]
            hits["colour"].append(new_colour.mean())
            hits["shape"].append(same_shape.mean())
            hits["both"].append((new_colour & same_shape).mean())
    result = {f"{name}_at_{k}": round(float(np.mean(v)), 4) for name, v in hits.items()}
    chance = {"colour": 1 / len(COLOURS), "shape": 1 / 3, "both": 1 / (3 * len(COLOURS))}
    result.update({f"chance_{name}": round(c, 4) for name, c in chance.items()})
    return result


def text_latency(checkpoint: str, repeats: int = 50) -> dict[str, float]:
    """Milliseconds to embed one text query (tokenise + text tower), after a warm-up."""
    import statistics

    import torch

    from binding.encoder import Encoder

    encoder = Encoder.load("binding_mini", modalities=["text"], checkpoint=checkpoint, device="cpu")
    encoder.embed("text", ["a warm-up"])
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        encoder.embed("text", [f"two small red circles on a grey background {i}"])
        times.append((time.perf_counter() - started) * 1000)
    return {"median": round(statistics.median(times), 2), "min": round(min(times), 2),
            "threads": torch.get_num_threads()}  # fmt: skip


def cpu_description() -> str:
    """The CPU model and whether it has native bf16/AMX (figures depend on it), from /proc."""
    import os

    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    native = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {' '.join(native) or 'no AVX-512'}"


def table(payload: dict) -> str:
    """The Quality table of docs/mini.md, from the results JSON."""
    m = payload["metrics"]
    lines = ["| what (test world, seed 3) | metric | binding_mini | chance |", "|---|---|---|---|"]
    for name, what in (
        ("image_zero_shot", "image -> 18 classes (zero-shot, text prompts)"),
        ("image_alt_zero_shot", "image drawn another way (outlines, sizes, noise) -> 18 classes"),
        ("image_jpeg_zero_shot", "image as JPEG (quality 30) -> 18 classes"),
        ("audio_zero_shot", "audio -> 18 classes (emergent: audio never saw text)"),
        ("thermal_zero_shot", "thermal -> 18 classes (emergent)"),
        ("depth_zero_shot_shape", "depth -> 3 shapes (emergent; depth has no colour)"),
        ("imu_zero_shot_activity", "IMU -> 5 activities (emergent; IMU has only activity)"),
    ):
        r = m.get(name)
        if r:
            lines.append(f"| {what} | top-1 | {r['top1']:.3f} | {r['chance']:.3f} |")
    for name, query, what in (
        ("text_image_retrieval", "text", "text <-> image (trained)"),
        ("audio_image_retrieval", "audio", "audio <-> image (trained)"),
        ("depth_image_retrieval", "depth", "depth <-> image (trained)"),
        ("thermal_image_retrieval", "thermal", "thermal <-> image (trained)"),
        ("imu_image_retrieval", "imu", "IMU <-> image (trained)"),
    ):
        r = m[name]
        forward, backward = r[f"{query}->image"], r[f"image->{query}"]
        chance = r["chance_R@1"]
        lines.append(
            f"| {what} | R@1 / R@5, {query} -> image | {forward['R@1']:.3f} / {forward['R@5']:.3f} "
            f"| {chance:.4f} / {5 * chance:.4f} |"
        )
        lines.append(
            f"| | R@1 / R@5, image -> {query} | {backward['R@1']:.3f} / {backward['R@5']:.3f} | |"
        )
    swap = m.get("arithmetic_colour_swap")
    if swap:
        lines.append(
            f'| image - "its colour" + "another colour" (arithmetic) | of the top 5: new '
            f"colour / same shape / both | {swap['colour_at_5']:.3f} / {swap['shape_at_5']:.3f} / "
            f"{swap['both_at_5']:.3f} | {swap['chance_colour']:.3f} / {swap['chance_shape']:.3f} / "
            f"{swap['chance_both']:.3f} |"
        )
    probe = m.get("image_tower_probe")
    if probe:
        lines.append(
            "| image vectors alone (nearest class centroid, half the test scenes -> the other "
            "half) | colour / shape / activity | "
            + " / ".join(f"{probe[a]['accuracy']:.3f}" for a in ("colour", "shape", "activity"))
            + " | "
            + " / ".join(f"{probe[a]['chance']:.3f}" for a in ("colour", "shape", "activity"))
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out", type=Path)
    for split, default in (("train", 3000), ("val", 300), ("test", 600)):
        p.add_argument(f"--n-{split}", type=int, default=default)
    e = sub.add_parser("evaluate")
    e.add_argument("out", type=Path)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--json", type=Path, default=Path("bench/results/binding_mini.json"))
    c = sub.add_parser("check")
    c.add_argument("out", type=Path)
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--json", type=Path, help="also write the numbers here")
    t = sub.add_parser("table")
    t.add_argument("json", type=Path, nargs="?", default=Path("bench/results/binding_mini.json"))
    args = parser.parse_args()
    if args.command == "table":
        print(table(json.loads(args.json.read_text())))
        return
    if args.command == "check":
        numbers = check(args.out, args.checkpoint)
        print(json.dumps(numbers))
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=2) + "\n")
        return
    if args.command == "prepare":
        args.out.mkdir(parents=True, exist_ok=True)
        prepare(args.out, {"train": args.n_train, "val": args.n_val, "test": args.n_test})
    else:
        evaluate(args.out, args.checkpoint, args.json)


if __name__ == "__main__":
    main()
