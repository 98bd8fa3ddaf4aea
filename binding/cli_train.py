"""`binding train bind|pair|lora`: train a tower into the shared space (see docs/train.md).

binding train bind pairs.csv --modality tactile --out models/tactile
binding train pair pairs.csv --modality audio --anchor text --out models/audio-text
binding train lora pairs.csv --modality image --anchor text --out models/image-lora
torchrun --nproc-per-node 2 -m binding.train bind pairs.csv --modality tactile --out m/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

train_app = typer.Typer(
    name="train",
    help="Train a tower: bind a new modality, train two towers, or LoRA-adapt one.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ManifestArg = Annotated[
    Path,
    typer.Argument(
        help="CSV or JSON Lines manifest (columns anchor, input[, split, label]) or a folder."
    ),
]
ModalityOpt = Annotated[str, typer.Option("--modality", help="Name of the input side's modality.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the trained model and its report.")]
AnchorOpt = Annotated[
    str, typer.Option("--anchor", help="Modality of the anchor side (a tower of --model).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Base model (default: BINDING_MODEL).")
]
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1, help="Passes over the training pairs.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Same seed, same machine: same weights.")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cpu, cuda, cuda:1 (default: cuda if present).")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in --out.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object at the end.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=2, help="Global batch (all processes).")]
LrOpt = Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")]
EveryOpt = Annotated[
    int, typer.Option("--checkpoint-every", min=1, help="Checkpoint every N steps.")
]
PatienceOpt = Annotated[
    int, typer.Option("--patience", min=1, help="Evaluations without progress before stopping.")
]
PrecisionOpt = Annotated[
    str, typer.Option("--precision", help="auto (bf16 where native), fp32 or bf16.")
]
MaxStepsOpt = Annotated[
    int, typer.Option("--max-steps", min=0, help="Stop after N steps (0: no limit).")
]
ValOpt = Annotated[
    float, typer.Option("--val-fraction", help="Held-out share when the manifest has no split.")
]


def _run(request_kwargs: dict[str, object], loop_kwargs: dict[str, object], as_json: bool) -> None:
    from binding.errors import BindingError
    from binding.train.checkpoint import CheckpointError
    from binding.train.commands import TrainRequest, run_training
    from binding.train.loop import LoopConfig
    from binding.train.manifest import ManifestError

    err = Console(stderr=True)
    request = TrainRequest(**request_kwargs, loop=LoopConfig(**loop_kwargs))  # type: ignore[arg-type]
    try:
        summary = run_training(request, quiet=as_json)
    except (BindingError, ManifestError, CheckpointError, ValueError) as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from error
    problems = Path(summary["out"]) / "problems.txt"
    if problems.is_file():
        for line in problems.read_text().splitlines():
            err.print(f"[yellow]left out[/yellow] {escape(line)}")
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    recall = summary["recall_at_1"]
    Console().print(
        f"{summary['stopped']} after {summary['steps']} steps: held-out recall@1 "
        f"{recall['input_to_anchor']:.3f} (input→anchor), {recall['anchor_to_input']:.3f} "
        f"(anchor→input), chance {summary['chance']:.3f}, {summary['validation_pairs']} "
        f"validation pairs; model in {escape(summary['out'])}"
    )


def _command(kind: str) -> None:
    def command(
        manifest: ManifestArg,
        modality: ModalityOpt,
        out: OutOpt,
        anchor: AnchorOpt = "image",
        model: ModelOpt = None,
        epochs: EpochsOpt = 20,
        seed: SeedOpt = 0,
        device: DeviceOpt = None,
        resume: ResumeOpt = False,
        as_json: JsonOpt = False,
        batch_size: BatchOpt = 64,
        lr: LrOpt = 1e-3,
        checkpoint_every: EveryOpt = 50,
        patience: PatienceOpt = 5,
        precision: PrecisionOpt = "auto",
        max_steps: MaxStepsOpt = 0,
        val_fraction: ValOpt = 0.1,
        width: Annotated[int, typer.Option(help="bind: width of the new tower.")] = 128,
        blocks: Annotated[int, typer.Option(help="bind: transformer blocks of the new tower.")] = 4,
        heads: Annotated[int, typer.Option(help="bind: attention heads of the new tower.")] = 4,
        rank: Annotated[int, typer.Option("--rank", help="lora: adapter rank r.")] = 8,
        alpha: Annotated[float, typer.Option("--alpha", help="lora: adapter scale alpha.")] = 16.0,
        merge: Annotated[
            bool, typer.Option("--merge", help="lora: also save merged weights.")
        ] = False,
        temperature: Annotated[
            float, typer.Option("--temperature", help="Initial InfoNCE temperature (learned).")
        ] = 0.07,
        freeze_anchor: Annotated[
            bool, typer.Option("--freeze-anchor", help="pair: keep the anchor tower fixed.")
        ] = False,
        from_scratch: Annotated[
            bool,
            typer.Option(
                "--from-scratch",
                help="pair, bind: built-in towers start from seeded random weights "
                "(a model without weights yet; bind retrains the modality's own tower).",
            ),
        ] = False,
        checkpoint: Annotated[
            str | None,
            typer.Option(
                "--checkpoint",
                help="Weights of --model for the frozen anchor and the zero-shot text tower "
                "(default: BINDING_CHECKPOINT, else the model's own).",
            ),
        ] = None,
        augment: Annotated[
            bool,
            typer.Option(
                "--augment",
                help="Change built-in items each step: pictures shifted and flipped, audio and "
                "IMU shifted in time (arrays of a new modality always get noise).",
            ),
        ] = False,
    ) -> None:
        _run(
            {
                "kind": kind,
                "manifest": str(manifest),
                "modality": modality,
                "out": str(out),
                "anchor": anchor,
                "model": model,
                "device": device,
                "resume": resume,
                "val_fraction": val_fraction,
                "width": width,
                "blocks": blocks,
                "heads": heads,
                "lora_rank": rank,
                "lora_alpha": alpha,
                "merge": merge,
                "freeze_anchor": freeze_anchor,
                "from_scratch": from_scratch,
                "checkpoint": checkpoint,
                "augment": augment,
            },
            {
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "seed": seed,
                "checkpoint_every": checkpoint_every,
                "temperature": temperature,
                "patience": patience,
                "precision": precision,
                "max_steps": max_steps,
            },
            as_json,
        )

    helps = {
        "bind": "Learn an encoder for a new modality against a frozen anchor tower (ImageBind's recipe).",
        "pair": "Train two towers at once (the anchor too, unless --freeze-anchor).",
        "lora": "Adapt a built-in tower with LoRA adapters (base frozen).",
    }
    train_app.command(kind, help=helps[kind])(command)


for _kind in ("bind", "pair", "lora"):
    _command(_kind)


@train_app.command("assemble")
def assemble_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Model folders of `binding train pair|bind` runs.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The network's .safetensors file.")],
    model: ModelOpt = None,
    fp32: Annotated[bool, typer.Option("--fp32", help="Keep fp32 (default: fp16).")] = False,
    complete: Annotated[
        bool, typer.Option("--complete", help="Require every tower of the model.")
    ] = False,
) -> None:
    """Merge trained built-in towers into one state dict with the network's own key names."""
    from binding.config import Settings
    from binding.train.assemble import AssembleError, assemble

    err = Console(stderr=True)
    try:
        result = assemble(
            [str(f) for f in folders],
            str(out),
            model=model or Settings().model,
            fp16=not fp32,
            complete=complete,
        )
    except AssembleError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from error
    Console().print(
        f"{escape(str(out))}: towers {', '.join(result['towers'])}, {result['tensors']} tensors, "
        f"{result['size_bytes']} bytes, sha256 {result['sha256']}"
    )
