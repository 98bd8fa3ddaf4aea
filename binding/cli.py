"""The `binding` command line: a thin layer of typer commands over the library."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from binding.config import Settings, describe_error, load_settings
from binding.errors import BindingError, ConfigurationError, InputError
from binding.modality import parse_modality

if TYPE_CHECKING:
    from binding.api import Engine, SearchResult
    from binding.ingest import FileOutcome, IngestReport
    from binding.store.base import Filter


def _type_for_help(self: typer.core.TyperArgument | typer.core.TyperOption, ctx: Any) -> str | None:
    """The value column of `--help`: nothing for a flag (typer 0.29 prints `--explain <bool>`,
    even `--help <bool>`, as if they took a value), `<str>...` for a repeated one."""
    if getattr(self, "is_flag", False):
        return None
    if self.metavar is not None:
        return str(self.metavar)
    shown = re.sub(r"<list\[(\w+)\]>", r"<\1>...", str(self.display_type(ctx)))
    return shown if self.nargs == 1 or shown.endswith("...") else f"{shown}..."


typer.core.TyperOption.display_type_rich = _type_for_help  # type: ignore[method-assign,assignment]
typer.core.TyperArgument.display_type_rich = _type_for_help  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="binding",
    help="Any-to-any embeddings: one space for text, images, video, audio, depth, thermal and IMU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
# qdrant-client checks the server's version in a thread and warns when it cannot; an
# unreachable BINDING_QDRANT_URL is then said once, by the error that names it.
warnings.filterwarnings("ignore", "Failed to obtain server version", UserWarning)

ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name (see `binding models`).")
]
CheckpointOpt = Annotated[
    str | None, typer.Option("--checkpoint", help="Local path or URL of the weights.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Random weights from this seed (tests and smoke runs only)."),
]
TowersOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--towers",
        help="A `binding train` output folder (or a folder of them): adds its modality and "
        "tower (repeat for several; added to BINDING_TOWERS).",
    ),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[
    str | None, typer.Option("--precision", help="fp32, bf16, fp16 (CUDA) or int8 (CPU).")
]


#: Exit statuses, the same in every command (docs/ingest.md, README): 2 is click's own for
#: a usage error (an unknown option, a missing argument), so it means nothing else here.
EXIT_ERROR = 1  # nothing was done: a bad setting, query or input, a store that will not open
EXIT_USAGE = 2
EXIT_REJECTED = 3  # the run finished, but some files (or windows) were rejected
EXIT_NOTHING = 4  # the paths named no file at all (an empty folder): nothing to ingest
EXIT_FAILED = 5  # some files failed for our infrastructure's reasons: `binding jobs retry`


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    """The settings from the environment (and `.env`), with `overrides`; a bad value is one
    line naming the variable, the value and what is accepted, never a traceback."""
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _warn_random_weights(model: str, seed: int | None) -> None:
    console.print(
        f"[bold yellow]warning:[/] {model} runs with random weights"
        + (f" (seed {seed})" if seed is not None else "")
        + ": its embeddings are meaningless. Use it for tests and smoke runs only."
    )


@app.command("models")
def models_command(towers: TowersOpt = None) -> None:
    """List the models this build knows, with their size, embedding size and license, and
    the trained towers found in BINDING_TOWERS and --towers."""
    from binding.models import list_models
    from binding.models.registry import DEFAULT_MODEL

    table = Table(title="models")
    for column in ("name", "embedding", "weights", "license", "notes"):
        table.add_column(column)
    for spec in list_models():
        if spec.random_weights_only:
            weights = "random only"
        elif spec.packaged:
            weights = f"{(spec.size_bytes or 0) / 1e6:.0f} MB"
        elif spec.size_bytes:
            weights = f"{spec.size_bytes / 1e9:.2f} GB"
        else:
            weights = "download"
        notes = "default" if spec.name == DEFAULT_MODEL else ""
        if spec.random_weights_only:
            notes = (notes + "; " if notes else "") + "tests and smoke runs: meaningless vectors"
        if spec.packaged:
            notes = (notes + "; " if notes else "") + "in the package; synthetic world only"
        table.add_row(spec.name, str(spec.embed_dim), weights, spec.license, notes)
    out.print(table)
    _print_trained(towers)


def _print_trained(towers: list[str] | None) -> None:
    """The trained model folders of BINDING_TOWERS and --towers, with their metrics."""
    from binding.towers import describe_towers

    settings = Settings(**_towers(towers))  # type: ignore[arg-type]
    if not settings.tower_folders():
        return
    try:
        rows = describe_towers(settings)
    except BindingError as exc:
        _fail(str(exc))
    table = Table(title="trained towers (BINDING_TOWERS, --towers)")
    for column in ("name", "modality", "input", "anchor", "recall@1 in->anchor / anchor->in"):
        table.add_column(column)
    for row in rows:
        recall = row["recall_at_1"] or {}
        both = [recall.get("input_to_anchor"), recall.get("anchor_to_input")]
        shown = " / ".join(f"{r:.3f}" for r in both if isinstance(r, int | float))
        chance = row["chance"]
        if shown and isinstance(chance, int | float):
            shown += f" (chance {chance:.3f}, {row['validation_pairs']} pairs)"
        table.add_row(
            escape(row["name"]),
            row["modality"],
            "x".join(str(n) for n in row["input_shape"]),
            row["anchor"],
            shown or "-",
        )
    out.print(table)


@app.command("embed")
def embed_command(
    inputs: Annotated[list[str], typer.Argument(help="Files, or texts with --modality text.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .npy.")],
    modality: Annotated[
        str | None,
        typer.Option("--modality", help="Modality of every input; detected from bytes if unset."),
    ] = None,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    checkpoint: CheckpointOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Write the reference's scaled outputs, not unit vectors.")
    ] = False,
) -> None:
    """Embed files (or texts) and write an (N, D) float32 array to a .npy file.

    Rows follow the order of INPUTS. Inputs of several modalities may be mixed when
    --modality is not given; each is embedded with its own tower.
    """
    import numpy as np
    from rich.progress import Progress

    from binding.encoder import Encoder
    from binding.ingest.expand import read_text_file
    from binding.ingest.pipeline import file_modality
    from binding.modality import Modality, parse_modality
    from binding.towers import register_from_settings

    settings = _settings(**_towers(towers))
    try:
        register_from_settings(settings, model=model)
    except BindingError as exc:
        _fail(str(exc))
    groups: dict[Modality, list[int]] = {}
    texts = list(inputs)  # what the text tower reads: the input, or a text file's content
    for index, item in enumerate(inputs):
        if modality is None and not Path(item).is_file():
            _fail(f"{item}: no such file (for texts pass --modality text)")
        try:  # the modality as ingest tells it: bytes, then a depth/ or thermal/ folder
            kind = parse_modality(modality) if modality is not None else file_modality(item)
        except (InputError, ValueError) as exc:
            _fail(str(exc))
        if kind is Modality.TEXT and modality is None:  # a text file: its content, one row
            try:
                texts[index] = read_text_file(Path(item), item)
            except InputError as exc:
                _fail(str(exc))
        if kind is Modality.TEXT and not texts[index].strip():
            _fail(f"input {index + 1} is an empty text; give the words to embed")
        if kind is not Modality.TEXT and not Path(item).is_file():
            _fail(f"{item}: no such file (for texts pass --modality text)")
        groups.setdefault(kind, []).append(index)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # we say it ourselves, once, below
            encoder = Encoder.load(
                model,
                modalities=list(groups),
                checkpoint=checkpoint,
                seed=seed,
                device=device,
                precision=precision,  # type: ignore[arg-type]
                settings=settings,
            )
    except BindingError as exc:
        _fail(str(exc))
    if encoder.random_weights:
        _warn_random_weights(encoder.model_name, seed if seed is not None else settings.seed)

    rows = np.zeros((len(inputs), encoder.dim), dtype=np.float32)
    with Progress(console=console, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task("embedding", total=len(inputs))
        for kind, indexes in groups.items():
            items = [texts[i] if kind is Modality.TEXT else Path(inputs[i]) for i in indexes]
            try:
                vectors = encoder.embed(
                    kind,
                    items,
                    normalize=not raw,
                    progress=lambda n: bar.advance(task, n),
                )
            except InputError as exc:
                _fail(str(exc))
            rows[indexes] = vectors
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_path, rows)
    console.print(
        f"wrote {out_path} ({rows.shape[0]} x {rows.shape[1]}, {encoder.model_name}, "
        f"{encoder.device}, {encoder.precision})"
    )


@app.command("doctor")
def doctor_command(model: ModelOpt = None) -> None:
    """Check torch, the device, the cache and the checkpoint; say what is missing and how to fix it."""
    from binding.doctor import run_checks

    settings = _settings()
    problems = 0
    table = Table(title="binding doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail / fix")
    for check in run_checks(settings, model=model):
        mark = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]fail[/]"}[
            check.status
        ]
        problems += check.status == "fail"
        table.add_row(check.name, mark, escape(check.detail))
    out.print(table)
    if problems:
        raise typer.Exit(1)


# --- store commands: ingest, search, info, delete, export, demo ------------------------------

TagOpt = Annotated[
    list[str] | None, typer.Option("--tag", "-t", help="A tag (repeat for several).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]


@app.command("download")
def download_command(
    model: Annotated[str | None, typer.Argument(help="Model name; default from settings.")] = None,
    convert: Annotated[
        bool, typer.Option(help="Also write the memory-mapped safetensors twin now.")
    ] = True,
) -> None:
    """Download a model's weights into the cache (resumable, verified), ready for offline use."""
    from binding.models import get_spec
    from binding.models.checkpoint import ensure_safetensors, resolve_checkpoint

    settings = _settings()
    try:
        spec = get_spec(model or settings.model)
    except ValueError as exc:
        _fail(str(exc))
    if spec.packaged:
        from binding.models.packaged import packaged_path

        console.print(
            f"{spec.name}: ships with the package, {packaged_path(spec)} ({spec.license})"
        )
        return
    if spec.url is None or spec.filename is None:
        _fail(f"{spec.name} has no weights to download (random weights only)")
        return
    path = resolve_checkpoint(
        spec.url,
        filename=spec.filename,
        size=spec.size_bytes,
        sha256=spec.sha256,
        cache_dir=settings.cache_dir,
        offline=settings.offline,
        model=spec.name,
    )
    console.print(f"{spec.name}: {path} ({spec.license})")
    if convert:
        console.print(f"safetensors: {ensure_safetensors(path, cache_dir=settings.cache_dir)}")


