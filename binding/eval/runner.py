"""Evaluations end to end, from `Settings`: open the encoder and the cache, run, describe the
run (`report.Run`). The CLI, the dashboard page and `bench/eval.py` call these."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binding.config import Settings
from binding.eval import report
from binding.eval.cache import CachedEmbedder
from binding.eval.classify import Classification, LabelledSet, classify
from binding.eval.composite import Triples, evaluate_composite
from binding.eval.retrieve import Pairs, retrieve
from binding.modality import Modality

if TYPE_CHECKING:
    from binding.encoder import Encoder

Progress = Callable[[int], None] | None


def open_embedder(
    settings: Settings,
    modalities: Sequence[Modality | str],
    *,
    encoder: Encoder | None = None,
    cache: bool = True,
) -> CachedEmbedder:
    """An encoder for these modalities (text always included) behind the embedding cache."""
    if encoder is None:
        from binding.encoder import Encoder

        wanted = sorted({str(m) for m in modalities} | {"text"})
        encoder = Encoder.load(settings=settings, modalities=wanted)
    weights = settings.checkpoint or (
        f"random seed {settings.seed}" if encoder.random_weights else "default checkpoint"
    )
    identity = f"{encoder.model_name}|{encoder.precision}|{weights}"
    return CachedEmbedder(encoder, settings.cache_dir if cache else None, identity=identity)


def describe(
    kind: str,
    embedder: CachedEmbedder,
    metrics: dict[str, Any],
    data: dict[str, Any],
    *,
    options: dict[str, Any] | None = None,
    seconds: float = 0.0,
) -> report.Run:
    identity = embedder.identity.split("|")
    encoder = embedder.encoder
    return report.Run(
        kind=kind,
        model=encoder.model_name,
        precision=str(encoder.precision),
        device=str(encoder.device),
        weights=identity[2] if len(identity) > 2 else "",
        random_weights=encoder.random_weights,
        adapters=list(getattr(encoder, "adapters", []) or []),
        metrics=metrics,
        data=data,
        options=options or {},
        seconds=seconds,
        rejected=dict(embedder.rejected),
    )


def run_classify(
    data: LabelledSet,
    embedder: CachedEmbedder,
    *,
    templates: Sequence[str] | None = None,
    against: Modality | str | None = None,
    progress: Progress = None,
) -> tuple[report.Run, Classification]:
    start = time.perf_counter()
    result = classify(data, embedder, templates=templates, against=against, progress=progress)
    seconds = time.perf_counter() - start
    info = {
        "origin": data.origin,
        "modality": data.modality.value,
        "count": len(data.items),
        "hash": report.data_hash(data.modality, data.items, data.labels),
    }
    options: dict[str, Any] = {"against": str(against) if against else None}
    if against is None:
        options["templates"] = list(templates) if templates else "default"
    run = describe("classify", embedder, result.metrics(), info, options=options, seconds=seconds)
    return run, result


def run_retrieve(
    pairs: Pairs, embedder: CachedEmbedder, *, progress: Progress = None
) -> report.Run:
    start = time.perf_counter()
    metrics = retrieve(pairs, embedder, progress=progress)
    info = {
        "origin": pairs.origin,
        "modality": f"{pairs.query_modality.value}->{pairs.target_modality.value}",
        "count": len(pairs.queries),
        "hash": report.data_hash(
            pairs.query_modality, pairs.queries, [str(t) for t in pairs.targets]
        ),
    }
    return describe("retrieve", embedder, metrics, info, seconds=time.perf_counter() - start)


def run_composite(
    triples: Triples, embedder: CachedEmbedder, *, progress: Progress = None
) -> report.Run:
    start = time.perf_counter()
    metrics = evaluate_composite(triples, embedder, progress=progress)
    a, b, t = (m.value for m in triples.modalities)
    info = {
        "origin": triples.origin,
        "modality": f"{a}+{b}->{t}",
        "count": len(triples.a),
        "hash": report.data_hash(
            triples.modalities[0], triples.a, [str(x) for x in triples.targets]
        ),
    }
    return describe("composite", embedder, metrics, info, seconds=time.perf_counter() - start)


def default_output(settings: Settings, kind: str) -> Path:
    """Where a run's JSON goes when the user names no file: `<data_dir>/evals/<kind>-<time>.json`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = Path(settings.data_dir) / "evals"
    path = folder / f"{kind}-{stamp}.json"
    number = 1
    while path.exists():  # two runs in one second
        number += 1
        path = folder / f"{kind}-{stamp}-{number}.json"
    return path


def saved_runs(settings: Settings) -> list[Path]:
    """The run files in `<data_dir>/evals`, newest first."""
    folder = Path(settings.data_dir) / "evals"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
