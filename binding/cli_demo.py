"""`binding demo` and `binding demo-data`: generated sample media, ingested and searched.

The commands hang on the main `app` (`binding.cli`), which imports this module once its
helpers exist; the sample data itself comes from `binding.demo`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from binding.cli import (
    ModelOpt,
    SeedOpt,
    _engine,
    _fail,
    _ingest_with_progress,
    _print_hits,
    _print_report,
    _settings,
    app,
    console,
)


@app.command("demo-data")
def demo_data_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the sample media.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated content.")] = 0,
    speech: Annotated[
        bool, typer.Option("--speech/--no-speech", help="Spoken words (needs espeak-ng).")
    ] = True,
) -> None:
    """Generate a small folder of mixed media: images, sounds, videos, depth, thermal, IMU."""
    from binding.demo import make_demo_data

    data = make_demo_data(folder, seed=seed, speech=speech)
    for modality, paths in data.files.items():
        console.print(f"{modality:<8} {len(paths)} files in {escape(str(folder))}")
    console.print(f"wrote {len(data.all())} files; ingest them with: binding ingest {folder}")


@app.command("demo")
def demo_command(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--folder",
            help="Where to put the sample media; default: DATA_DIR/demo (DATA_DIR/demo-world "
            "for the world sample).",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="mixed (generated media of every kind) or world (scenes of the synthetic "
            "world); default: world for binding_mini, mixed otherwise.",
        ),
    ] = None,
    model: ModelOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Generate sample media, ingest it and run a few example searches.

    Without --model (or BINDING_MODEL) it runs on the default model when its weights are
    cached or can be downloaded now; when not, it says so in one line (with how to get
    them) and runs on binding_mini, on a sample of the synthetic world it was trained on.
    """
    from binding.demo import demo_queries, make_demo_data, make_world_demo, world_demo_queries
    from binding.firstrun import choose_model

    if data not in (None, "mixed", "world"):
        _fail(f"--data {data!r}: use mixed or world")
    settings = _settings()
    choice = choose_model(settings, model) if seed is None else None
    if choice is not None:
        console.print(escape(choice.reason), soft_wrap=True)
        model, seed = choice.model, choice.seed
    world = data == "world" or (data is None and model == "binding_mini")
    with _engine(model, seed) as engine:
        target = folder or Path(engine.settings.data_dir) / ("demo-world" if world else "demo")
        console.print(f"generating sample media in {escape(str(target))}")
        if world:
            sample = make_world_demo(target)
            report = _ingest_with_progress(engine, [target / m for m in sample.files])
            queries = world_demo_queries(sample)
        else:
            sample = make_demo_data(target)
            report = _ingest_with_progress(engine, [target])
            queries = demo_queries(sample)
        _print_report(report)
        for title, text in queries:
            console.print(f"\n[bold]{escape(title)}[/]: binding search {escape(repr(text))}")
            _print_hits(engine.search(text), title=title)
        random = (
            " (random weights: the results are not meaningful)" if engine.random_weights else ""
        )
        console.print(f"\nthese searches ran on {engine.model}{random}", soft_wrap=True)
