"""`binding worker`: run a worker for distributed mode.

    binding worker                          # Celery embedding worker: queues query,embed
    binding worker --queues query           # a query-only worker (short tasks)
    binding worker --concurrency 2          # two pool processes: one per GPU (cuda:0, cuda:1)
    binding worker streams                  # the sensor-stream consumer (binding/cli_streams.py)

`worker_app` is a typer sub-app: with no sub-command it runs the Celery worker (so does
`binding worker celery`). Other modules add sub-commands to it (`streams`). Celery is
imported only when a worker starts.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated, Any

import typer

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

    app.worker_main(argv=argv)


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


if __name__ == "__main__":  # python -m binding.cli_worker ...
    worker_app()
