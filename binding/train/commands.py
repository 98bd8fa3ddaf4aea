"""The three jobs behind `binding train bind|pair|lora`: data -> `fit` -> a model folder.

- bind: a new tower for arrays of a new modality, against fixed vectors of a frozen anchor.
- pair: two towers at once; the input side is a built-in tower of `--model` or a new array
  tower, the anchor side a built-in tower, trainable unless `freeze_anchor`.
- lora: adapters on a built-in tower of `--model`, against fixed anchor vectors.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from binding.config import Settings
from binding.errors import ConfigurationError
from binding.modality import NETWORK_INPUT, Modality, parse_modality
from binding.train import augment, distributed
from binding.train.anchors import anchor_vectors, content_hash, weights_hash
from binding.train.loop import Contrastive, LoopConfig, Run, fit
from binding.train.loss import ContrastiveLoss
from binding.train.manifest import CheckedPairs, Pair, read_pairs, split_pairs, validate_pairs
from binding.train.report import write_report
from binding.train.saved import BaseTower, base_tower, save_tensors, write_spec
from binding.train.towers import ArrayTower, size_tower

KINDS = ("bind", "pair", "lora")
#: Prompt for the emergent zero-shot score (new modality -> text), as CLIP's simplest template.
ZERO_SHOT_PROMPT = "a photo of a {}."


@dataclass(frozen=True)
class TrainRequest:
    """One `binding train` run: what to train, on what, and how."""

    kind: str
    manifest: str
    modality: str
    out: str
    anchor: str = "image"
    model: str | None = None
    device: str | None = None
    resume: bool = False
    val_fraction: float = 0.1
    width: int = 128
    blocks: int = 4
    heads: int = 4
    lora_rank: int = 8
    lora_alpha: float = 16.0
    merge: bool = False
    freeze_anchor: bool = False
    from_scratch: bool = False  # built-in towers start from random weights (seeded)
    checkpoint: str | None = None  # weights of --model for frozen anchors and zero-shot text
    augment: bool = False  # shifts and flips of built-in modalities' items (train/augment.py)
    loop: LoopConfig = field(default_factory=LoopConfig)

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match for `--resume` (see checkpoint.load_checkpoint)."""
        values = asdict(self)
        loop = values.pop("loop")
        return {**values, **{f"loop.{k}": v for k, v in loop.items()}}


def _builtin(modality: str) -> Modality | None:
    """The built-in modality called `modality`; None for a new one (a trained modality
    registered from BINDING_TOWERS counts as new: its arrays train a new tower)."""
    try:
        found = parse_modality(modality)
    except ValueError:
        return None
    return found if found.spec.builtin else None


def _prepare_items(modality: Modality, items: list[str]) -> torch.Tensor:
    """Network items of a built-in modality, one per input (the first clip of each)."""
    from binding.inputs import prepare, prepare_one

    if modality is Modality.TEXT:  # tokenised in one go
        return torch.stack([clips[0] for clips in prepare(modality, items)])
    rows = _Rows(len(items))
    for item in items:
        rows.add(prepare_one(modality, item)[0])
    return rows.result()


