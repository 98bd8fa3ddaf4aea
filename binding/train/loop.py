"""One training loop, read top to bottom: contrastive pairs -> a tower in the shared space.

`fit` trains `Run.model` (a `Contrastive` module: the input tower, optionally a trainable
anchor tower, and the temperature) on in-memory tensors. The anchor side is either fixed
vectors (bind, lora, pair with a frozen side: computed once) or a trainable tower (pair).
Each step is a pure function of (seed, step): the batch comes from a per-epoch permutation
seeded by the epoch, so a resume from a checkpoint replays the same steps.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from torch import nn

from binding.train import distributed
from binding.train.augment import Augment
from binding.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_atomic,
)
from binding.train.distributed import World
from binding.train.loss import ContrastiveLoss
from binding.train.metrics import chance_recall, recall_at_k


@dataclass(frozen=True)
class LoopConfig:
    """The optimisation settings; saved in every checkpoint and in the report."""

    epochs: int = 20
    batch_size: int = 64  # global, across all processes
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    temperature: float = 0.07
    seed: int = 0
    checkpoint_every: int = 50  # steps
    patience: int = 5  # evaluations without a better validation recall@1
    noise: float = 0.05  # Gaussian noise added to normalised array inputs (augmentation)
    precision: str = "auto"  # auto | fp32 | bf16
    max_steps: int = 0  # stop after this many steps (0: no limit); for smoke runs


class Contrastive(nn.Module):
    """The trainable part: input tower, optional anchor tower, and the loss's temperature."""

    def __init__(self, inputs: nn.Module, anchors: nn.Module | None, loss: ContrastiveLoss):
        super().__init__()
        self.inputs = inputs
        self.anchors = anchors
        self.loss = loss

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u = self.inputs(x)
        v = self.anchors(y) if self.anchors is not None else y
        return self.loss(u, v)


