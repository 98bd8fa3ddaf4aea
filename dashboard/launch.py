"""Start the dashboard: what `binding dashboard` runs.

The dashboard is a Streamlit app; this starts `streamlit run dashboard/streamlit_app.py` in a
child process with the hardened server options below, so they hold wherever it is started
from (Streamlit reads `.streamlit/config.toml` only from the current folder; the file in
the repository root carries the same values for a plain `streamlit run`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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


def run_dashboard(
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    env: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> int:
    """Run the dashboard until it is stopped (Ctrl-C); returns Streamlit's exit status.

    `host`/`port` say where it listens (loopback by default: put a proxy with TLS and
    authentication in front of it to share it). `env` adds environment variables for the
    app (`BINDING_*` settings). `extra` adds or overrides Streamlit options by name,
    e.g. `{"server.maxUploadSize": 500}`.
    """
    child_env = {**os.environ, **(env or {})}
    process = subprocess.Popen(command(host=host, port=port, extra=extra), env=child_env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