def _towers(towers: list[str] | None) -> dict[str, object]:
    """The settings override for `--towers`: BINDING_TOWERS, then the folders given."""
    if not towers:
        return {}
    configured = Settings().towers
    return {"towers": ",".join([*([configured] if configured else []), *towers])}


@contextlib.contextmanager
def _engine(
    model: str | None = None, seed: int | None = None, towers: list[str] | None = None
) -> Iterator[Engine]:
    """An engine for the command, closed at the end; library errors become clean exits."""
    from binding import api

    overrides: dict[str, object] = _towers(towers)
    if model is not None:
        overrides["model"] = model
    if seed is not None:
        overrides["seed"] = seed
    try:
        engine = api.open(**overrides)  # type: ignore[arg-type]
    except (BindingError, ValueError) as exc:
        _fail(str(exc))
    try:
        if engine.random_weights:
            _warn_random_weights(engine.model, engine.settings.seed)
        yield engine
    except BindingError as exc:
        _fail(str(exc))
    finally:
        engine.close()


def _count(number: int, noun: str) -> str:
    """`1 point`, `2 points`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _print_report(report: IngestReport) -> None:
    from binding.points import escape_source

    counts = report.counts
    for outcome in report.rejected + report.failed:
        color = "red" if outcome.status == "rejected" else "yellow"
        console.print(
            f"[{color}]{outcome.status}[/] {escape(escape_source(outcome.source))}: "
            f"{escape(outcome.reason or '')}",
            soft_wrap=True,
        )
    by_modality = ", ".join(f"{m} {n}" for m, n in report.points_by_modality().items())
    console.print(
        f"{_count(counts['files'], 'file')}: [green]{counts['embedded']} embedded[/] "
        f"({_count(counts['points'], 'point')}{': ' + by_modality if by_modality else ''}), "
        f"{counts['duplicate']} duplicate, "
        + (f"[red]{counts['rejected']} rejected[/]" if counts["rejected"] else "0 rejected")
        + (f", [yellow]{counts['failed']} failed, retryable[/]" if counts["failed"] else "")
    )


def _ingest_with_progress(
    engine: Engine,
    paths: Sequence[str | Path],
    *,
    modality: str | None = None,
    tags: Sequence[str] = (),
    recursive: bool = True,
    captions: bool = True,
) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("ingesting", total=None)
        done = 0

        def advance(outcome: FileOutcome) -> None:
            nonlocal done
            done += 1
            bar.update(task, completed=done, description=f"{outcome.status:<9}")

        return engine.ingest(
            paths,
            modality=modality,
            tags=tags,
            recursive=recursive,
            captions=captions,
            progress=advance,
        )


@app.command("ingest")
def ingest_command(
    paths: Annotated[list[str], typer.Argument(help="Files, folders and glob patterns.")],
    modality: Annotated[
        str | None,
        typer.Option(
            "--modality",
            help="Modality of every file; default: from the bytes, and depth/ or thermal/ folders.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            help="Tag every file (repeat for several); files already stored get the tag too.",
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders.")
    ] = True,
    captions: Annotated[
        bool,
        typer.Option(
            "--captions/--no-captions",
            help="A .txt beside a file of the same name (photo.jpg + photo.txt) is its "
            "caption, stored with it; --no-captions: a text document of its own.",
        ),
    ] = True,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Embed files into the store; every file ends embedded, duplicate or rejected.

    Content already stored is skipped, so an interrupted run can simply be run again.
    Exit status: 0 when no file was rejected; 3 when some were (the others are stored);
    4 when the paths name no file (an empty folder); 5 when some failed for reasons not
    theirs (`binding jobs retry`); 1 on an error, 2 on a usage error.
    """
    with _engine(model, seed, towers) as engine:
        if modality is not None:
            try:
                parse_modality(modality)
            except ValueError as exc:
                _fail(str(exc))
        report = _ingest_with_progress(
            engine, paths, modality=modality, tags=tag or [], recursive=recursive, captions=captions
        )
    if as_json:
        typer.echo(report.to_json())
    _print_report(report)
    if report.failed:  # our infrastructure, not the files: `binding jobs retry` resends them
        raise typer.Exit(EXIT_FAILED)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)
    if not report.counts["files"]:
        console.print(
            f"[yellow]nothing to ingest:[/] no file in {escape(', '.join(paths))}"
            + ("" if recursive else " (--no-recursive: sub-folders were not read)"),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_NOTHING)


