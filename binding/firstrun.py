"""Which model a first run uses (`binding demo` without `--model`, `scripts/run.sh`), and why.

The default model, `imagebind_huge`, needs 4.8 GB of weights. A newcomer's first run should
end with searches whose results mean something even when those weights cannot be had, so:

1. A model the user named (`--model`, `BINDING_MODEL`, also from `.env`) or seeded random
   weights (`BINDING_SEED`) are used as asked: no fallback.
2. Otherwise the default model runs when its weights are usable without waiting for a
   person: cached (or at `BINDING_CHECKPOINT`), or downloadable now (not offline and the
   host answers a HEAD request within a few seconds).
3. When they are not, one line says so and how to get them (`binding download`,
   `BINDING_CHECKPOINT`), and the run uses `binding_mini` (a small model trained here on a
   synthetic world, its weights shipped in the package; docs/mini.md) when this install has
   it, else `imagebind_tiny` with seeded random weights (the plumbing is real, the
   similarities are not).

Nothing here loads a model or reads weights: availability is checked on disk and by a HEAD
request only.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from binding.config import Settings
from binding.models.registry import ModelSpec

#: Models a first run falls back to, in order, when the default's weights cannot be had.
FALLBACK_MODEL = "binding_mini"
#: The last resort: builds anywhere (random weights), so a first run always ends.
LAST_RESORT_MODEL = "imagebind_tiny"
LAST_RESORT_SEED = 0
#: Seconds the HEAD request to the weights' host may take.
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelChoice:
    """The model a run uses: `model` (with `seed` for random weights, else None), `reason`
    (one line for the user: which model and why) and `fallback` (the default's weights
    could not be had)."""

    model: str
    reason: str
    fallback: bool = False
    seed: int | None = None


def _packaged_weights(spec: ModelSpec) -> Path | None:
    """The packaged weights file of `spec` when it has one and it is there, else None."""
    from binding.models.packaged import WEIGHTS_DIR

    if not spec.packaged or not spec.filename:
        return None
    path = WEIGHTS_DIR / spec.filename
    pinned = spec.sha256 is not None and spec.size_bytes is not None
    return path if pinned and path.is_file() and path.stat().st_size == spec.size_bytes else None


def probe_url(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when `url` answers a HEAD request with a success; else why not (one phrase)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(getattr(response, "status", 200))
    except urllib.error.HTTPError as error:
        return f"{urlparse(url).netloc} answers HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return f"{urlparse(url).netloc or url} cannot be reached ({reason})"
    return None if status < 400 else f"{urlparse(url).netloc} answers HTTP {status}"


def weights_available(spec: ModelSpec, settings: Settings) -> tuple[bool, str]:
    """(whether `spec`'s weights can be used now without a person's help, why), checked on
    disk and with at most one HEAD request; nothing is loaded or downloaded."""
    if spec.random_weights_only:
        return False, f"{spec.name} has random weights only"
    if spec.packaged:
        path = _packaged_weights(spec)
        if path is not None:
            return True, f"its weights ship with this install ({path.name})"
        return False, "its packaged weights are not in this install"
    checkpoint = settings.checkpoint
    if checkpoint and not checkpoint.startswith(("http://", "https://")):
        path = Path(checkpoint).expanduser()
        if path.is_file():
            return True, f"BINDING_CHECKPOINT={checkpoint} is there"
        return False, f"BINDING_CHECKPOINT={checkpoint} does not exist"
    url = checkpoint or spec.url
    if url is None or spec.filename is None:
        return False, f"{spec.name} names no weights"
    if not checkpoint and spec.url is not None:
        from binding.models.checkpoint import checkpoint_status

        status = checkpoint_status(
            spec.url,
            filename=spec.filename,
            size=spec.size_bytes,
            sha256=spec.sha256,
            cache_dir=settings.cache_dir,
        )
        if status.cached:
            return True, f"its weights are cached ({status.path})"
    if settings.offline:
        return False, "its weights are not cached and BINDING_OFFLINE is set"
    problem = probe_url(url)
    if problem is not None:
        return False, f"its weights are not cached and {problem}"
    size = f" ({spec.size_bytes / 1e9:.1f} GB)" if spec.size_bytes else ""
    return True, f"its weights download now from {urlparse(url).netloc}{size}"


def _asked_for(settings: Settings) -> str | None:
    """What named the model, when the user did: the variable (or `.env` line)."""
    fields = settings.model_fields_set
    if "model" in fields:
        return "BINDING_MODEL"
    if "seed" in fields and settings.seed is not None:
        return "BINDING_SEED (random weights)"
    return None


def choose_model(settings: Settings, model: str | None = None) -> ModelChoice:
    """The model a first run uses, and the one line that says why (see the module docstring).

    `model` is a `--model` given on the command line: used as it is.
    """
    from binding.models.registry import get_spec, list_models

    if model is not None:
        return ModelChoice(model, f"model: {model} (--model)")
    asked = _asked_for(settings)
    if asked is not None:
        return ModelChoice(settings.model, f"model: {settings.model} (set by {asked})")
    spec = get_spec(settings.model)
    usable, why = weights_available(spec, settings)
    if usable:
        return ModelChoice(spec.name, f"model: {spec.name}, the default: {why}")
    where = (
        f"BINDING_CHECKPOINT=/path/to/{spec.filename}" if spec.filename else "BINDING_CHECKPOINT"
    )
    get_them = f"get them with `binding download`, or set {where}"
    names = {s.name for s in list_models()}
    if FALLBACK_MODEL in names:
        mini_ok, _ = weights_available(get_spec(FALLBACK_MODEL), settings)
        if mini_ok:
            return ModelChoice(
                FALLBACK_MODEL,
                f"model: {FALLBACK_MODEL}, not {spec.name} ({why}; {get_them}). "
                f"{FALLBACK_MODEL} is a small model trained here on a synthetic world of "
                "coloured shapes: it knows that world, not real photos",
                fallback=True,
            )
    return ModelChoice(
        LAST_RESORT_MODEL,
        f"model: {LAST_RESORT_MODEL} with random weights, not {spec.name} ({why}; {get_them}); "
        "the plumbing is real, the similarities are not",
        fallback=True,
        seed=LAST_RESORT_SEED,
    )
