"""What the dashboard tests share: the app's path, the tiny-model environment, a sensor
stream made from stored IMU windows, and checks on what a page rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"
#: Seconds one AppTest run may take (the first search loads the tiny model).
RUN_TIMEOUT = 120
STREAM = "wrist"

ISOLATE = (
    "BINDING_QDRANT_URL",
    "BINDING_QDRANT_API_KEY",
    "BINDING_BROKER_URL",
    "BINDING_CHECKPOINT",
    "BINDING_COLLECTION",
    "BINDING_PRECISION",
    "BINDING_BATCH_SIZE",
)


def tiny_env(data_dir: Path, cache_dir: Path) -> dict[str, str]:
    return {
        "BINDING_MODEL": "imagebind_tiny",
        "BINDING_SEED": "0",
        "BINDING_DEVICE": "cpu",
        "BINDING_DATA_DIR": str(data_dir),
        "BINDING_CACHE_DIR": str(cache_dir),
        "BINDING_OFFLINE": "true",
    }


def add_stream(engine: Any, name: str, media_folder: Any, *, start: float) -> int:
    """Replay the sample walking recording as stream `name` from `start` (epoch seconds),
    windowed and stored exactly as a stream consumer does; returns the windows stored."""
    from binding.streams import ingest_recording

    walking = next(p for p in media_folder.files["imu"] if p.name.startswith("walking"))
    report = ingest_recording(engine, [walking], stream=name, tags=["demo"], start_time=start)
    assert not report.rejected, report.rejected
    return len(report.ids)


def open_page(page: str | None = None) -> Any:
    """An `AppTest` of the app, run once on `page` (e.g. "compose"), exceptions checked."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    if page:
        at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: Any) -> None:
    """No uncaught exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def card_titles(at: Any) -> list[str]:
    """The titles of the result cards on the page, in order."""
    return [m.value for m in at.markdown if 'class="bd-title"' in m.value]
