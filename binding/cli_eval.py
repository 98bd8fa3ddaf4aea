"""`binding eval`: classification, retrieval, composite queries, the paper's benchmarks, the
index, and comparing runs. Each evaluation prints its metrics and writes a run JSON."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from binding.config import Settings, load_settings

if TYPE_CHECKING:
    from binding.eval.cache import CachedEmbedder
    from binding.eval.report import Run

eval_app = typer.Typer(
    help="Measure how well the space classifies and retrieves (your data or the paper's).",
    no_args_is_help=True,
)
console = Console(stderr=True)
out = Console()

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
CheckpointOpt = Annotated[str | None, typer.Option("--checkpoint", help="Path or URL of weights.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random weights from this seed.")]
TowersOpt = Annotated[
    list[str] | None,
    typer.Option("--towers", help="A `binding train` output folder: adds its modality (repeat)."),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[
    str | None, typer.Option("--precision", help="fp32, bf16, fp16 (CUDA) or int8 (CPU).")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Run JSON to write; default <data_dir>/evals/<kind>-<time>.json."
    ),
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Embed everything again; read and write no cache.")
]


#: Metric names that are counts, printed without decimals.
COUNTS = {"count", "classes", "queries", "targets", "triples", "points", "k"}


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def _settings(towers: list[str] | None = None, **overrides: Any) -> Settings:
    """Settings with the options given; trained towers (BINDING_TOWERS, --towers) registered,
    so that their modality names are known before any item is read."""
    from binding.towers import register_from_settings

    chosen = {k: v for k, v in overrides.items() if v is not None}
    if towers:
        configured = Settings().towers
        chosen["towers"] = ",".join([*([configured] if configured else []), *towers])
    try:
        settings = load_settings(**chosen)
        register_from_settings(settings)
    except Exception as exc:  # a bad --precision (one line naming it), a bad tower folder
        _fail(str(exc))
        raise
    return settings


def _embedder(settings: Settings, modalities: list[str], no_cache: bool) -> CachedEmbedder:
    from binding.eval.runner import open_embedder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said once below
        embedder = open_embedder(settings, modalities, cache=not no_cache)
    if embedder.encoder.random_weights:
        console.print(
            f"[bold yellow]warning:[/] {embedder.encoder.model_name} runs with random weights: "
            "expect chance-level metrics. Use it for tests and smoke runs only."
        )
    return embedder


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _save(run: Run, path: Path | None, settings: Settings) -> Path:
    from binding.eval.runner import default_output

    for source, reason in run.rejected.items():
        console.print(f"[yellow]left out[/] {escape(source)}: {escape(reason)}")
    if run.rejected:
        count = len(run.rejected)
        console.print(
            f"[bold yellow]warning:[/] {count} item{'s' if count != 1 else ''} could not be "
            "embedded and were left out of the metrics (listed above and in the run JSON)"
        )
    written = run.save(path or default_output(settings, run.kind))
    console.print(f"wrote {written}")
    return written


def _metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    from binding.eval.report import flatten

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in flatten(metrics).items():
        if not name.startswith("per_class."):
            counted = name.rsplit(".", 1)[-1] in COUNTS
            table.add_row(name, f"{value:.0f}" if counted else f"{value:.4f}")
    return table


@eval_app.command("classify")
def classify_command(
    data: Annotated[Path, typer.Argument(help="A folder of class folders, or a CSV path,label.")],
    modality: Annotated[
        str | None, typer.Option("--modality", help="Modality of the items; guessed if unset.")
    ] = None,
    template: Annotated[
        list[str] | None,
        typer.Option("--template", "-t", help="Prompt template with {} (repeat for several)."),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option("--against", help="Classify against class examples of this modality."),
    ] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Confusion matrix PNG; default beside the JSON.")
    ] = None,
    output: OutOpt = None,
    no_cache: NoCacheOpt = False,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Zero-shot classification: top-1/top-5, per-class accuracy and a confusion matrix.

    Class names (folder names or the CSV's labels) become text prompts through templates,
    averaged per class; with --against, class prototypes are the examples of another
    modality in the same folders (audio items classified against image examples, say).
    """
    from binding.eval.classify import confusion_png, read_labelled, templates_for
    from binding.eval.runner import run_classify

    settings = _settings(
        towers=towers,
        model=model,
        checkpoint=checkpoint,
        seed=seed,
        device=device,
        precision=precision,
    )
    if against and not modality:
        _fail("--against needs --modality: the modality of the items to classify")
    try:
        labelled = read_labelled(data, modality, mixed=against is not None)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    kinds = [labelled.modality.value] + ([against] if against else [])
    embedder = _embedder(settings, kinds, no_cache)
    if against:
        total = len(labelled.items)  # the queries and the other modality's examples
    else:
        chosen = template or templates_for(labelled.modality)
        total = len(labelled.subset(labelled.modality).items) + len(labelled.classes) * len(chosen)
    try:
        with _bar("classifying", total) as tick:
            run, result = run_classify(
                labelled, embedder, templates=template or None, against=against, progress=tick
            )
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    written = _save(run, output, settings)
    image = confusion_png(result, png or written.with_suffix(".png"))
    console.print(f"wrote {image}")
    out.print(_metrics_table(f"classify {labelled.origin}", {
        "top1": result.top1, "top5": result.top5, "chance_top1": 1 / len(result.classes),
        "count": result.count, "classes": len(result.classes),
    }))  # fmt: skip
    per_class = Table(title="per class")
    per_class.add_column("class")
    per_class.add_column("accuracy", justify="right")
    for name, value in result.per_class.items():
        per_class.add_row(escape(name), f"{value:.3f}")
    out.print(per_class)


