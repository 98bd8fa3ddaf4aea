"""The layers point down: `binding/` never imports `workers/`, `dashboard/`, Celery or Streamlit.

The check reads every module of the package with `ast` (imports at any depth: inside
functions, under `TYPE_CHECKING`, in `try` blocks), so a lazy import cannot hide an arrow
that runs up the house. The distributed mode and the dashboard plug in through entry points
instead (`binding/dispatch.py`, `binding/cli_commands.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import typer

#: Top-level packages the library must never import.
FORBIDDEN = ("workers", "dashboard", "celery", "kombu", "streamlit")

PACKAGE = Path(__file__).resolve().parents[1] / "binding"


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, relative imports left out."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def upward_imports(package: Path, forbidden: tuple[str, ...] = FORBIDDEN) -> list[str]:
    """`file:line imports module` for each import of a forbidden package under `package`."""
    bad: list[str] = []
    for path in sorted(package.rglob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(package.parent)}:{line} imports {module}")
    return bad


def test_the_library_never_imports_the_layers_above_it() -> None:
    assert upward_imports(PACKAGE) == []


def test_the_check_catches_an_import_of_workers(tmp_path: Path) -> None:
    """A package whose modules reach up, at the top and lazily, fails the check."""
    package = tmp_path / "binding"
    (package / "store").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "executor.py").write_text("from workers.client import Dispatcher\n")
    (package / "store" / "lazy.py").write_text(
        "def f():\n    import celery.exceptions\n    from . import base\n    return base\n"
    )
    (package / "fine.py").write_text("import redis\nfrom binding.config import Settings\n")
    assert upward_imports(package) == [
        "binding/executor.py:1 imports workers.client",
        "binding/store/lazy.py:2 imports celery.exceptions",
    ]


def test_worker_and_dashboard_commands_come_through_entry_points() -> None:
    """`binding worker ...` and `binding dashboard` exist, though binding/ imports neither."""
    import typer.main

    from binding.cli import app

    root = typer.main.get_command(app)
    commands = getattr(root, "commands", {})
    assert {"worker", "dashboard", "stream"} <= set(commands)
    assert {"celery", "streams"} <= set(getattr(commands["worker"], "commands", {}))


def test_a_command_that_cannot_load_says_what_to_install() -> None:
    from importlib.metadata import EntryPoint

    from typer.testing import CliRunner

    from binding.cli_commands import mount_commands

    app = typer.Typer()

    @app.command("here")
    def here() -> None:
        """A command, so the app is a group."""

    missing = EntryPoint("extra", "no_such_package_xyz.cli:app", "binding.commands")
    assert mount_commands(app, [missing]) == ["extra"]
    result = CliRunner().invoke(app, ["extra", "--anything"])
    assert result.exit_code == 1
    assert "pip install" in result.output and "no_such_package_xyz" in result.output


def test_the_dispatcher_is_found_by_entry_point() -> None:
    """The queue executor's default dispatcher is the one the distributed mode registers."""
    import pytest

    from binding.dispatch import find_dispatcher
    from binding.errors import ConfigurationError

    factory = find_dispatcher()
    assert f"{factory.__module__}.{factory.__qualname__}" == "workers.client.Dispatcher"
    with pytest.raises(ConfigurationError, match="binding.dispatchers"):
        find_dispatcher("no-such-dispatcher")