def _search_filter(
    modality: list[str] | None,
    tag: list[str] | None,
    stream: str | None,
    source: str | None,
    after: str | None,
    before: str | None,
) -> Filter | None:
    from binding.query import make_filter

    return make_filter(
        modalities=modality or None,
        tags=tag or None,
        stream=stream,
        source=source,
        time_from=after,
        time_to=before,
    )


#: A query that starts with a minus, `-text:"night"` or `-0.5*image:x.jpg`: an argument,
#: though it looks like an option (`-t ext:...` would even be read as --tag).
_NEGATIVE_QUERY = re.compile(r"-\s*(\d[\d.]*\s*\*\s*)?[A-Za-z_]+:")


class _QueryCommand(typer.core.TyperCommand):
    """`binding search`: a query starting with `-` is taken as the query, not as options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" not in args:
            valued = {
                name
                for param in self.params
                if isinstance(param, typer.core.TyperOption) and not param.is_flag
                for name in param.opts
            }
            for index, arg in enumerate(args):
                if index and args[index - 1] in valued:
                    continue  # the value of an option (`--tag -x:y`), not the query
                if _NEGATIVE_QUERY.match(arg) and not arg.startswith("--"):
                    args = [*args[:index], *args[index + 1 :], "--", arg]
                    break
        return super().parse_args(ctx, args)


@app.command("search", cls=_QueryCommand)
def search_command(
    query: Annotated[
        str,
        typer.Argument(
            help="A composite query, e.g. '0.7*image:beach.jpg + audio:waves.wav - 0.5*text:\"people\"'"
            " (one that starts with '-', like '-text:\"night\"', works as written)."
        ),
    ],
    modality: Annotated[
        list[str] | None,
        typer.Option("--modality", help="Only hits of this modality (repeat for several)."),
    ] = None,
    tag: TagOpt = None,
    stream: Annotated[
        str | None, typer.Option("--stream", help="Only this stream's windows.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only points of this source.")
    ] = None,
    after: Annotated[
        str | None, typer.Option("--after", help="Only points from this time on (ISO 8601).")
    ] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="Only points up to this time (ISO 8601).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="How many hits.")] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="sum (default), rrf or recommend.")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each hit's cosine with each term.")
    ] = False,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    towers: TowersOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Search the store with a composite, weighted query of any modalities.

    `--limit` and `--mode` stand for `@ N` and `mode=` in the query; giving both with
    different values is an error. Relative paths in `--source` and `source=` are read from
    the working directory, as ingest stores them.
    """
    from binding.query import DEFAULT_LIMIT, parse_query

    try:
        parsed = parse_query(query)
    except InputError as exc:
        _fail(str(exc))
    if limit is not None and parsed.limit not in (DEFAULT_LIMIT, limit):
        _fail(f"--limit {limit} and '@ {parsed.limit}' in the query disagree; give one of them")
    if mode is not None and parsed.mode not in ("sum", mode):
        _fail(f"--mode {mode} and 'mode={parsed.mode}' in the query disagree; give one of them")
    with _engine(model, seed, towers) as engine:
        where = _search_filter(modality, tag, stream, source, after, before)
        result = engine.search(parsed, limit=limit, filter=where, mode=mode, explain=explain)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    _print_hits(result)