@eval_app.command("retrieve")
def retrieve_command(
    pairs: Annotated[Path, typer.Argument(help="CSV with columns query,target (paths or texts).")],
    query_modality: Annotated[str, typer.Option("--query-modality", "-q")] = "text",
    target_modality: Annotated[str, typer.Option("--target-modality", "-t")] = "image",
    output: OutOpt = None,
    no_cache: NoCacheOpt = False,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Retrieval both ways over (query, target) pairs: R@1/5/10, median rank, MRR."""
    from binding.eval.retrieve import read_pairs
    from binding.eval.runner import run_retrieve

    settings = _settings(
        towers=towers,
        model=model,
        checkpoint=checkpoint,
        seed=seed,
        device=device,
        precision=precision,
    )
    try:
        loaded = read_pairs(pairs, query_modality, target_modality)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    embedder = _embedder(settings, [query_modality, target_modality], no_cache)
    try:
        with _bar(
            "retrieving", len(loaded.queries) + len({str(t) for t in loaded.targets})
        ) as tick:
            run = run_retrieve(loaded, embedder, progress=tick)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    _save(run, output, settings)
    out.print(_metrics_table(f"retrieve {pairs}", run.metrics))


@eval_app.command("composite")
def composite_command(
    triples: Annotated[Path, typer.Argument(help="CSV with columns a,b,target.")],
    a: Annotated[str, typer.Option("--a", help="Modality of column a.")] = "image",
    b: Annotated[str, typer.Option("--b", help="Modality of column b.")] = "audio",
    target: Annotated[str, typer.Option("--target", help="Modality of the targets.")] = "image",
    output: OutOpt = None,
    no_cache: NoCacheOpt = False,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Embedding arithmetic: recall of A + B against A alone and B alone."""
    from binding.eval.composite import read_triples
    from binding.eval.runner import run_composite

    settings = _settings(
        towers=towers,
        model=model,
        checkpoint=checkpoint,
        seed=seed,
        device=device,
        precision=precision,
    )
    try:
        loaded = read_triples(triples, a, b, target)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    embedder = _embedder(settings, [a, b, target], no_cache)
    with _bar("composing", 2 * len(loaded.a) + len({str(t) for t in loaded.targets})) as tick:
        run = run_composite(loaded, embedder, progress=tick)
    _save(run, output, settings)
    out.print(_metrics_table(f"composite {triples}", run.metrics))


@eval_app.command("paper")
def paper_command(
    data_root: Annotated[
        Path, typer.Option("--data-root", help="Folder holding the datasets in their layouts.")
    ],
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Dataset keys to run (in1k, esc50...).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many items per dataset (quick run).")
    ] = None,
    output: OutOpt = None,
    no_cache: NoCacheOpt = False,
    model: ModelOpt = None,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """The paper's zero-shot table (arXiv 2305.05665, Table 2): ours beside the paper's."""
    from binding.eval import paper
    from binding.eval.runner import describe

    settings = _settings(
        model=model, checkpoint=checkpoint, seed=seed, device=device, precision=precision
    )
    if not data_root.is_dir():
        _fail(f"{data_root}: no such data root folder")
    present = [d for d in paper.DATASETS if d.read and d.present(data_root)]
    if only:
        present = [d for d in present if d.key in only]
    # only the towers the datasets there need (retrieval sets are text -> audio)
    embedder = _embedder(settings, sorted({d.templates or "audio" for d in present}), no_cache)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=not sys.stderr.isatty(),
    ) as bar:

        def progress(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        rows = paper.rows(data_root, embedder, only=only, limit=limit, progress=progress)
    table = Table(title="zero-shot, ours vs the paper (arXiv 2305.05665, Table 2)")
    for column in ("dataset", "metric", "ours", "paper", "difference"):
        table.add_column(column, justify="left" if column in ("dataset", "metric") else "right")
    for row in rows:
        for line in row.lines():
            table.add_row(*map(escape, line))
    out.print(table)
    for row in rows:
        if row.status != "evaluated":
            out.print(f"[dim]{row.dataset.title}: {row.status}: {escape(row.detail)}[/]")
    metrics = {r.dataset.key: r.ours for r in rows if r.status == "evaluated"}
    data = {
        "origin": str(data_root),
        "count": sum(r.count for r in rows),
        "datasets": {r.dataset.key: r.status for r in rows},
        "hash": paper.table_hash(rows),
        "hashes": {r.dataset.key: r.hash for r in rows if r.hash},
    }
    run = describe("paper", embedder, metrics, data, options={"limit": limit})
    _save(run, output, settings)


@eval_app.command("index")
def index_command(
    queries: Annotated[
        int, typer.Option("--queries", help="Stored points sampled as queries.")
    ] = 100,
    k: Annotated[int, typer.Option("--k", help="Neighbours compared.")] = 10,
    ef: Annotated[
        list[int] | None,
        typer.Option("--ef", help="hnsw_ef values (repeat); default 16 32 64 128."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels", help="Judgements CSV query,target[,relevance]: recall@k, nDCG@10."
        ),
    ] = None,
    output: OutOpt = None,
) -> None:
    """The collection: approximate vs exact search recall per hnsw_ef, and judged queries."""
    from binding import api
    from binding.eval import index
    from binding.eval.report import Run

    settings = _settings()
    with api.open(settings) as engine:
        try:
            with _bar("index recall", queries * (1 + len(ef or (16, 32, 64, 128)))) as tick:
                metrics: dict[str, Any] = index.index_recall(
                    engine, queries=queries, k=k, efs=ef or (16, 32, 64, 128), progress=tick
                )
            if labels is not None:
                judgements = index.read_judgements(labels)
                with _bar("judged queries", len(judgements)) as tick:
                    metrics["judged"] = index.judged(engine, judgements, k=k, progress=tick)
        except (OSError, ValueError) as exc:
            _fail(str(exc))
        info = engine.info()
        run = Run(
            kind="index",
            model=info.model,
            precision=settings.precision,
            metrics=metrics,
            data={"origin": f"{info.engine}:{info.collection}", "count": info.count, "hash": ""},
            random_weights=info.random_weights,
        )
    _save(run, output, settings)
    table = Table(title=f"approximate vs exact search ({metrics['queries']} queries, k={k})")
    for column in ("hnsw_ef", "recall@k", "ms/query"):
        table.add_column(column, justify="right")
    table.add_row("exact", "1.0000", f"{metrics['exact_ms_per_query']:.2f}")
    for value, row in metrics["hnsw_ef"].items():
        table.add_row(value, f"{row['recall']:.4f}", f"{row['ms_per_query']:.2f}")
    out.print(table)
    if not metrics["indexed"]:
        out.print("[dim]the collection is not (fully) indexed yet: its searches are exact[/]")
    if "judged" in metrics:
        out.print(_metrics_table("judged queries", metrics["judged"]))


@eval_app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Run JSON files, side by side.")],
) -> None:
    """Print runs side by side: setup, every metric, and the difference of the last from the first."""
    from binding.eval.report import compare, load_run

    try:
        loaded = [load_run(path) for path in runs]
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    columns, rows = compare(loaded)
    table = Table(title="evaluation runs")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*map(escape, row))
    out.print(table)
    for i, path in enumerate(runs, start=1):
        out.print(f"[dim]run {i}: {escape(str(path))}[/]")
