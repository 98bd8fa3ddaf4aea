"""`binding dashboard` starts the Streamlit app, which answers over HTTP."""

from __future__ import annotations

import contextlib
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


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: /proc/<pid>/task/<pid>/children)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(x) for x in path.read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting to be reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopping_the_launcher_stops_the_dashboard(tmp_path: Path, signum: int) -> None:
    """Issue 13, item 15: `binding dashboard` stopped by a signal left its `streamlit run`
    child serving the port and holding the store's lock."""
    port = _free_port()
    env = {
        **os.environ,
        "BINDING_MODEL": "imagebind_tiny",
        "BINDING_SEED": "0",
        "BINDING_DATA_DIR": str(tmp_path / "data"),
        "BINDING_CACHE_DIR": str(tmp_path / "cache"),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "binding.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so that the test can clean up whatever happens
    )
    child = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (_children(launcher.pid) and _listening(port)):
            assert launcher.poll() is None, "the launcher exited before serving"
            time.sleep(0.2)
        (child,) = _children(launcher.pid)
        assert _listening(port), "the dashboard did not listen within 60 s"

        os.kill(launcher.pid, signum)  # the launcher alone, not its process group
        launcher.wait(timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (_running(child) or _listening(port)):
            time.sleep(0.1)
        assert not _running(child), f"the dashboard (pid {child}) outlived its launcher"
        assert not _listening(port), f"port {port} is still served"
        if signum == signal.SIGTERM:
            assert launcher.returncode in (0, 128 + signal.SIGTERM)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait(timeout=10)
        if child is not None and _running(child):  # only a child that really outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
