"""`binding dashboard`: the command, contributed to the main CLI by this package.

pyproject.toml registers it as the entry point `binding.commands:dashboard`, so the library
(`binding.cli`) mounts it without importing `dashboard/` (the layers point down only).
"""

from __future__ import annotations

from typing import Annotated

import typer

from dashboard.launch import run_dashboard


def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
) -> None:
    """Start the Streamlit dashboard: search, compose, ingest, streams, map and status."""
    typer.echo(f"dashboard on http://{host}:{port} (Ctrl-C or SIGTERM stops it)", err=True)
    raise typer.Exit(run_dashboard(host=host, port=port))
