"""Fixtures shared by the whole suite: tiny-model settings, one encoder per session, sample media.

- `tiny_settings`: `imagebind_tiny` with seed 0 on the CPU, data and cache folders in the
  test's tmp dir, embedded mode. The same values are set as `BINDING_*` environment
  variables, so code that builds its own `Settings()` (the CLI) sees them too; the working
  directory is the tmp dir, so no stray `.env` file is read.
- `tiny_encoder`: one `imagebind_tiny` encoder (all towers, seeded random weights) per
  session; it is cheap, but building it in every test would add up.
- `tiny_engine`: a `binding.api.Engine` over `tiny_settings` that reuses `tiny_encoder`.
- `media_folder`: a generated folder of mixed media (`binding.demo.make_demo_data`, no
  speech so the content does not depend on the machine), made once per session; tests
  must not modify it (copy it first).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from binding.config import Settings

if TYPE_CHECKING:
    from binding.api import Engine
    from binding.demo import DemoData
    from binding.encoder import Encoder

#: Environment variables that would point a test at real services or folders.
_ISOLATE = (
    "BINDING_QDRANT_URL",
    "BINDING_QDRANT_API_KEY",
    "BINDING_BROKER_URL",
    "BINDING_CHECKPOINT",
    "BINDING_COLLECTION",
    "BINDING_PRECISION",
    "BINDING_BATCH_SIZE",
    "BINDING_TOWERS",
)


@pytest.fixture
def tiny_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the tiny model with seeded random weights, folders in tmp, embedded mode."""
    for name in _ISOLATE:
        monkeypatch.delenv(name, raising=False)
    values = {
        "BINDING_MODEL": "imagebind_tiny",
        "BINDING_SEED": "0",
        "BINDING_DEVICE": "cpu",
        "BINDING_DATA_DIR": str(tmp_path / "data"),
        "BINDING_CACHE_DIR": str(tmp_path / "cache"),
        "BINDING_OFFLINE": "true",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return Settings()


@pytest.fixture(scope="session")
def tiny_encoder() -> Encoder:
    """One tiny encoder (every tower, seed 0, CPU) for the whole session."""
    from binding.encoder import Encoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: known and intended here
        return Encoder.load("imagebind_tiny", seed=0, device="cpu", precision="fp32")


@pytest.fixture
def tiny_engine(tiny_settings: Settings, tiny_encoder: Encoder) -> Iterator[Engine]:
    """An engine over an empty store in tmp, sharing the session's tiny encoder."""
    from binding.api import Engine

    with Engine(tiny_settings, encoder=tiny_encoder) as opened:
        yield opened


@pytest.fixture(scope="session")
def media_folder(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    """A folder of mixed media: images, audio, videos, depth/, thermal/, IMU (read-only)."""
    from binding.demo import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("media"), seed=0, speech=False)
