"""`binding dashboard` starts the Streamlit app, which answers over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard extra is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.integration
def test_dashboard_command_serves_the_app(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "BINDING_MODEL": "imagebind_tiny",
        "BINDING_SEED": "0",
        "BINDING_DATA_DIR": str(tmp_path / "data"),
        "BINDING_CACHE_DIR": str(tmp_path / "cache"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "binding.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as reply:
                    status = reply.status
            except OSError:
                time.sleep(0.5)
        assert status == 200, "the dashboard did not answer within 60 s"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