@dataclass
class Run:
    """What `fit` trains on, and where it writes."""

    model: Contrastive
    train_x: torch.Tensor
    train_y: torch.Tensor  # anchor vectors, or anchor inputs when `model.anchors` trains
    val_x: torch.Tensor
    val_y: torch.Tensor
    out: Path
    config: LoopConfig
    run_config: dict[str, Any]  # everything that identifies the run (checked on resume)
    augment_inputs: Augment | None = None  # per-step changes to the input batch (augment.py)
    augment_anchors: Augment | None = None  # the same for a trainable anchor tower's batch
    zero_shot: Callable[[nn.Module], float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def bf16_native(device: torch.device) -> bool:
    """Does this device compute bf16 natively (GPU with bf16; CPU with AVX512-BF16/AMX)?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "bf16":
        return True
    return precision == "auto" and bf16_native(device)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup from ~0 to 1 over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def embed_all(tower: nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    was_training = tower.training
    tower.eval()
    parts = [tower(x[i : i + batch]).float().cpu() for i in range(0, len(x), batch)]
    tower.train(was_training)
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)


def evaluate(run: Run, device: torch.device) -> dict[str, Any]:
    """Held-out recall@1/5/10 in both directions (and the zero-shot score when available)."""
    model = run.model
    u = embed_all(model.inputs, run.val_x.to(device))
    if model.anchors is not None:
        v = embed_all(model.anchors, run.val_y.to(device))
    else:
        v = run.val_y.numpy()
    forward, backward = recall_at_k(u, v), recall_at_k(v, u)
    result: dict[str, Any] = {
        "recall_at_1": {"input_to_anchor": forward[1], "anchor_to_input": backward[1]},
        "recall": {
            "input_to_anchor": {str(k): r for k, r in forward.items()},
            "anchor_to_input": {str(k): r for k, r in backward.items()},
        },
        "chance": chance_recall(len(u)),
    }
    if run.zero_shot is not None:
        result["zero_shot_accuracy"] = run.zero_shot(model.inputs)
    return result


def _score(evaluation: dict[str, Any]) -> float:
    recall = evaluation["recall_at_1"]
    return float((recall["input_to_anchor"] + recall["anchor_to_input"]) / 2)


class _Interrupt:
    """Ctrl-C (SIGINT) sets a flag the loop reads after each step: it saves and stops."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _Interrupt:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            self._previous = None
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def fit(run: Run, device: torch.device, world: World, *, quiet: bool = False) -> dict[str, Any]:
    """Train, evaluate each epoch, checkpoint every N steps; returns the final summary.

    Early stopping keeps the weights of the best validation recall@1 (mean of the two
    directions); `run.model` holds them on return.
    """
    config = run.config
    torch.manual_seed(config.seed)
    model = run.model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]  # biases, norms, temperature: no decay
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    n_train = len(run.train_x)
    batch = min(config.batch_size, n_train)
    if batch % world.size:
        raise ValueError(f"batch size {batch} is not divisible by {world.size} processes")
    local = batch // world.size
    steps_per_epoch = max(1, n_train // batch)
    total = config.epochs * steps_per_epoch
    if config.max_steps:
        total = min(total, config.max_steps)
    warmup = max(1, round(total * config.warmup_fraction))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup)
    )
    ddp: nn.Module = model
    if world.distributed:
        ddp = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    step, best, best_state, stale = 0, -1.0, copy.deepcopy(model.state_dict()), 0
    history = run.history
    checkpoint_path = run.out / CHECKPOINT_NAME
    if run.run_config.get("resume") and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, run.run_config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, best, best_state, stale = (
            state["step"],
            state["best"],
            state["best_state"],
            state["stale"],
        )
        history[:] = state["history"]
        restore_rng_states(state["rng"])

    def save() -> None:
        if world.is_main:
            save_atomic(
                {
                    "config": run.run_config,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "best": best,
                    "best_state": best_state,
                    "stale": stale,
                    "history": history,
                    "rng": rng_states(),
                },
                checkpoint_path,
            )
        distributed.barrier(world)

    log_path = run.out / "metrics.jsonl"
    if world.is_main:  # the log restarts from the checkpoint's history (no replayed rows)
        log_path.write_text("".join(json.dumps(r) + "\n" for r in history))
    bf16 = use_bf16(config.precision, device)
    progress = _progress(quiet or not world.is_main, total)
    stopped = "finished"
    started, seen = time.perf_counter(), 0
    with progress, _Interrupt() as interrupt:
        task = progress.add_task(
            "training",
            total=total,
            completed=step,
            loss=0.0,
            lr=0.0,
            speed=0.0,
            recall=_last_recall(history),
        )
        model.train()
        while step < total:
            epoch, offset = divmod(step, steps_per_epoch)
            order = torch.randperm(
                n_train, generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            )
            rows = order[offset * batch : (offset + 1) * batch][
                world.rank * local : (world.rank + 1) * local
            ]
            x, y = run.train_x[rows].to(device), run.train_y[rows].to(device)
            # drawn for the global batch, then sliced: the same batch for 1 or N processes
            part = slice(world.rank * local, (world.rank + 1) * local)
            if run.augment_inputs is not None:
                generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
                x = run.augment_inputs(x, generator, batch, part)
            if run.augment_anchors is not None:
                generator = torch.Generator().manual_seed(config.seed * 1_000_033 + step + 1)
                y = run.augment_anchors(y, generator, batch, part)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = ddp(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            seen += batch
            lr = scheduler.get_last_lr()[0]
            row: dict[str, Any] = {
                "kind": "step",
                "step": step,
                "epoch": epoch,
                "loss": float(loss.item()),
                "lr": lr,
                "temperature": float(1 / model.loss.scale.item()),
            }
            history.append(row)
            _log(log_path, row, world)
            speed = seen / max(1e-9, time.perf_counter() - started)
            progress.update(task, completed=step, loss=row["loss"], lr=lr, speed=speed)

            end_of_epoch = step % steps_per_epoch == 0 or step == total
            if end_of_epoch:
                evaluation = {"kind": "eval", "step": step, "epoch": epoch, **evaluate(run, device)}
                history.append(evaluation)
                _log(log_path, evaluation, world)
                progress.update(task, recall=evaluation["recall_at_1"]["input_to_anchor"])
                if _score(evaluation) > best:
                    best, best_state, stale = (
                        _score(evaluation),
                        copy.deepcopy(model.state_dict()),
                        0,
                    )
                else:
                    stale += 1
                model.train()
            interrupted = distributed.any_rank(world, interrupt.requested)
            early = end_of_epoch and stale >= config.patience
            if step % config.checkpoint_every == 0 or interrupted or early or step == total:
                save()
            if interrupted:
                stopped = "interrupted"
                break
            if early:
                stopped = "early stopping"
                break
    model.load_state_dict(best_state)
    evaluations = [r for r in history if r["kind"] == "eval"]
    best_eval = max(evaluations, key=_score) if evaluations else evaluate(run, device)
    return {
        "stopped": stopped,
        "steps": step,
        "total_steps": total,
        "samples_per_second": seen / max(1e-9, time.perf_counter() - started),
        "bf16": bf16,
        "final": best_eval,
    }


def _last_recall(history: list[dict[str, Any]]) -> float:
    evaluations = [r for r in history if r["kind"] == "eval"]
    return float(evaluations[-1]["recall_at_1"]["input_to_anchor"]) if evaluations else 0.0


def _log(path: Path, row: dict[str, Any], world: World) -> None:
    if world.is_main:
        with path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


def _progress(disabled: bool, total: int) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f} lr {task.fields[lr]:.2e}"),
        TextColumn("{task.fields[speed]:.0f} samples/s val R@1 {task.fields[recall]:.3f}"),
        TimeRemainingColumn(),
        disable=disabled,
        transient=False,
    )
