"""Fixtures for the dashboard tests: a collection filled with the sample data, and the app.

`dashboard_data` is a data folder (made once per session) holding the sample dataset
embedded by the tiny model, plus one sensor stream (`wrist`): the walking IMU recording's
windows stamped one after the other in time, as a stream consumer would store them.
`dashboard_env` points the `BINDING_*` variables at it, so the app's own `Settings()` finds
it. `app` is an `AppTest` of the whole app (navigation included).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip(
    "streamlit", reason="the dashboard extra is not installed: pip install -e '.[dashboard]'"
)

from tests.dashboard.helpers import ISOLATE, STREAM, add_stream, tiny_env

if TYPE_CHECKING:
    from binding.demo import DemoData
    from binding.encoder import Encoder


@pytest.fixture(scope="session")
def dashboard_data(
    tmp_path_factory: pytest.TempPathFactory, media_folder: DemoData, tiny_encoder: Encoder
) -> Path:
    """A data folder with the sample dataset embedded by the tiny model, and one stream."""
    from binding.api import Engine
    from binding.config import Settings

    root = tmp_path_factory.mktemp("dashboard")
    settings = Settings(
        model="imagebind_tiny",
        seed=0,
        device="cpu",
        data_dir=root / "data",
        cache_dir=root / "cache",
        offline=True,
        _env_file=None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Engine(settings, encoder=tiny_encoder) as engine:
            report = engine.ingest([str(media_folder.root)], tags=["demo"])
            assert not report.rejected, report.rejected
            add_stream(engine, STREAM, media_folder, start=time.time() - 600)
    return root


@pytest.fixture
def dashboard_env(dashboard_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    for name, value in tiny_env(dashboard_data / "data", dashboard_data / "cache").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(dashboard_data)  # no stray .env file
    return dashboard_data


@pytest.fixture
def empty_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty collection in tmp."""
    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    for name, value in tiny_env(tmp_path / "data", tmp_path / "cache").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path