def _print_hits(result: SearchResult, title: str | None = None) -> None:
    from binding.query import describe_term, format_query

    table = Table(title=title or escape(format_query(result.query)))
    for column in ("#", "score", "modality", "name", "segment", "id"):
        table.add_column(column)
    terms = [describe_term(term, 24) for term in result.query.terms]
    if result.explanations is not None:
        for term in terms:
            table.add_column(f"cos {escape(term)}")
    for rank, hit in enumerate(result.hits, start=1):
        payload = hit.payload
        row = [
            str(rank),
            f"{hit.score:.4f}",
            str(payload.get("modality", "")),
            escape(str(payload.get("name") or payload.get("source") or "")),
            str(payload.get("segment") or ""),
            str(hit.id),
        ]
        if result.explanations is not None:
            row += [f"{c:.4f}" for c in result.explanations[rank - 1].cosines]
        table.add_row(*row)
    out.print(table)
    if not result.hits:
        console.print("no hits")


@app.command("info")
def info_command(
    as_json: JsonOpt = False, model: ModelOpt = None, towers: TowersOpt = None
) -> None:
    """The collection: model, engine, number of points per modality, data folder."""
    with _engine(model, towers=towers) as engine:
        info = engine.info()
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=2))
        return
    table = Table(title=f"collection {escape(info.collection)}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows = [
        (
            "model",
            f"{info.model} ({info.dim}-d)" + (", random weights" if info.random_weights else ""),
        ),
        ("engine", f"{info.engine}" + (", indexed" if info.indexed else "")),
        ("points", str(info.count)),
        *((f"  {m}", str(n)) for m, n in info.modalities.items()),
        ("media files", str(info.media_files)),
        ("data folder", info.data_dir),
    ]
    for what, value in rows:
        table.add_row(what, escape(value))
    out.print(table)


