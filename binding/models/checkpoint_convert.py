"""Checkpoints, converting and reading: `.pth` -> memory-mapped `.safetensors` twin, and
reading the tensors under some key prefixes. See `binding.models.checkpoint`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binding.errors import CheckpointError

if TYPE_CHECKING:
    import torch

from binding.models.checkpoint_download import (
    _discard,
    _exclusive,
    _fsync_dir,
)
from binding.models.checkpoint_verify import (
    CHECKPOINT_SUBDIR,
    _path_key,
)

log = logging.getLogger(__name__)

TWIN_FORMAT = "binding-safetensors-twin"
TWIN_FORMAT_VERSION = "1"
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format since torch 1.6 is a zip archive


def _wanted(key: str, prefixes: tuple[str, ...] | None) -> bool:
    return prefixes is None or key.startswith(prefixes)


def _load_pth(path: Path) -> Any:
    """`torch.load` of a `.pth`: weights only, memory-mapped when the format allows it."""
    import torch

    with open(path, "rb") as handle:
        magic = handle.read(len(_ZIP_MAGIC))
    if not magic:
        raise CheckpointError(f"checkpoint {path} is empty; delete it and download it again")
    # Files saved before torch 1.6 (not zip archives) cannot be memory-mapped.
    mmap = magic == _ZIP_MAGIC
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def _unwrap(state: Any, path: Path) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} is not a state dict (got {type(state).__name__})")
    if "model" in state and isinstance(state["model"], dict):  # some trainers wrap it
        state = state["model"]
    return state


def read_state_dict(
    path: str | Path, prefixes: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint whose keys start with one of `prefixes` (all when None).

    `.safetensors` files are memory-mapped and only the wanted tensors are materialised;
    `.pth` files are loaded with `weights_only=True` and `mmap=True`. A missing, empty,
    truncated or corrupt file raises `CheckpointError` naming the file.
    """
    path = Path(path)
    wanted = tuple(prefixes) if prefixes is not None else None
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                keys = f.keys()  # a safe_open handle is not iterable
                return {k: f.get_tensor(k) for k in keys if _wanted(k, wanted)}
        state = _load_pth(path)
    except CheckpointError:
        raise
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise CheckpointError(
            f"checkpoint {path} cannot be read, it is truncated or corrupt ({exc}); "
            "delete it and download it again"
        ) from exc
    state = _unwrap(state, path)
    return {k: v for k, v in state.items() if _wanted(k, wanted)}


def _default_cache_dir() -> Path:
    from binding.config import Settings

    return Settings().cache_dir  # type: ignore[call-arg]  # values come from the environment


def _twin_candidates(source: Path, cache_dir: Path | None) -> list[Path]:
    """Beside the source first; in the cache when that folder is read-only or taken."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    converted = folder / CHECKPOINT_SUBDIR / "converted"
    return [
        source.with_suffix(".safetensors"),
        converted / f"{source.stem}-{_path_key(source)}.safetensors",
    ]


def _twin_metadata(twin: Path) -> dict[str, str] | None:
    """The header metadata of a readable safetensors file, else None."""
    if not twin.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(twin), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # a truncated or foreign file: not a usable twin
        return None


def _expected_metadata(source: Path, stat: os.stat_result) -> dict[str, str]:
    return {
        "format": "pt",  # what Hugging Face loaders expect here
        "binding_format": TWIN_FORMAT,
        "binding_format_version": TWIN_FORMAT_VERSION,
        "source_name": source.name,
        "source_size": str(stat.st_size),
        "source_mtime_ns": str(stat.st_mtime_ns),
    }


def _is_current(metadata: dict[str, str] | None, expected: dict[str, str]) -> bool:
    return metadata is not None and all(metadata.get(k) == v for k, v in expected.items())


def safetensors_twin(source: str | Path, cache_dir: Path | None = None) -> Path | None:
    """The up-to-date `.safetensors` twin of `source`, or None if there is none."""
    source = Path(source)
    try:
        expected = _expected_metadata(source, source.stat())
    except OSError:
        return None
    for twin in _twin_candidates(source, cache_dir):
        if _is_current(_twin_metadata(twin), expected):
            return twin
    return None


def _tensors_for_saving(state: dict[str, Any], source: Path) -> dict[str, torch.Tensor]:
    """Contiguous tensors with no shared storage, as `safetensors` requires."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"checkpoint {source} holds {key!r} = {type(value).__name__}, not a tensor; "
                "it cannot be converted to safetensors"
            )
        tensor = value.contiguous()
        if tensor.numel():
            pointer = tensor.untyped_storage().data_ptr()
            if pointer in storages:  # tied weights: store a copy of each
                tensor = tensor.clone()
            storages.add(tensor.untyped_storage().data_ptr())
        tensors[key] = tensor
    return tensors


