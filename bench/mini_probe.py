"""Supervised probe of binding_mini's vision tower: can it see an attribute of the world at all?

python bench/mini_probe.py OUT --attribute activity --epochs 4 [--n-train 3000] [--json FILE]

OUT is a folder written by `python bench/mini.py prepare OUT` (train scenes in OUT/world,
test scenes in OUT/test). The vision tower of the binding_mini layout, from seeded random
weights, plus one linear layer on its embedding are trained with cross-entropy on the
attribute's labels of the train scenes (no text, no contrastive loss), and scored on the
test scenes after every epoch. If the tower learns an attribute here in a few epochs, the
pictures carry it visibly and what stage 1 learns is up to the captions and the loss; if it
does not, no recipe will (docs/mini.md, "How the recipe got there").

`--attribute` is a column of scenes.csv: label (the 18 classes), colour, shape, activity,
size, count or background. `--vision-patch` sets the patch size (binding_mini: 16).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from binding.models.network import ImageBind
from binding.models.random_init import random_state_dict
from binding.models.registry import MINI_EMBED_DIM, MINI_TOWER, get_spec, imagebind_arch


def _scenes(folder: Path, split: str, limit: int | None) -> list[dict[str, str]]:
    with (folder / "scenes.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == split]
    return rows[:limit] if limit else rows


def _pictures(folder: Path, rows: list[dict[str, str]]) -> torch.Tensor:
    """The scenes' pictures through the platform's own image preprocessing, one tensor."""
    from binding.inputs import prepare_one
    from binding.modality import Modality

    first = prepare_one(Modality.IMAGE, str(folder / "image" / f"{rows[0]['id']}.png"))[0]
    out = torch.empty((len(rows), *first.shape), dtype=first.dtype)
    for i, row in enumerate(rows):
        out[i] = prepare_one(Modality.IMAGE, str(folder / "image" / f"{row['id']}.png"))[0]
    return out


def probe(
    root: Path, attribute: str, epochs: int, n_train: int | None, vision_patch: int | None,
    batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
) -> dict:  # fmt: skip
    arch = get_spec("binding_mini").arch
    if vision_patch:  # the same layout with another vision stem (only the vision tower is used)
        towers = dict.fromkeys(("vision", "text", "audio", "depth", "thermal", "imu"), MINI_TOWER)
        arch = imagebind_arch(embed_dim=MINI_EMBED_DIM, vision_patch=vision_patch, **towers)
    train_rows = _scenes(root / "world", "train", n_train)
    test_rows = _scenes(root / "test", "test", None)
    classes = sorted({r[attribute] for r in train_rows})
    started = time.perf_counter()
    x_train, x_test = _pictures(root / "world", train_rows), _pictures(root / "test", test_rows)
    y_train = torch.tensor([classes.index(r[attribute]) for r in train_rows])
    y_test = torch.tensor([classes.index(r[attribute]) for r in test_rows])
    decode_s = time.perf_counter() - started
    torch.manual_seed(seed)
    network = ImageBind(arch, modalities=["vision"])  # the same seeded init as --from-scratch
    network.load_state_dict(random_state_dict(arch, seed, ["vision"]))
    head = torch.nn.Linear(arch.embed_dim, len(classes))
    parameters = [*network.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.05)
    steps = epochs * ((len(train_rows) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=steps, pct_start=0.1)
    history = []
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        network.train()
        order = torch.randperm(len(train_rows), generator=generator)
        t0 = time.perf_counter()
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            logits = head(network.embed("vision", x_train[batch], normalize=True))
            loss = torch.nn.functional.cross_entropy(logits, y_train[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        network.eval()
        with torch.no_grad():
            predicted = torch.cat([
                head(network.embed("vision", x_test[i : i + 256], normalize=True)).argmax(1)
                for i in range(0, len(x_test), 256)
            ])  # fmt: skip
        accuracy = float((predicted == y_test).float().mean())
        history.append({"epoch": epoch, "test_accuracy": round(accuracy, 4),
                        "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        print(f"epoch {epoch}: test accuracy {accuracy:.3f} "
              f"({history[-1]['seconds']} s)", flush=True)  # fmt: skip
    return {
        "attribute": attribute,
        "classes": classes,
        "chance": round(1 / len(classes), 4),
        "train_scenes": len(train_rows),
        "test_scenes": len(test_rows),
        "vision_patch": vision_patch or 16,
        "decode_seconds": round(decode_s, 1),
        "threads": torch.get_num_threads(),
        "history": history,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--attribute", default="label")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--vision-patch", type=int)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = probe(args.out, args.attribute, args.epochs, args.n_train, args.vision_patch)
    print("| epoch | test accuracy | chance |\n|---|---|---|")
    for row in result["history"]:
        print(f"| {row['epoch']} | {row['test_accuracy']:.3f} | {result['chance']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
