"""Sensor streams on the command line: `binding stream publish|ingest|status`.

`binding/cli.py` mounts these: `app.add_typer(stream_app, name="stream")`. This module does
not import `binding.cli` (no import cycle). The consumer, `binding worker streams`, is a
worker: it lives in `workers/cli.py` and reuses the options and helpers defined here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from binding.errors import BindingError

if TYPE_CHECKING:
    from binding.config import Settings

console = Console(stderr=True)
out = Console()

stream_app = typer.Typer(
    name="stream",
    help="Sensor streams through Redis: publish a recording, see the books, or ingest one "
    "without Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RedisOpt = Annotated[
    str | None,
    typer.Option("--redis", help="Redis URL; default: BINDING_BROKER_URL.", show_default=False),
]
StreamOpt = Annotated[
    str | None,
    typer.Option("--stream", help="Stream id (letters, digits, _ - .); default: the file's stem."),
]
ModalityOpt = Annotated[
    str, typer.Option("--modality", help="imu, thermal or depth.", show_default=True)
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate",
        help="Samples per second (IMU; default: the file's time column, or 400 for .npy) "
        "or frames per second (thermal, depth; default 1).",
    ),
]
HopOpt = Annotated[
    float | None,
    typer.Option("--hop", help="Seconds between IMU window starts; default 5 (no overlap)."),
]
GroupOpt = Annotated[str, typer.Option("--group", help="Consumer group.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
TagOpt = Annotated[
    list[str] | None, typer.Option("--tag", "-t", help="A tag for every point (repeatable).")
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name.")]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random weights from this seed (tests only).")
]


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _settings(model: str | None = None, seed: int | None = None) -> Settings:
    from binding.config import load_settings
    from binding.errors import ConfigurationError

    overrides: dict[str, Any] = {}
    if model is not None:
        overrides["model"] = model
    if seed is not None:
        overrides["seed"] = seed
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:  # one line naming the variable, not pydantic's report
        _fail(str(exc))
        raise


def _redis_url(redis: str | None) -> str:
    url = redis or _settings().records_url()
    if not url:
        _fail("no Redis URL: pass --redis redis://host:6379/0 or set BINDING_BROKER_URL")
    assert url is not None
    return url


def _warn_random(model: str, seed: int | None) -> None:
    console.print(
        f"[bold yellow]warning:[/] {model} runs with random weights"
        + (f" (seed {seed})" if seed is not None else "")
        + ": its embeddings are meaningless. Use it for tests and smoke runs only."
    )


@stream_app.command("publish")
def publish_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="IMU: one CSV or .npy file. Frames: images, folders, (N,H,W) .npy."),
    ],
    modality: ModalityOpt = "imu",
    rate: RateOpt = None,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Send at the recording's own pace.")
    ] = False,
    stream: StreamOpt = None,
    maxlen: Annotated[
        int | None,
        typer.Option("--maxlen", help="Bound of the stream in entries; default 10,000 (IMU)."),
    ] = None,
    samples_per_entry: Annotated[
        int, typer.Option("--samples-per-entry", help="IMU samples per entry.")
    ] = 40,
    redis: RedisOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay a recording into a Redis stream (`binding:stream:<id>`): a sensor simulator.

    The run id is the recording's hash, so publishing the same file again overwrites the
    same points instead of adding new ones.
    """
    from binding.streams import publish_recording

    url = _redis_url(redis)
    try:
        report = publish_recording(
            url,
            sources,
            stream=stream,
            modality=modality,
            rate=rate,
            realtime=realtime,
            maxlen=maxlen,
            samples_per_entry=samples_per_entry,
        )
    except (BindingError, ValueError) as error:
        _fail(str(error))
    except Exception as error:
        if type(error).__module__.startswith("redis"):
            _fail(f"Redis at {url}: {error}")
        raise
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    console.print(
        f"stream [bold]{escape(report.stream)}[/]: {report.entries} entries "
        f"({report.readings} readings, run {report.run}) in {report.seconds:.2f} s"
        + (f"; Redis came back {report.reconnects} time(s)" if report.reconnects else "")
        + (
            f"; [red]{report.dropped} entries dropped[/] (buffer full while Redis was away)"
            if report.dropped
            else ""
        )
    )


