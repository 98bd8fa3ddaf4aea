"""scripts/setup.sh installs once: later calls (scripts/run.sh, scripts/test.sh) start at once.

The script runs for real, in a copy of the repository's layout whose `.venv/bin/python`
records what it is asked to do instead of installing (a real install takes minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    python.chmod(0o755)
    binding = bin_dir / "binding"
    binding.write_text("#!/bin/sh\n")
    binding.chmod(0o755)
    return repo, log


def _setup(repo: Path, **env: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BINDING_")}
    subprocess.run(["bash", str(repo / "scripts" / "setup.sh")], check=True, env={**environ, **env})


def _installs(log: Path) -> int:
    if not log.exists():
        return 0
    return sum("install -e" in line for line in log.read_text().splitlines())


def test_setup_installs_once_until_pyproject_or_extras_change(tmp_path: Path) -> None:
    repo, log = _layout(tmp_path)
    _setup(repo)  # no stamp yet (a fresh clone, as on CI): installs
    assert _installs(log) == 1
    assert (repo / ".venv" / ".setup-stamp").is_file()

    _setup(repo)
    _setup(repo)
    assert _installs(log) == 1  # nothing changed: no pip at all

    with (repo / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    _setup(repo)
    assert _installs(log) == 2

    _setup(repo, BINDING_EXTRAS="dev")  # other extras: another install
    assert _installs(log) == 3
    _setup(repo, BINDING_SETUP_FORCE="1")
    assert _installs(log) == 4


def test_setup_reinstalls_when_the_command_is_missing(tmp_path: Path) -> None:
    repo, log = _layout(tmp_path)
    _setup(repo)
    (repo / ".venv" / "bin" / "binding").unlink()  # a half-broken venv
    _setup(repo)
    assert _installs(log) == 2
