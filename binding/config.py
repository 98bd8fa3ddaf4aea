"""Every knob in one place. Values come from arguments, `BINDING_*` environment variables or a `.env` file."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from binding.errors import ConfigurationError

#: Collection name when BINDING_COLLECTION is unset: one per model, so models of different
#: dimensions share a data folder without the user naming collections.
COLLECTION_PREFIX = "binding-"
#: What BINDING_COLLECTION defaulted to before collections were per model.
OLD_DEFAULT_COLLECTION = "binding"

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


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
    device: str = Field("auto", description="`auto`, `cpu`, `cuda`, `cuda:N` or `mps`.")
    precision: Literal["fp32", "auto", "bf16", "fp16", "int8"] = Field(
        "fp32",
        description="Compute precision: `fp32`, `auto` (what `binding doctor` shows: bf16 on "
        "CPUs with native bf16 and on recent GPUs, int8 on other CPUs, fp16 on older GPUs), "
        "`bf16`, `fp16` (GPU) or `int8` (CPU).",
    )
    batch_size: int | None = Field(
        None, ge=1, description="Items per forward pass; default: sized for the device."
    )
    towers: str | None = Field(
        None,
        description="Trained model folders (`binding train` outputs, or folders holding "
        "them), separated by commas or the path separator: each adds its modality and tower.",
    )

    # --- files -------------------------------------------------------------------------
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Downloaded weights.")
    data_dir: Path = Field(default_factory=_default_data_dir, description="Store and media.")
    offline: bool = Field(False, description="Never touch the network.")
    store_reserve_bytes: int = Field(
        256 * 2**20,
        ge=0,
        description="Free disk space the embedded store keeps; a write that would leave less "
        "is refused with a clear error instead of crashing (docs/store.md).",
    )

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
    video_max_seconds: float = Field(
        14_400.0,
        gt=0,
        description="Longest video ingest accepts (s), counted from its stream, not its header.",
    )
    video_max_frames: int = Field(
        1_000_000,
        ge=1,
        description="Most frames a video may hold (counted, not read from its header).",
    )
    video_time_budget: float = Field(
        600.0,
        gt=0,
        description="Seconds one video may spend being demuxed and decoded; over it, it is rejected.",
    )

    # --- distributed mode (unset: embedded) ----------------------------------------------
    qdrant_url: str | None = Field(
        None, description="http(s) URL of a Qdrant server; unset: the embedded store."
    )
    qdrant_api_key: str | None = Field(None, description="API key of the Qdrant server.")
    broker_url: str | None = Field(
        None,
        description="Celery broker: a Redis URL, or amqp:// for RabbitMQ (redelivers a lost "
        "worker's task at once; needs BINDING_REDIS_URL); unset: work runs in-process.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis of job records, delivery counters and streams; default: "
        "BINDING_BROKER_URL when that is Redis.",
    )
    collection: str | None = Field(
        None,
        description="Collection (store) name; default: `binding-<model>`, one per model.",
    )

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
    follow_symlinks: bool = Field(
        False,
        description="Ingest follows symbolic links that lead outside the folder being "
        "ingested, and links to folders; off: each is reported as rejected with the reason.",
    )
    retry_window: int = Field(
        900,
        ge=0,
        description="Seconds a task keeps retrying (with backoff) while the store or the "
        "broker is unavailable; then its files end failed, retryable (binding jobs retry).",
    )
    model_load_timeout: int = Field(
        600, ge=1, description="Seconds a worker process may take to load the model."
    )

    def tower_folders(self) -> list[Path]:
        """`towers` as folders, in order, without repeats."""
        if not self.towers:
            return []
        parts = self.towers.replace(os.pathsep, ",").split(",")
        folders: list[Path] = []
        for part in parts:
            if part.strip() and Path(part.strip()).expanduser() not in folders:
                folders.append(Path(part.strip()).expanduser())
        return folders

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from binding.models.registry import get_spec  # no torch: the table of specs only

        get_spec(value)  # ValueError naming the models there are
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        check_device(value)
        return value

    def records_url(self) -> str | None:
        """The Redis URL of job records: BINDING_REDIS_URL, else a Redis BINDING_BROKER_URL."""
        if self.redis_url:
            return self.redis_url
        broker = self.broker_url or ""
        return broker if broker.startswith(("redis://", "rediss://", "unix://")) else None

    def collection_for(self, model: str) -> str:
        """The collection `model`'s vectors go to: BINDING_COLLECTION when set, else
        `binding-<model>` (one per model, so models of different dimensions coexist).

        A store folder made under the old default name (`binding`, before collections were
        per model) for this model is still used when BINDING_COLLECTION is unset, so an
        embedded store keeps working after an upgrade (a Qdrant server's collection needs
        BINDING_COLLECTION=binding; see docs/store.md).
        """
        if self.collection is not None:  # an empty name is refused by the store, not ignored
            return self.collection
        if not self.qdrant_url:
            old = Path(self.data_dir) / "store" / OLD_DEFAULT_COLLECTION
            if old.is_dir():
                from binding.store.edge import RECORD_FILE

                try:
                    record = json.loads((old / RECORD_FILE).read_text())
                except (OSError, ValueError):
                    record = None
                if isinstance(record, dict) and record.get("model") == model:
                    return OLD_DEFAULT_COLLECTION
        return f"{COLLECTION_PREFIX}{model}"


def check_device(value: str) -> None:
    """Refuse a device name torch would not take (`gpu`, `cuda0`), naming what is accepted."""
    if not _DEVICE.fullmatch(value):
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")


class SettingsError(ConfigurationError, ValueError):
    """A bad setting, said in one line naming it (a `ValueError` too, as pydantic's was)."""


def _name(location: tuple[int | str, ...], arguments: frozenset[str]) -> str:
    """`BINDING_PRECISION` for the field `precision` from the environment, `precision=` for
    an argument the caller passed."""
    if not location:
        return "a BINDING_* setting"
    field = str(location[0])
    return f"{field}=" if field in arguments else "BINDING_" + field.upper()


def describe_error(error: ValidationError, arguments: Iterable[str] = ()) -> str:
    """One line per bad setting: the variable (or, for `arguments`, the argument), the value
    given and what is accepted."""
    given = frozenset(arguments)
    lines = []
    for item in error.errors():
        name = _name(tuple(item.get("loc", ())), given)
        value = item.get("input")
        if item.get("type") == "extra_forbidden":
            if name.endswith("="):
                lines.append(f"{name} is not a setting; see `python -m binding.config --markdown`")
            else:
                lines.append(f"{name} is not a setting (from the environment or .env); remove it")
            continue
        reason = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
        shown = f"{name}{value!r}" if name.endswith("=") else f"{name}={value!r}"
        lines.append(f"{shown} is not accepted: {reason}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """`Settings(**overrides)`, with a bad value raised as one `SettingsError` naming the
    variable (or the argument, for `overrides`), the value and what is accepted (not
    pydantic's report)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_error(exc, overrides)) from None


# --- the README's configuration table, generated so it cannot drift ----------------------


def _default_text(name: str, field: Any) -> str:
    if name == "cache_dir":
        return "`~/.cache/binding`"
    if name == "data_dir":
        return "`~/.local/share/binding`"
    if name == "collection":
        return "`binding-<model>`"
    if name == "batch_size":
        return "by device"
    default = field.get_default(call_default_factory=False)
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def markdown_table() -> str:
    """The configuration table of README.md: one row per setting, from `Settings` itself."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `BINDING_{name.upper()}` | {_default_text(name, field)} | {meaning} |")
    return "\n".join(rows) + "\n"


#: The lines between which README.md holds the generated table.
TABLE_START = "<!-- settings table: generated by `python -m binding.config --readme README.md` -->"
TABLE_END = "<!-- end of the settings table -->"


def with_table(readme: str) -> str:
    """`readme` with the text between the table markers replaced by `markdown_table()`."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"no {TABLE_START!r} ... {TABLE_END!r} markers")
    head = readme[: start + len(TABLE_START)]
    return f"{head}\n{markdown_table()}{readme[end:]}"


if __name__ == "__main__":  # python -m binding.config --markdown | --readme README.md
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_table())
    elif len(sys.argv) == 3 and sys.argv[1] == "--readme":
        target = Path(sys.argv[2])
        target.write_text(with_table(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.exit("usage: python -m binding.config --markdown | --readme README.md")
