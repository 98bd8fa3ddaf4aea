"""Every knob in one place. Values come from arguments, `BINDING_*` environment variables or a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "binding"


def _default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "binding"


class Settings(BaseSettings):
    """Configuration of the library, the CLI, the workers and the dashboard."""

    model_config = SettingsConfigDict(
        env_prefix="BINDING_", env_file=".env", extra="forbid", validate_default=True
    )

    # --- model -------------------------------------------------------------------------
    model: str = Field("imagebind_huge", description="Model name from `binding models`.")
    checkpoint: str | None = Field(
        None, description="Local path or URL of the weights; default: the model's own URL."
    )
    seed: int | None = Field(
        None,
        description="Build with seeded random weights instead of a checkpoint (tests, smoke runs).",
    )
    device: str = Field("auto", description="`auto`, `cpu`, `cuda` or `cuda:N`.")
    precision: Literal["fp32", "bf16", "fp16", "int8"] = Field(
        "fp32", description="Compute precision; bf16/int8 are the fast CPU modes."
    )
    batch_size: int | None = Field(
        None, ge=1, description="Items per forward pass; default: sized for the device."
    )

    # --- files -------------------------------------------------------------------------
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Downloaded weights.")
    data_dir: Path = Field(default_factory=_default_data_dir, description="Store and media.")
    offline: bool = Field(False, description="Never touch the network.")

    # --- distributed mode (unset: embedded) ----------------------------------------------
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    broker_url: str | None = None
    collection: str = "binding"
