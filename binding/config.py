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

    # --- ingest ------------------------------------------------------------------------
    max_upload_bytes: int = Field(
        1 << 30, ge=1, description="Largest file ingest accepts, uploaded or local (bytes)."
    )
    segment_seconds: float = Field(
        10.0,
        gt=1.0,
        description="Audio and video longer than this also get one point per window this long.",
    )
    ingest_workers: int = Field(
        2, ge=1, description="Threads that read and decode files while the network computes."
    )

    # --- distributed mode (unset: embedded) ----------------------------------------------
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    broker_url: str | None = None
    collection: str = "binding"

    # --- distributed: Celery workers (docs/distributed.md) ---------------------------------
    task_time_limit: int = Field(
        600, ge=1, description="Hard limit of one embedding task (s): its process is killed."
    )
    task_soft_time_limit: int = Field(
        540, ge=1, description="Soft limit (s): the task stops and its files are retried alone."
    )
    visibility_timeout: int = Field(
        900,
        ge=1,
        description="Seconds before Redis gives an unacknowledged task to another worker; "
        "must exceed the hard time limit by more than 30 s.",
    )
    restore_interval: int = Field(
        10, ge=1, description="Seconds between a worker's sweeps for tasks of lost workers."
    )
    task_files: int = Field(
        16, ge=1, description="Files per embedding task; a task's files share forward passes."
    )
    model_load_timeout: int = Field(
        600, ge=1, description="Seconds a worker process may take to load the model."
    )
