"""`binding worker`: run a worker for distributed mode.

    binding worker                          # Celery embedding worker: queues query,embed
    binding worker --queues query           # a query-only worker (short tasks)
    binding worker --concurrency 2          # two pool processes: one per GPU (cuda:0, cuda:1)
    binding worker streams                  # the sensor-stream consumer (workers/streams.py)

`worker_app` is a typer sub-app: with no sub-command it runs the Celery worker (so does
`binding worker celery`); `streams` runs the stream consumer. The main CLI (`binding.cli`)
does not import this module: it mounts `worker_app` through the entry point
`binding.commands:worker` that pyproject.toml declares, so the library never imports
`workers/`. Celery is imported only when a worker starts; `python -m workers.cli` runs the
same commands on their own.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Annotated, Any

import typer
from rich.markup import escape

from binding.cli_streams import (
    GroupOpt,
    HopOpt,
    ModelOpt,
    RedisOpt,
    SeedOpt,
    TagOpt,
    _fail,
    _settings,
    _warn_random,
    console,
)
from binding.config import Settings
from binding.errors import BindingError, ConfigurationError

#: Pools `binding worker` accepts. prefork is the default and the one we test: the parent
#: never loads the model or touches CUDA; each child loads it once, and time limits work.
POOLS = ("prefork", "solo", "threads")

worker_app = typer.Typer(
    name="worker",
    help="Run a worker: the Celery embedding worker (default) or `streams`.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

QueuesOpt = Annotated[
    str, typer.Option("--queues", "-Q", help="Comma-separated queues: query, embed.")
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        "-c",
        min=1,
        help="Pool processes; one per GPU (child i uses cuda:i). The embedded store allows 1.",
    ),
]
PoolOpt = Annotated[
    str, typer.Option("--pool", "-P", help="prefork (default; CUDA-safe), solo or threads.")
]
LogLevelOpt = Annotated[str, typer.Option("--loglevel", "-l", help="debug, info, warning, error.")]
HostnameOpt = Annotated[
    str | None,
    typer.Option(
        "--hostname",
        "-n",
        help="Celery node name (%h: host name); default binding-<pid>@<host>.",
    ),
]


def worker_arguments(
    settings: Settings,
    *,
    queues: str,
    concurrency: int,
    pool: str,
    loglevel: str,
    hostname: str | None = None,
) -> list[str]:
    """The Celery worker's command line for these options; refuses setups that cannot work."""
    from workers.config import QUEUES, celery_config

    celery_config(settings)  # checks the broker URL and the time limits
    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise ConfigurationError(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(QUEUES)}"
        )
    if pool not in POOLS:
        raise ConfigurationError(f"unknown pool {pool!r}; choose from {', '.join(POOLS)}")
    if pool == "solo" and concurrency != 1:
        raise ConfigurationError("the solo pool runs one task at a time: use --concurrency 1")
    if not settings.qdrant_url and concurrency > 1:
        raise ConfigurationError(
            "the embedded store is a folder one process can open: run --concurrency 1, or set "
            "BINDING_QDRANT_URL to share a Qdrant server between worker processes"
        )
    ordered = [q for q in QUEUES if q in names]  # `query` first: the broker polls in order
    return [
        "worker",
        f"--queues={','.join(ordered)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        f"--hostname={hostname or f'binding-{os.getpid()}@{socket.gethostname()}'}",
        "--without-gossip",
        "--without-mingle",
    ]


def run_celery_worker(
    *,
    queues: str = "query,embed",
    concurrency: int = 1,
    pool: str = "prefork",
    loglevel: str = "info",
    hostname: str | None = None,
) -> None:
    """Start a Celery worker in this process (returns when it shuts down)."""
    settings = Settings()
    argv = worker_arguments(
        settings,
        queues=queues,
        concurrency=concurrency,
        pool=pool,
        loglevel=loglevel,
        hostname=hostname,
    )
    if pool != "prefork":
        typer.echo(
            f"warning: the {pool} pool does not enforce time limits; a stuck task blocks "
            "this worker until it ends",
            err=True,
        )
    from workers.celery_app import app

    node = argv[[a.startswith("--hostname=") for a in argv].index(True)].split("=", 1)[1]
    try:
        app.worker_main(argv=argv)
    finally:
        reason = _stop_reason(settings, node)
        if reason:  # a pool process could not start and stopped the worker (workers.startup)
            typer.echo(f"error: worker {node} stopped: {reason}", err=True)
            raise SystemExit(1)


