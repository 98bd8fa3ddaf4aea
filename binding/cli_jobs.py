"""Jobs on the command line (distributed mode): `binding jobs`, `jobs show`, `jobs retry`.

    binding jobs                     # the newest jobs: files per outcome, pending
    binding jobs show JOB [--json]   # one job, with the reason of every file not embedded
    binding jobs retry JOB [--wait]  # send the job's failed (retryable) files again

A file ends embedded, duplicate, rejected (bad input: retrying would fail the same way) or
failed (the store or the broker stayed unavailable for the workers' whole retry window,
`BINDING_RETRY_WINDOW`): only failed files are sent again. `binding/cli.py` mounts this
sub-app; it reads job records in Redis and never loads the model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from binding.errors import BindingError

if TYPE_CHECKING:
    from binding.jobs import Jobs, JobStatus

console = Console(stderr=True)
out = Console()

jobs_app = typer.Typer(
    name="jobs",
    help="Jobs of the workers (distributed mode): list, show, retry the failed files.",
    add_completion=False,
    pretty_exceptions_enable=False,
    invoke_without_command=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
JobArg = Annotated[str, typer.Argument(help="The job id (from `binding jobs`).")]


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _jobs() -> Jobs:
    from binding.config import load_settings
    from binding.jobs import Jobs

    try:
        settings = load_settings()
    except BindingError as error:
        _fail(str(error))
    if not settings.broker_url:
        _fail(
            "jobs live in Redis: set BINDING_BROKER_URL (in embedded mode an ingest reports "
            "its files when it ends)"
        )
    return Jobs(settings.broker_url)


def _status_line(status: JobStatus) -> str:
    parts = [
        f"{status.embedded} embedded",
        f"{status.duplicate} duplicate",
        f"[red]{status.rejected} rejected[/]" if status.rejected else "0 rejected",
        f"[yellow]{status.failed} failed, retryable[/]" if status.failed else "0 failed",
        f"{status.pending} pending",
    ]
    return f"{status.total} files: " + ", ".join(parts)


@jobs_app.callback()
def jobs_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Jobs to list.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The newest jobs, newest first: files per outcome and pending."""
    if ctx.invoked_subcommand is not None:
        return
    jobs = _jobs()
    try:
        rows = []
        for job_id in jobs.recent(limit):
            try:
                rows.append(jobs.status(job_id))
            except BindingError:  # expired between the two reads
                continue
    except Exception as error:
        _fail(f"Redis: {error}")
    finally:
        jobs.close()
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in rows]))
        return
    table = Table("job", "created (UTC)", "files", "embedded", "duplicate", "rejected")
    table.add_column("failed (retryable)")
    table.add_column("pending")
    table.columns[0].no_wrap = True
    for r in rows:
        created = datetime.fromtimestamp(r.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r.job_id,
            created,
            str(r.total),
            str(r.embedded),
            str(r.duplicate),
            str(r.rejected),
            str(r.failed),
            str(r.pending),
        )
    # A pipe (no terminal width) gets whole rows: job ids are copied from here.
    (out if out.is_terminal else Console(width=160)).print(table)


@jobs_app.command("show")
def show_command(job: JobArg, as_json: JsonOpt = False) -> None:
    """One job: files per outcome, and the reason of each file not embedded."""
    jobs = _jobs()
    try:
        status = jobs.status(job)
    except BindingError as error:
        _fail(str(error))
    finally:
        jobs.close()
    if as_json:
        out.print_json(json.dumps(status.to_dict(), ensure_ascii=False))
        return
    for source, reason in status.reasons.items():
        out.print(f"{escape(source)}: {escape(reason)}", soft_wrap=True)
    console.print(f"job {status.job_id}: " + _status_line(status), soft_wrap=True)


@jobs_app.command("retry")
def retry_command(
    job: JobArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every file has an outcome again.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send the job's failed (retryable) files to the workers again; rejected files stay
    rejected (bad input would fail the same way)."""
    from binding.api import Engine
    from binding.config import load_settings
    from binding.executor import QueueExecutor

    try:
        settings = load_settings()
    except BindingError as error:
        _fail(str(error))
    if not settings.broker_url:
        _fail("retrying a job needs the workers: set BINDING_BROKER_URL")
    engine = Engine(settings)
    executor = QueueExecutor(engine)
    try:
        sent = executor.retry(job)
        status = executor.jobs.wait(job) if wait and sent else executor.jobs.status(job)
    except BindingError as error:
        _fail(str(error))
    finally:
        executor.close()
        engine.close()
    if as_json:
        out.print_json(json.dumps({"sent": sent, **status.to_dict()}, ensure_ascii=False))
    else:
        console.print(
            f"job {status.job_id}: sent {sent} failed file{'' if sent == 1 else 's'} again; "
            + _status_line(status),
            soft_wrap=True,
        )
    if wait and (status.failed or status.rejected):
        raise typer.Exit(2)
