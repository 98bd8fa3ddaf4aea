"""Composite queries: does A + B find what matches both better than A or B alone?

Triples (A, B, target) of any modalities, as in the paper's image + audio -> image
experiment (arXiv 2305.05665, section 5.3): each of A and B is L2-normalised, scaled by 0.5
and summed; targets are ranked by cosine. Recall@k of the sum is reported beside A alone
and B alone, over the de-duplicated targets.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binding.eval import metrics
from binding.eval.classify import Embedder, normalise
from binding.eval.retrieve import resolve_item
from binding.modality import Modality, parse_modality


@dataclass
class Triples:
    modalities: tuple[Modality, Modality, Modality]  # A, B, target
    a: list[Any]
    b: list[Any]
    targets: list[Any]
    origin: str = ""


def read_triples(
    manifest: Path | str, a: Modality | str, b: Modality | str, target: Modality | str
) -> Triples:
    """Triples from a CSV with columns `a,b,target`."""
    path = Path(manifest)
    kinds = (parse_modality(str(a)), parse_modality(str(b)), parse_modality(str(target)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest (a CSV with columns a,b,target)")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("a", "b", "target") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header has no column {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: no triples in it")
    base = path.parent
    cols = [
        [resolve_item(r[name], kind, base) for r in rows]
        for name, kind in zip(("a", "b", "target"), kinds, strict=True)
    ]
    return Triples(kinds, cols[0], cols[1], cols[2], str(path))


def composite_ranks(
    a: np.ndarray, b: np.ndarray, targets: np.ndarray, target_of: Sequence[int]
) -> dict[str, np.ndarray]:
    """Ranks of each triple's target for A + B, A alone and B alone (unit inputs)."""
    combined = normalise(0.5 * normalise(a) + 0.5 * normalise(b))
    return {
        name: metrics.ranks_of_targets(vectors @ targets.T, target_of)
        for name, vectors in (("A+B", combined), ("A", a), ("B", b))
    }


def evaluate_composite(
    triples: Triples,
    embedder: Embedder,
    *,
    ks: Sequence[int] = (1, 5, 10),
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Recall@k, median rank and MRR of A + B, A and B."""
    keys = [str(t) for t in triples.targets]
    unique: dict[str, int] = {}
    target_of = [unique.setdefault(k, len(unique)) for k in keys]
    firsts = {k: t for k, t in reversed(list(zip(keys, triples.targets, strict=True)))}
    targets = [firsts[k] for k in unique]
    ma, mb, mt = triples.modalities
    a = embedder.embed(ma, triples.a, progress=progress)
    b = embedder.embed(mb, triples.b, progress=progress)
    t = embedder.embed(mt, targets, progress=progress)
    # a triple whose A, B or target was rejected (a NaN row) is left out; so is such a target,
    # while targets no triple points at stay as distractors (only A+B -> target is ranked)
    keep, good_targets, links = metrics.usable_links(
        metrics.usable_rows(a) & metrics.usable_rows(b),
        metrics.usable_rows(t),
        target_of,
        keep_unlinked=True,
    )
    if not keep.any():
        raise ValueError(f"{triples.origin}: no triple could be embedded (A, B and target)")
    out: dict[str, Any] = {
        name: metrics.retrieval_metrics(ranks, ks)
        for name, ranks in composite_ranks(a[keep], b[keep], t[good_targets], links).items()
    }
    out["triples"] = int(keep.sum())
    out["targets"] = int(good_targets.sum())
    return out