@stream_app.command("ingest")
def ingest_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="IMU: one CSV or .npy file. Frames: images, folders, (N,H,W) .npy."),
    ],
    stream: StreamOpt = None,
    modality: ModalityOpt = "imu",
    rate: RateOpt = None,
    hop: HopOpt = None,
    tag: TagOpt = None,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Embedded mode: window a recording as a stream consumer would, without Redis, and
    store each window with the stream id and its time span."""
    from binding.api import Engine
    from binding.streams import ingest_recording

    try:
        with Engine(_settings(model, seed)) as engine:
            if engine.random_weights:
                _warn_random(engine.model, engine.settings.seed)
            report = ingest_recording(
                engine,
                sources,
                stream=stream,
                modality=modality,
                rate=rate,
                hop_s=hop,
                tags=tag or [],
            )
    except (BindingError, ValueError) as error:
        _fail(str(error))
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    console.print(
        f"stream [bold]{escape(report.stream)}[/] ({report.modality}, run {report.run}): "
        f"{len(report.ids)} windows stored, {len(report.rejected)} rejected"
    )
    for reason in report.rejected:
        console.print(f"[red]rejected[/] {escape(reason)}")
    if report.rejected:
        raise typer.Exit(3)  # as ingest: 3 when some of the input was rejected (2: usage)


@stream_app.command("status")
def status_command(
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="Only these streams (repeatable).")
    ] = None,
    group: GroupOpt = "binding",
    interval: Annotated[
        float,
        typer.Option("--interval", help="Look twice, this many seconds apart, to show rates."),
    ] = 0.0,
    redis: RedisOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each stream's books and lag: produced = processed + dropped + dead + lag."""
    from binding.streams import rates, stream_status

    url = _redis_url(redis)
    try:
        first = stream_status(url, group=group, streams=stream)
        speeds: dict[str, dict[str, float]] = {}
        if interval > 0:
            time.sleep(interval)
            second = stream_status(url, group=group, streams=stream)
            before = {s.stream: s for s in first}
            speeds = {
                s.stream: rates(before[s.stream], s, interval) for s in second if s.stream in before
            }
            first = second
    except BindingError as error:
        _fail(str(error))
    except Exception as error:
        if type(error).__module__.startswith("redis"):
            _fail(f"Redis at {url}: {error}")
        raise
    if as_json:
        rows = [{**s.to_dict(), **speeds.get(s.stream, {})} for s in first]
        out.print_json(json.dumps(rows))
        return
    if not first:
        console.print("no streams yet (publish one with `binding stream publish`)")
        return
    table = Table(title=f"streams (group {group})")
    for column in (
        "stream", "modality", "length", "produced", "processed", "dropped", "dead",
        "pending", "lag", "lag s", "windows", "owner",
    ):  # fmt: skip
        text = column in ("stream", "modality", "owner")
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    for s in first:
        table.add_row(
            escape(s.stream),
            s.modality or "?",
            f"{s.length}/{s.maxlen}" if s.maxlen else str(s.length),
            str(s.produced),
            str(s.processed),
            str(s.dropped),
            str(s.dead),
            str(s.pending),
            str(s.lag_entries),
            f"{s.lag_seconds:.1f}",
            str(s.windows),
            escape(s.owner or "-"),
        )
    out.print(table)
    for name, speed in speeds.items():
        out.print(
            f"{escape(name)}: {speed['produced_per_s']:.1f} entries/s in, "
            f"{speed['processed_per_s']:.1f} entries/s processed, "
            f"{speed['windows_per_s']:.2f} windows/s"
        )


if __name__ == "__main__":  # pragma: no cover - `python -m binding.cli_streams publish ...`
    stream_app()
