"""Command groups other packages add to `binding`: found through entry points, not imports.

The library sits below `workers/` and `dashboard/` and never imports them (see
`tests/test_layers.py`), yet `binding worker ...` and `binding dashboard` are its commands.
Each package that contributes commands declares them in pyproject.toml:

    [project.entry-points."binding.commands"]
    worker = "workers.cli:worker_app"          # a typer app: mounted as a group
    dashboard = "dashboard.command:dashboard"  # a function: mounted as one command

`mount_commands(app)` adds every one it can load; one that cannot be imported (an extra
that is not installed) becomes a command that says what to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer

#: The entry-point group command contributions are registered in.
COMMAND_GROUP = "binding.commands"


def _unavailable(name: str, error: Exception) -> Callable[..., None]:
    def command(
        args: list[str] | None = typer.Argument(None, hidden=True),  # noqa: B008
    ) -> None:
        typer.echo(
            f"error: `binding {name}` cannot start ({error}); install the extras: "
            "pip install 'binding[all]'",
            err=True,
        )
        raise typer.Exit(1)

    command.__doc__ = f"Unavailable here: {error}"
    return command


def mount_commands(app: typer.Typer, found: Iterable[EntryPoint] | None = None) -> list[str]:
    """Add the commands registered under `binding.commands` to `app`; returns their names.

    A registered `typer.Typer` becomes a group (`binding worker ...`), a function one
    command (`binding dashboard`). `found` replaces the installed entry points (tests).
    """
    names: list[str] = []
    for entry in sorted(entry_points(group=COMMAND_GROUP) if found is None else found,
                        key=lambda e: e.name):  # fmt: skip
        if entry.name in names:
            continue  # the same distribution seen twice (an editable install)
        try:
            target: Any = entry.load()
        except ImportError as error:
            app.command(entry.name, context_settings={"ignore_unknown_options": True})(
                _unavailable(entry.name, error)
            )
        else:
            if isinstance(target, typer.Typer):
                app.add_typer(target, name=entry.name)
            else:
                app.command(entry.name)(target)
        names.append(entry.name)
    return names
