"""`binding doctor`: what is installed, what is missing, and how to fix it."""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass
from typing import Literal

from binding.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str


def _writable(path: os.PathLike[str] | str) -> bool:
    probe = os.fspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    return os.access(probe, os.W_OK)


def precision_check(settings: Settings) -> Check:
    """Which precision `auto` picks on this machine's device, and why; the setting in force."""
    from binding.encoder import resolve_device
    from binding.errors import ConfigurationError
    from binding.precision import choose_precision

    try:
        device = resolve_device(settings.device)
    except ConfigurationError as exc:
        return Check("precision", "warn", str(exc))
    chosen = choose_precision(device)
    auto = f"auto would choose {chosen.precision}: {chosen.reason}"
    if settings.precision == "auto":
        return Check("precision", "ok", f"BINDING_PRECISION=auto: {chosen.precision}; {auto}")
    tip = ""
    if settings.precision == "fp32" and chosen.precision != "fp32":
        tip = f"; for speed set BINDING_PRECISION=auto (or {chosen.precision})"
    if settings.precision == "bf16" and device.type == "cpu" and chosen.precision != "bf16":
        return Check(
            "precision",
            "warn",
            f"BINDING_PRECISION=bf16 on a CPU without native bf16 runs slower than fp32; {auto}",
        )
    return Check("precision", "ok", f"BINDING_PRECISION={settings.precision}; {auto}{tip}")


def tower_checks(settings: Settings, model: str) -> list[Check]:
    """One line per trained model folder of BINDING_TOWERS: usable with `model`, or why not."""
    if not settings.tower_folders():
        return []
    from binding.errors import BindingError
    from binding.towers import find_model_folders, read_tower

    try:
        folders = find_model_folders(settings.tower_folders())
    except BindingError as exc:
        return [Check("towers", "fail", str(exc))]
    checks = []
    for folder in folders:
        try:
            tower = read_tower(folder)
        except BindingError as exc:
            checks.append(Check("towers", "fail", str(exc)))
            continue
        if tower.tower_type != "array":
            checks.append(Check("towers", "fail", f"{folder}: retrains a built-in tower"))
        elif tower.anchor_model != model:
            checks.append(
                Check(
                    "towers",
                    "fail",
                    f"{folder}: trained against {tower.anchor_model}, the model is {model}",
                )
            )
        else:
            shape = "x".join(map(str, tower.input_shape))
            checks.append(Check("towers", "ok", f"{tower.modality} ({shape}): {folder}"))
    return checks


def run_checks(settings: Settings, *, model: str | None = None) -> list[Check]:
    """Every check `binding doctor` prints, in order."""
    checks: list[Check] = []
    checks.append(Check("python", "ok", f"{platform.python_version()} on {platform.machine()}"))

    try:
        import torch
    except ImportError:
        checks.append(Check("torch", "fail", "not installed: pip install torch (any build >= 2.4)"))
        return checks
    checks.append(Check("torch", "ok", f"{torch.__version__}"))

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("device", "ok", f"CUDA: {names}"))
    else:
        capability = torch.backends.cpu.get_cpu_capability()
        checks.append(
            Check(
                "device",
                "warn" if settings.device.startswith("cuda") else "ok",
                f"CPU only ({os.cpu_count()} cores, {capability})"
                + (
                    "; BINDING_DEVICE asks for CUDA but none is visible: install a CUDA torch"
                    if settings.device.startswith("cuda")
                    else ""
                ),
            )
        )
    checks.append(precision_check(settings))

    for module, why in (
        ("PIL", "images, depth, thermal"),
        ("soundfile", "audio"),
        ("soxr", "resampling"),
        ("av", "video"),
        ("ftfy", "text"),
        ("safetensors", "fast checkpoint loading"),
        ("qdrant_edge", "the embedded store"),
        ("qdrant_client", "the Qdrant server store"),
    ):
        found = importlib.util.find_spec(module) is not None
        checks.append(
            Check(module, "ok" if found else "warn", why if found else f"missing: needed for {why}")
        )

    cache = settings.cache_dir
    checks.append(
        Check(
            "cache",
            "ok" if _writable(cache) else "fail",
            f"{cache}" if _writable(cache) else f"{cache} is not writable: set BINDING_CACHE_DIR",
        )
    )
    data = settings.data_dir
    checks.append(
        Check(
            "data",
            "ok" if _writable(data) else "fail",
            f"{data}" if _writable(data) else f"{data} is not writable: set BINDING_DATA_DIR",
        )
    )

    from binding.models import get_spec

    name = model or settings.model
    try:
        spec = get_spec(name)
    except ValueError as exc:
        checks.append(Check("model", "fail", str(exc)))
        return checks
    checks.extend(tower_checks(settings, name))
    if spec.packaged and not settings.checkpoint:
        from binding.errors import CheckpointError
        from binding.models.packaged import packaged_path

        try:
            checks.append(Check("checkpoint", "ok", f"{name}: {packaged_path(spec)} (packaged)"))
        except CheckpointError as exc:
            checks.append(Check("checkpoint", "fail", str(exc)))
        return checks
    if spec.random_weights_only or spec.url is None or spec.filename is None:
        checks.append(
            Check("model", "warn", f"{name}: random weights only, embeddings are meaningless")
        )
        return checks
    if settings.checkpoint:
        from pathlib import Path

        exists = Path(settings.checkpoint).is_file() or "://" in settings.checkpoint
        checks.append(
            Check(
                "checkpoint",
                "ok" if exists else "fail",
                f"BINDING_CHECKPOINT={settings.checkpoint}"
                + ("" if exists else ": no such file; fix the path or unset it"),
            )
        )
        return checks
    from binding.models.checkpoint import checkpoint_status

    status = checkpoint_status(
        spec.url,
        filename=spec.filename,
        size=spec.size_bytes,
        sha256=spec.sha256,
        cache_dir=settings.cache_dir,
    )
    if status.cached:
        checks.append(Check("checkpoint", "ok", f"{name}: {status.path}"))
    else:
        fix = (
            "offline: copy the file there, or set BINDING_CHECKPOINT=/path/to/file"
            if settings.offline
            else "it downloads on first use; or fetch it now with `binding download`"
        )
        checks.append(
            Check(
                "checkpoint",
                "fail" if settings.offline else "warn",
                f"{name}: not cached at {status.path} ({spec.license}); {fix}",
            )
        )
    return checks