def _stop_reason(settings: Settings, node: str) -> str:
    """Why a pool process stopped this worker (workers.startup), or ''."""
    from celery.utils.nodenames import default_nodename, host_format

    from binding.jobs import redis_client
    from workers.startup import recorded_error

    url = settings.records_url()
    if not url:
        return ""
    try:
        client = redis_client(url, retries=1)
        try:
            return recorded_error(client, host_format(default_nodename(node)))
        finally:
            client.close()
    except Exception:  # the broker is away: the log says why the worker stopped
        return ""


def _start(**options: Any) -> None:
    try:
        run_celery_worker(**options)
    except BindingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@worker_app.callback(invoke_without_command=True)
def worker_command(
    ctx: typer.Context,
    queues: QueuesOpt = "query,embed",
    concurrency: ConcurrencyOpt = 1,
    pool: PoolOpt = "prefork",
    loglevel: LogLevelOpt = "info",
    hostname: HostnameOpt = None,
) -> None:
    """Run the Celery embedding worker (needs BINDING_BROKER_URL); see also `streams`."""
    if ctx.invoked_subcommand is None:
        _start(
            queues=queues,
            concurrency=concurrency,
            pool=pool,
            loglevel=loglevel,
            hostname=hostname,
        )


@worker_app.command("celery")
def celery_command(
    queues: QueuesOpt = "query,embed",
    concurrency: ConcurrencyOpt = 1,
    pool: PoolOpt = "prefork",
    loglevel: LogLevelOpt = "info",
    hostname: HostnameOpt = None,
) -> None:
    """Run the Celery embedding worker (the same as `binding worker` alone)."""
    _start(queues=queues, concurrency=concurrency, pool=pool, loglevel=loglevel, hostname=hostname)


@worker_app.command("streams")
def streams_worker_command(
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", help="Read only these streams (repeatable); default: all."),
    ] = None,
    group: GroupOpt = "binding",
    hop: HopOpt = None,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            help="Seconds a silent consumer keeps its streams; then another claims its "
            "pending entries.",
        ),
    ] = 30.0,
    read_count: Annotated[int, typer.Option("--read-count", help="Entries per read.")] = 200,
    max_deliveries: Annotated[
        int, typer.Option("--max-deliveries", help="Deliveries before an entry is dead-lettered.")
    ] = 3,
    name: Annotated[
        str | None, typer.Option("--name", help="Consumer name; default host-pid-random.")
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", help="Exit after this many seconds with nothing to read."),
    ] = None,
    tag: TagOpt = None,
    redis: RedisOpt = None,
    model: ModelOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Consume sensor streams: window, embed, upsert (wait), then XACK; XAUTOCLAIM what a
    crashed consumer left; dead-letter what keeps failing. Stops cleanly on SIGTERM/SIGINT.

    In embedded mode this process owns the store folder while it runs.
    """
    from binding.api import Engine
    from binding.encoder import Encoder
    from binding.modality import Modality
    from workers.streams import StreamConsumer

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(model, seed)
    url = redis or settings.records_url()
    if not url:
        _fail("no Redis URL: pass --redis redis://host:6379/0 or set BINDING_BROKER_URL")
    stop = threading.Event()

    def on_signal(number: int, _frame: Any) -> None:
        console.print(f"signal {number}: stopping after this round")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        encoder = Encoder.load(
            settings.model,
            modalities=[Modality.IMU, Modality.THERMAL, Modality.DEPTH],
            settings=settings,
        )
        engine = Engine(settings, encoder=encoder)
        if engine.random_weights:
            _warn_random(engine.model, settings.seed)
        consumer = StreamConsumer(
            url,
            engine,
            group=group,
            name=name,
            streams=stream,
            hop_s=hop,
            lease_s=lease,
            read_count=read_count,
            max_deliveries=max_deliveries,
            tags=tag or [],
        )
    except (BindingError, ValueError) as error:
        _fail(str(error))
    from binding.jobs import persistence_warning

    warning = persistence_warning(consumer.client)
    if warning:  # pending entries and the books would not survive a restart of Redis
        where = escape(url.rsplit("@", 1)[-1])  # never the password
        console.print(f"[yellow]warning:[/] Redis at {where}: {warning}", soft_wrap=True)
    console.print(f"stream consumer {escape(consumer.name)} ready (group {escape(group)})")
    try:
        consumer.run(stop, idle_exit_s=idle_exit)
    except BindingError as error:
        _fail(str(error))
    finally:
        engine.close()
    console.print(
        f"stream consumer {escape(consumer.name)} stopped; {consumer.windows_stored} windows stored"
    )


if __name__ == "__main__":  # python -m workers.cli ...
    worker_app()
