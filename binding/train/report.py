"""A run's outputs for people: `report.json` and `curves.png` (loss and recall per step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report(folder: Path, report: dict[str, Any], history: list[dict[str, Any]]) -> None:
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_curves(folder / "curves.png", history)


def write_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Training loss per step and validation recall@1 (both directions) per evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row for row in history if row.get("kind") == "step"]
    evals = [row for row in history if row.get("kind") == "eval"]
    figure, (loss_axis, recall_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot([r["step"] for r in steps], [r["loss"] for r in steps], linewidth=1)
    loss_axis.set(title="training loss", xlabel="step", ylabel="InfoNCE")
    for key, label in (
        ("input_to_anchor", "input → anchor"),
        ("anchor_to_input", "anchor → input"),
    ):
        recall_axis.plot(
            [r["step"] for r in evals],
            [r["recall_at_1"][key] for r in evals],
            marker="o",
            label=label,
        )
    if evals:
        recall_axis.axhline(evals[-1]["chance"], color="grey", linestyle="--", label="chance")
    recall_axis.set(title="validation recall@1", xlabel="step", ylim=(0, 1))
    recall_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
