"""Start the dashboard: what `binding dashboard` runs.

The dashboard is a Streamlit app; this starts `streamlit run dashboard/streamlit_app.py` in a
child process with the hardened server options below, so they hold wherever it is started
from (Streamlit reads `.streamlit/config.toml` only from the current folder; the file in
the repository root carries the same values for a plain `streamlit run`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: The entry script.
APP = Path(__file__).resolve().parent / "streamlit_app.py"

#: Streamlit options the dashboard always runs with (same as .streamlit/config.toml).
OPTIONS: dict[str, object] = {
    # Largest upload in MB; the engine's own limit is BINDING_MAX_UPLOAD_BYTES.
    "server.maxUploadSize": 200,
    # Uploads and widget changes must come from pages this server served.
    "server.enableXsrfProtection": True,
    "server.enableCORS": True,
    "server.headless": True,
    "browser.gatherUsageStats": False,
    "client.toolbarMode": "minimal",
    "theme.primaryColor": "#4f46e5",
}


def command(
    *, host: str = "127.0.0.1", port: int = 8501, extra: Mapping[str, object] | None = None
) -> list[str]:
    """The command line that starts the dashboard (for `subprocess` or a service file)."""
    options = {**OPTIONS, "server.address": host, "server.port": int(port), **(extra or {})}
    flags: list[str] = []
    for name, value in options.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags.append(f"--{name}={text}")
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags]


def _dies_with(parent: int) -> Callable[[], None]:
    """What the child runs before `streamlit` starts: on Linux, ask the kernel to send it
    SIGTERM when the launcher dies, whatever kills it (SIGKILL included), so the child never
    outlives it holding the port and the store's lock."""

    def prepare() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the forwarded signals still hold
            return
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return prepare


#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1
#: Signals the launcher passes on to the dashboard process (Ctrl-C's SIGINT reaches both).
FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


def run_dashboard(
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    env: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> int:
    """Run the dashboard until it is stopped; returns its exit status (128 + the signal's
    number when a signal ended it, as a shell reports it).

    `host`/`port` say where it listens (loopback by default: put a proxy with TLS and
    authentication in front of it to share it). `env` adds environment variables for the
    app (`BINDING_*` settings). `extra` adds or overrides Streamlit options by name,
    e.g. `{"server.maxUploadSize": 500}`.

    The dashboard runs in a child process that never outlives this one: SIGTERM, SIGHUP
    and SIGQUIT sent here are passed on to it, Ctrl-C stops it, and on Linux the kernel
    stops it when this process dies any other way (SIGKILL included).
    """
    child_env = {**os.environ, **(env or {})}
    linux = sys.platform.startswith("linux")
    process = subprocess.Popen(
        command(host=host, port=port, extra=extra),
        env=child_env,
        preexec_fn=_dies_with(os.getpid()) if linux else None,  # noqa: PLW1509 - no threads yet
    )

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in FORWARDED:
            previous[number] = signal.signal(number, forward)
    try:
        status = process.wait()
    except KeyboardInterrupt:
        status = _stop(process)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if process.poll() is None:
            _stop(process)
    return 128 - status if status < 0 else status


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
