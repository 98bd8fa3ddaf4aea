"""What a filter costs Qdrant Edge to evaluate, apart from the vectors.

A store of `--points` points with the payloads of bench/search.py (7 modalities, 20 tags at
10% each) and 8-d vectors, so that scoring costs next to nothing and the time left is the
filter's. After `optimize()`, for each way of writing "images or videos tagged t3" (2.9% of
the points), count the matches exactly and run filtered searches (the planner scans the
matches: they are under Edge's default full-scan threshold for 8-d vectors).

    .venv/bin/python bench/filters.py --points 1000000

Ways of writing it:
  two MatchAny        modality in {image, video} AND tags in {t3}: how binding wrote it before
  MatchValue tag      the tag as MatchValue (one value), modality still MatchAny
  modality_tags       one MatchAny on the derived field: {image/t3, video/t3} (EdgeStore now)

JSON in bench/results/filters.json (or --out); a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import Data, pcts  # noqa: E402  (bench/search.py: the same payloads)

from binding.store import filters  # noqa: E402
from binding.store.base import Point  # noqa: E402
from binding.store.validation import point_payload  # noqa: E402

DIM = 8
BATCH = 5000


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--out", default="bench/results/filters.json")
    args = ap.parse_args()
    import qdrant_edge as qe

    data = Data(args.points)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.points, DIM)).astype(np.float32)
    folder = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    shard = qe.EdgeShard.create(str(folder / "shard"), config)
    for key, kind in filters.INDEXED_FIELDS.items():
        schema = qe.PayloadSchemaType.Keyword if kind == "keyword" else qe.PayloadSchemaType.Float
        shard.update(qe.UpdateOperation.create_field_index(key, schema))
    t = time.perf_counter()
    for start in range(0, args.points, BATCH):
        batch = [
            qe.Point(
                data.ids[i],
                memoryview(vectors[i]),
                # As EdgeStore writes it: with the derived modality_tags field.
                point_payload(Point(data.ids[i], vectors[i], data.payload(i))),
            )
            for i in range(start, min(start + BATCH, args.points))
        ]
        shard.update(qe.UpdateOperation.upsert_points(batch))
    upsert_s = time.perf_counter() - t
    t = time.perf_counter()
    shard.optimize()
    optimize_s = time.perf_counter() - t
    print(f"upsert {upsert_s:.0f} s, optimize {optimize_s:.0f} s", file=sys.stderr)

    field = qe.FieldCondition
    modality = field("modality", match=qe.MatchAny(["image", "video"]))
    ways = {
        "two MatchAny": qe.Filter(must=[modality, field("tags", match=qe.MatchAny(["t3"]))]),
        "MatchValue tag": qe.Filter(must=[modality, field("tags", match=qe.MatchValue("t3"))]),
        "modality_tags": qe.Filter(
            must=[field("modality_tags", match=qe.MatchAny(["image/t3", "video/t3"]))]
        ),
    }
    expected = int(data.filter_mask().sum())
    out: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "points": args.points,
        "matches": expected,
        "upsert_s": round(upsert_s, 1),
        "optimize_s": round(optimize_s, 1),
        "ways": {},
    }
    queries = rng.standard_normal((args.queries, DIM)).astype(np.float32)
    for name, where in ways.items():
        count_ms, search_ms = [], []
        for q in queries:
            t = time.perf_counter()
            n = shard.count(qe.CountRequest(exact=True, filter=where))
            count_ms.append((time.perf_counter() - t) * 1000)
            if n != expected:
                raise SystemExit(f"{name}: {n} matches, expected {expected}")
            request = qe.QueryRequest(limit=10, query=qe.Query.Nearest(q.tolist()), filter=where)
            t = time.perf_counter()
            shard.query(request)
            search_ms.append((time.perf_counter() - t) * 1000)
        out["ways"][name] = {"count": pcts(count_ms), "search": pcts(search_ms)}
        print(f"  {name}: {out['ways'][name]}", file=sys.stderr)
    shard.close()
    shutil.rmtree(folder, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"{args.points:,} points, {expected:,} match; 8-d vectors, so the time is the filter's")
    print()
    print("| filter written as | exact count p50 | filtered search p50 / p99 |")
    print("|---|---:|---:|")
    for name, r in out["ways"].items():
        s = r["search"]
        print(
            f"| {name} | {r['count']['p50_ms']:.1f} ms | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
