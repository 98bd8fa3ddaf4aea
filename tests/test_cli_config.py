"""Configuration errors reach the user as one message naming the variable, the value and
what is accepted: never a traceback, never pydantic's or torch's report (issue 13.5).

The commands run as the user runs them, in a subprocess through the console entry point.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port  # closed again: nothing listens there


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINDING_")}
    env.update(
        BINDING_MODEL="imagebind_tiny",
        BINDING_SEED="0",
        BINDING_OFFLINE="true",
        BINDING_DATA_DIR=str(tmp_path / "data"),
        BINDING_CACHE_DIR=str(tmp_path / "cache"),
        COLUMNS="80",
    )
    return env


def test_every_configuration_error_is_one_line(environment: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    out = str(tmp_path / "v.npy")
    cases = [  # (extra variables, arguments, what the one line must name)
        (
            {"BINDING_PRECISION": "fp8"},
            ["eval", "index"],
            ["BINDING_PRECISION", "'fp8'", "'int8'"],
        ),
        (
            {"BINDING_DEVICE": "gpu"},
            ["embed", "--modality", "text", "x", "-o", out],
            ["BINDING_DEVICE", "'gpu'", "cuda:N"],
        ),
        ({"BINDING_DEVICE": "gpu"}, ["stream", "ingest", "x.csv"], ["BINDING_DEVICE", "'gpu'"]),
        (
            {},
            ["embed", "--device", "gpu", "--modality", "text", "x", "-o", out],
            ["--device", "'gpu'", "cuda:N"],
        ),
        ({"BINDING_BATCH_SIZE": "0"}, ["doctor"], ["BINDING_BATCH_SIZE", "'0'", "1"]),
        ({"BINDING_MODEL": "bogus"}, ["info"], ["BINDING_MODEL", "'bogus'", "imagebind_tiny"]),
        ({"BINDING_QDRANT_URL": url}, ["info"], ["BINDING_QDRANT_URL", url, "cannot reach"]),
    ]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "binding.cli", *args],
            env={**environment, **extra},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra, args, _ in cases
    ]
    for (extra, args, words), run in zip(cases, runs, strict=True):
        stdout, stderr = run.communicate(timeout=120)
        what = f"{extra} binding {' '.join(args)}:\n{stderr}"
        assert run.returncode == 1, what
        assert "Traceback" not in stderr and "pydantic" not in stderr, what
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, what
        assert [line for line in stderr.splitlines() if line.strip()][-1] == errors[0], what
        for word in words:
            assert word in errors[0], what