class _Rows:
    """The first clip of each item of one side, written into one tensor as items decode.

    A list of tensors stacked at the end would hold every decoded item twice at the peak;
    this holds it once (6,000 images of 224 x 224 are 3.6 GB in fp32).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self.tensor: torch.Tensor | None = None

    def add(self, clip: torch.Tensor) -> None:
        if self.tensor is None:
            self.tensor = torch.empty((self.capacity, *clip.shape), dtype=clip.dtype)
        self.tensor[self.count] = clip
        self.count += 1

    def result(self) -> torch.Tensor:
        assert self.tensor is not None, "no item decoded"
        return self.tensor[: self.count]


def run_training(
    request: TrainRequest, *, settings: Settings | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Run the job and write its model folder; returns the summary `--json` prints."""
    if request.kind not in KINDS:
        raise ConfigurationError(f"unknown training kind {request.kind!r}: use {', '.join(KINDS)}")
    settings = settings or Settings()
    if request.checkpoint is not None:
        # an explicit checkpoint wins over BINDING_SEED (random weights) for the anchor
        settings = settings.model_copy(update={"checkpoint": request.checkpoint, "seed": None})
    model_name = request.model or settings.model
    device = torch.device(request.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    world = distributed.setup(device)
    device = distributed.device_for(world, device)
    out = Path(request.out)
    try:
        if world.is_main:
            out.mkdir(parents=True, exist_ok=True)
        distributed.barrier(world)
        return _run(request, settings, model_name, device, world, out, quiet)
    finally:
        distributed.teardown(world)


def _run(
    request: TrainRequest,
    settings: Settings,
    model_name: str,
    device: torch.device,
    world: distributed.World,
    out: Path,
    quiet: bool,
) -> dict[str, Any]:
    anchor_modality = parse_modality(request.anchor)
    builtin = _builtin(request.modality)
    if request.kind == "lora" and builtin is None:
        raise ConfigurationError(
            f"lora adapts a built-in tower; {request.modality!r} is not one "
            "(use `binding train bind` for a new modality)"
        )
    if request.from_scratch and builtin is None:
        raise ConfigurationError(
            f"--from-scratch retrains a built-in tower; {request.modality!r} is not one "
            "(a new modality's tower always starts from random weights)"
        )
    if request.from_scratch and request.kind == "lora":
        raise ConfigurationError(
            "--from-scratch does not apply to lora (it adapts trained weights)"
        )
    # bind: arrays into a new tower, or (--from-scratch) a built-in modality's own tower
    array_input = builtin is None or (request.kind == "bind" and not request.from_scratch)
    scratch_seed = request.loop.seed if request.from_scratch else None
    trainable_anchor = request.kind == "pair" and not request.freeze_anchor

    pairs = read_pairs(request.manifest)
    decoded_inputs = decoded_anchors = None  # network items, when the check decoded them
    if array_input:
        checked = validate_pairs(pairs, anchor_is_text=anchor_modality is Modality.TEXT)
    else:
        assert builtin is not None
        checked, decoded_inputs, decoded_anchors = _decode_pairs(
            pairs, builtin, anchor_modality, keep_anchors=trainable_anchor
        )
    if world.is_main:
        (out / "problems.txt").write_text("".join(line + "\n" for line in checked.problems))
    if len(checked.pairs) < 4:
        raise ConfigurationError(
            f"{request.manifest}: only {len(checked.pairs)} usable pair(s) "
            f"({len(checked.problems)} left out, see {out / 'problems.txt'}); at least 4 are needed"
        )
    train_rows, val_rows = split_pairs(
        checked, val_fraction=request.val_fraction, seed=request.loop.seed
    )
    if len(val_rows) < 2:
        raise ConfigurationError(
            "at least 2 validation pairs are needed (more pairs or a larger --val-fraction)"
        )

    anchors_items = [pair.anchor for pair in checked.pairs]
    # rank 0 computes (and caches) the anchor vectors; the other ranks then read the cache
    anchor_hash = ""
    vectors = np.zeros((0, 0), np.float32)
    # from scratch with a trainable anchor: no anchor weights exist yet, nothing to embed
    skip_vectors = request.from_scratch and trainable_anchor
    for turn in (0, 1):
        if skip_vectors:
            break
        if (turn == 0) == world.is_main:
            vectors, anchor_hash = anchor_vectors(
                anchors_items,
                modality=anchor_modality.value,
                model=model_name,
                settings=settings,
                device=str(device),
            )
        distributed.barrier(world)
    if skip_vectors:
        from binding import models

        embed_dim = models.get_spec(model_name).embed_dim
    else:
        embed_dim = int(vectors.shape[1])

    torch.manual_seed(request.loop.seed)
    input_tower: nn.Module
    spec_tower: dict[str, Any]
    preprocessing: dict[str, Any]
    if array_input:
        x = torch.from_numpy(np.stack(checked.arrays))
        config = size_tower(
            request.modality,
            tuple(x.shape[1:]),
            embed_dim=embed_dim,
            width=request.width,
            blocks=request.blocks,
            heads=request.heads,
        )
        tower = ArrayTower(config)
        train_x = x[train_rows]
        dims = [0] + list(range(2, x.ndim))
        tower.set_normalization(train_x.mean(dim=dims), train_x.std(dim=dims))
        input_tower = tower
        spec_tower = {"type": "array", "config": config.to_json()}
        preprocessing = {
            "channel_mean": tower.mean.tolist(),  # type: ignore[operator]
            "channel_std": tower.std.tolist(),  # type: ignore[operator]
            "note": "arrays are standardised per channel inside the tower, then zero-padded "
            "to a whole number of patches",
        }
        input_kind = {"kind": config.kind, "shape": list(config.input_shape)}
    else:
        assert builtin is not None
        x = (
            _prepare_items(builtin, [pair.input for pair in checked.pairs])
            if decoded_inputs is None
            else decoded_inputs
        )
        base = base_tower(model_name, NETWORK_INPUT[builtin], settings, seed=scratch_seed)
        input_tower = base
        spec_tower = {
            "type": "base",
            "model": model_name,
            "network_input": NETWORK_INPUT[builtin],
            "from_scratch": request.from_scratch,
        }
        preprocessing = {"builtin": builtin.value}
        input_kind = {"kind": builtin.value, "shape": list(x.shape[1:])}

    lora_info: dict[str, Any] | None = None
    if request.kind == "lora":
        from binding.train.lora import add_adapters

        targets = add_adapters(input_tower, request.lora_rank, request.lora_alpha)
        lora_info = {"rank": request.lora_rank, "alpha": request.lora_alpha, "targets": targets}

    anchor_tower: nn.Module | None = None
    y = torch.from_numpy(vectors)
    if trainable_anchor:
        anchor_tower = base_tower(
            model_name, NETWORK_INPUT[anchor_modality], settings, seed=scratch_seed
        )
        y = (
            _prepare_items(anchor_modality, anchors_items)
            if decoded_anchors is None
            else decoded_anchors
        )

    # the zero-shot score needs a trained text tower: none while training from scratch
    # without --checkpoint, and none when text is the side being trained
    text_side = builtin is Modality.TEXT or anchor_modality is Modality.TEXT
    zero_shot = (
        None
        if text_side or (request.from_scratch and settings.checkpoint is None)
        else _zero_shot(checked, val_rows, model_name, settings, device, x)
    )
    model = Contrastive(input_tower, anchor_tower, ContrastiveLoss(request.loop.temperature))
    train_x = x[train_rows]
    augment_inputs = augment_anchors = None
    if array_input:  # arrays get noise only: their shape need not be a picture's
        if request.loop.noise:
            augment_inputs = augment.noise(request.loop.noise * float(train_x.float().std()))
    elif request.augment:
        assert builtin is not None
        augment_inputs = augment.for_modality(builtin.value)
    if request.augment and trainable_anchor:
        augment_anchors = augment.for_modality(anchor_modality.value)
    run = Run(
        model=model,
        train_x=train_x,
        train_y=y[train_rows],
        val_x=x[val_rows],
        val_y=y[val_rows],
        out=out,
        config=request.loop,
        run_config=request.identity(),
        augment_inputs=augment_inputs,
        augment_anchors=augment_anchors,
        zero_shot=zero_shot,
    )
    result = fit(run, device, world, quiet=quiet)

    data_hash = hashlib.sha256(
        "\n".join(
            f"{content_hash(p.anchor, is_text=anchor_modality is Modality.TEXT)}:{_input_hash(p)}"
            for p in checked.pairs
        ).encode()
    ).hexdigest()
    final = result["final"]
    summary: dict[str, Any] = {
        "kind": request.kind,
        "modality": request.modality,
        "recall_at_1": final["recall_at_1"],
        "recall": final["recall"],
        "chance": final["chance"],
        "validation_pairs": len(val_rows),
        "training_pairs": len(train_rows),
        "left_out_pairs": len(checked.problems),
        "stopped": result["stopped"],
        "steps": result["steps"],
        "samples_per_second": result["samples_per_second"],
        "bf16": result["bf16"],
        "out": str(out),
    }
    if "zero_shot_accuracy" in final:
        summary["zero_shot_accuracy"] = final["zero_shot_accuracy"]
    if world.is_main:
        files = _save_weights(out, model, request, lora_info is not None)
        write_spec(
            out,
            {
                "kind": request.kind,
                "modality": request.modality,
                "input": input_kind,
                "tower": spec_tower,
                "preprocessing": preprocessing,
                "anchor": {
                    "modality": anchor_modality.value,
                    "model": model_name,
                    "hash": anchor_hash,
                    "trained": anchor_tower is not None,
                },
                "data_hash": data_hash,
                "metrics": {
                    k: summary[k] for k in ("recall_at_1", "recall", "chance", "validation_pairs")
                },
                "files": files,
                **({"lora": lora_info} if lora_info else {}),
            },
        )
        write_report(
            out,
            {**summary, "config": request.identity(), "problems": checked.problems},
            run.history,
        )
    distributed.barrier(world)
    return summary


def _input_hash(pair: Pair) -> str:
    """A file's bytes, or the text itself (pair: a text side)."""
    return content_hash(pair.input, is_text=not Path(pair.input).is_file())


def _decode_pairs(
    pairs: list[Pair], modality: Modality, anchor: Modality, *, keep_anchors: bool
) -> tuple[CheckedPairs, torch.Tensor | None, torch.Tensor | None]:
    """Pairs of two built-in modalities, each file decoded once: a file that is missing or
    does not decode leaves its pair out (one line in `problems`). Returns the kept pairs and
    the network items of each non-text side, in the kept pairs' order; the anchors' only
    when `keep_anchors` (a trainable anchor tower: a frozen one needs only its vectors)."""
    from binding.errors import InputError
    from binding.inputs import prepare_one

    kept: list[Pair] = []
    problems: list[str] = []
    sides = {"input": modality, "anchor": anchor}
    kept_sides = [side for side in sides if side == "input" or keep_anchors]
    rows = {side: _Rows(len(pairs)) for side in kept_sides if sides[side] is not Modality.TEXT}
    for pair in pairs:
        bad, clips = None, {}
        for side, side_modality in sides.items():
            value = pair.anchor if side == "anchor" else pair.input
            if side_modality is Modality.TEXT:
                if not value:
                    bad = f"pair {pair.line}: empty {side} text"
                continue
            if not Path(value).is_file():
                bad = f"pair {pair.line}: {side} file not found: {value}"
                break
            try:
                clips[side] = prepare_one(side_modality, value)[0]
            except (InputError, ValueError, OSError) as error:
                bad = f"pair {pair.line}: {side} {value}: {error}"
                break
        if bad:
            problems.append(bad)
            continue
        kept.append(pair)
        for side, clip in clips.items():
            if side in rows:
                rows[side].add(clip)
    decoded = {side: r.result() if r.count else None for side, r in rows.items()}
    return CheckedPairs(kept, [], problems), decoded.get("input"), decoded.get("anchor")


def _zero_shot(
    checked: CheckedPairs,
    val_rows: list[int],
    model_name: str,
    settings: Settings,
    device: torch.device,
    x: torch.Tensor,
) -> Any:
    """A function scoring the input tower on new modality -> text, if labels and a text tower exist."""
    from binding import models

    labels = [checked.pairs[i].label for i in val_rows]
    if any(label is None for label in labels):
        return None
    if "text" not in models.get_spec(model_name).arch.modalities:
        return None
    classes = sorted({str(label) for label in labels})
    prompts = [ZERO_SHOT_PROMPT.format(name) for name in classes]
    text_vectors, _ = anchor_vectors(
        prompts, modality="text", model=model_name, settings=settings, device=str(device)
    )
    targets = np.array([classes.index(str(label)) for label in labels])
    val_x = x[val_rows]

    def score(tower: nn.Module) -> float:
        from binding.train.loop import embed_all
        from binding.train.metrics import zero_shot_accuracy

        return zero_shot_accuracy(embed_all(tower, val_x.to(device)), targets, text_vectors)

    return score


def _save_weights(
    out: Path, model: Contrastive, request: TrainRequest, lora: bool
) -> dict[str, str]:
    files: dict[str, str] = {}
    tower = model.inputs
    if lora:
        from binding.train.lora import adapter_state, merge_adapters

        save_tensors(adapter_state(tower), out / "adapter.safetensors")
        files["adapter"] = "adapter.safetensors"
        if request.merge:
            merge_adapters(tower)
            save_tensors(tower.state_dict(), out / "tower.safetensors")
            files["merged_tower"] = "tower.safetensors"
        return files
    save_tensors(tower.state_dict(), out / "tower.safetensors")
    files["tower"] = "tower.safetensors"
    if model.anchors is not None:
        assert isinstance(model.anchors, BaseTower)
        save_tensors(model.anchors.state_dict(), out / "anchor.safetensors")
        files["anchor"] = "anchor.safetensors"
        files["anchor_hash"] = weights_hash(model.anchors)
    return files