@app.command("delete")
def delete_command(
    point_id: Annotated[
        list[str] | None, typer.Option("--id", help="A point id (repeat for several).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Every point of this source (a path or upload:NAME)."),
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Every point with this tag.")] = None,
    model: ModelOpt = None,
    towers: TowersOpt = None,
) -> None:
    """Delete points by id, by source or by tag (exactly one)."""
    if sum(bool(x) for x in (point_id, source, tag)) != 1:
        _fail("give exactly one of --id, --source or --tag")
    with _engine(model, towers=towers) as engine:
        removed = engine.delete(ids=point_id or None, source=source, tag=tag)
    console.print(f"deleted {_count(removed, 'point')}")


@app.command("export")
def export_command(
    path: Annotated[Path, typer.Argument(help="Where to write (.parquet or .jsonl).")],
    export_format: Annotated[
        str | None, typer.Option("--format", help="parquet or jsonl; default: from PATH.")
    ] = None,
    modality: Annotated[
        list[str] | None,
        typer.Option("--modality", help="Only this modality (repeat for several)."),
    ] = None,
    tag: TagOpt = None,
    model: ModelOpt = None,
    towers: TowersOpt = None,
) -> None:
    """Write the points (ids, vectors and payloads) to a Parquet or JSON Lines file."""
    with _engine(model, towers=towers) as engine:
        where = _search_filter(modality, tag, None, None, None, None)
        count = engine.export(path, format=export_format, filter=where)  # type: ignore[arg-type]
    console.print(f"wrote {_count(count, 'point')} to {escape(str(path))}")


# --- command groups in their own modules ---------------------------------------------------

import binding.cli_demo  # noqa: E402, F401  (registers demo and demo-data on app)
from binding.cli_commands import mount_commands  # noqa: E402
from binding.cli_eval import eval_app  # noqa: E402
from binding.cli_jobs import jobs_app  # noqa: E402
from binding.cli_streams import stream_app  # noqa: E402
from binding.cli_train import train_app  # noqa: E402

app.add_typer(stream_app, name="stream")
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")
app.add_typer(jobs_app, name="jobs")
# `binding worker ...` (workers/) and `binding dashboard` (dashboard/) come from the packages
# above the library, through the `binding.commands` entry points (see binding/cli_commands.py).
mount_commands(app)


def main() -> None:  # pragma: no cover - console entry point wrapper
    from pydantic import ValidationError

    try:
        app()
    except BindingError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:  # settings built somewhere the commands did not check
        console.print(f"[bold red]error:[/] {escape(describe_error(exc))}", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