def _convert(source: Path, twin: Path, expected: dict[str, str]) -> None:
    from safetensors.torch import save_file

    try:
        state = _unwrap(_load_pth(source), source)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {source} cannot be read, it is truncated or corrupt ({exc}); "
            "delete it and download it again"
        ) from exc
    tensors = _tensors_for_saving(state, source)
    tmp = twin.with_name(f".{twin.name}.{os.getpid()}.tmp")
    try:
        # safetensors >= 0.8 writes straight from the (memory-mapped) tensors; older versions
        # copy each tensor to bytes first, so peak memory grows with the checkpoint there.
        save_file(tensors, str(tmp), metadata=expected)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        if _expected_metadata(source, source.stat()) != expected:
            raise CheckpointError(f"checkpoint {source} changed while it was being converted")
        os.replace(tmp, twin)
        _fsync_dir(twin.parent)
    finally:
        _discard(tmp)


def ensure_safetensors(path: str | Path, *, cache_dir: Path | None = None) -> Path:
    """A `.safetensors` twin of a `.pth` checkpoint, converted once; later loads are mmapped.

    The twin goes beside the source (`imagebind_huge.pth` -> `imagebind_huge.safetensors`);
    where that folder is read-only, or a file of that name exists that is not our twin, it
    goes to `<cache_dir>/checkpoints/converted/` (default: the settings' cache dir). The
    twin's header records the source's name, size and mtime; a twin whose source changed
    is stale and converted again. Conversion writes a temporary file and renames it, under a
    lock. A `.safetensors` path is returned as it is; if no folder is writable the `.pth`
    itself is returned (it still loads memory-mapped) with a warning.
    """
    source = Path(path)
    if source.suffix == ".safetensors":
        return source
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    expected = _expected_metadata(source, source.stat())
    candidates = _twin_candidates(source, cache_dir)
    for twin in candidates:
        if _is_current(_twin_metadata(twin), expected):
            return twin
    for twin in candidates:
        metadata = _twin_metadata(twin)
        if twin.exists() and (metadata is None or metadata.get("binding_format") != TWIN_FORMAT):
            continue  # someone else's file: never overwrite it
        try:
            twin.parent.mkdir(parents=True, exist_ok=True)
            lock = open(twin.with_name(twin.name + ".lock"), "a")  # noqa: SIM115
        except OSError as exc:
            log.debug("cannot convert %s into %s: %s", source, twin.parent, exc)
            continue
        with lock, _exclusive(lock, f"another process is converting {source.name}; waiting"):
            if _is_current(_twin_metadata(twin), expected):
                return twin
            log.info("converting %s to %s", source, twin)
            try:
                _convert(source, twin, expected)
            except OSError as exc:
                log.debug("cannot write %s: %s", twin, exc)
                continue
            return twin
    log.warning(
        "no writable folder for the safetensors twin of %s (tried %s); using the .pth",
        source,
        ", ".join(str(p.parent) for p in candidates),
    )
    return source
