"""Search benchmark: EdgeStore vs qdrant-client local mode vs exact NumPy.

Synthetic clustered unit vectors (1,000 centres, Gaussian noise around them) with payloads
like ingest's (modality, tags, time). For each size:

  EdgeStore    upsert rate; search before indexing (exact over appendable segments);
               the background index build (`store.optimize()`) while a thread keeps querying
               and another keeps writing; then p50/p99 of a plain and a three-term filtered
               query, and recall@10 against exact search, over an hnsw_ef sweep.
  local mode   qdrant-client's on-disk local mode, on the first `--local-cap` points only
               (it scores every point in Python: ~300 upserts/s, ~350 ms/query at 100k).
  NumPy        exact float32 matmul over the whole matrix in RAM.

    .venv/bin/python bench/search.py --sizes 100000,1000000 --queries 200
    .venv/bin/python bench/search.py --quick

Results: JSON in bench/results/search.json (or --out); a Markdown summary on stdout.
The machine's CPUs are shared with other work: read ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from binding.store.base import Filter, Point
from binding.store.edge import EdgeOptions, EdgeStore
from binding.store.qdrant import QdrantStore

DIM = 1024  # imagebind_huge's embedding size
CENTRES = 1000
POINT_NOISE = 0.7  # norm of a point's offset from its centre (centres have norm 1)
QUERY_NOISE = 0.35  # norm of a query's offset from the data point it is drawn near
CHUNK = 20_000  # points generated (and upserted) at a time
UPSERT_BATCH = 1000
MODALITIES = ["text", "image", "video", "audio", "depth", "thermal", "imu"]
TAGS = [f"t{i}" for i in range(20)]
#: The composite query's filter: images or videos tagged t3 (about 3% of the points).
FILTER = Filter(modalities=frozenset({"image", "video"}), tags=frozenset({"t3"}))
K = 10


def rss_mb() -> float:
    """Resident memory of this process now (MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Data:
    """Deterministic clustered vectors and payloads, made a chunk at a time."""

    def __init__(self, n: int, seed: int = 0, first_id: int = 1) -> None:
        self.n, self.seed = n, seed
        rng = np.random.default_rng(seed)
        self.centres = normalise(rng.standard_normal((CENTRES, DIM), dtype=np.float32))
        # Payload facts kept as arrays for the filtered ground truth.
        self.modality = rng.integers(0, len(MODALITIES), n)  # (N,)
        self.tags = rng.random((n, len(TAGS))) < 0.1  # (N, T) bool: ~2 tags per point
        self.time = 1.7e9 + rng.random(n) * 1e7
        self.ids = [uuid.UUID(int=first_id + i) for i in range(n)]

    def vectors(self, start: int, stop: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, start))
        which = rng.integers(0, CENTRES, stop - start)
        noise = rng.standard_normal((stop - start, DIM), dtype=np.float32)
        noise *= POINT_NOISE / np.sqrt(DIM)
        return normalise(self.centres[which] + noise)  # (B, D)

    def payload(self, i: int) -> dict[str, Any]:
        return {
            "modality": MODALITIES[self.modality[i]],
            "tags": [TAGS[t] for t in np.flatnonzero(self.tags[i])],
            "time": float(self.time[i]),
            "source": f"/data/file{i}.bin",
            "sha256": f"{i:064x}",
        }

    def points(self, start: int, stop: int, vectors: np.ndarray) -> list[Point]:
        return [Point(self.ids[i], vectors[i - start], self.payload(i)) for i in range(start, stop)]

    def filter_mask(self) -> np.ndarray:
        want_mod = [MODALITIES.index(m) for m in FILTER.modalities or ()]
        want_tag = [TAGS.index(t) for t in FILTER.tags or ()]
        return np.isin(self.modality, want_mod) & self.tags[:, want_tag].any(axis=1)


def make_queries(matrix: np.ndarray, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain queries near data points; composite = three such vectors summed, normalised."""
    rng = np.random.default_rng(seed)
    n = matrix.shape[0]

    def near(count: int) -> np.ndarray:
        base = np.asarray(matrix[np.sort(rng.choice(n, count, replace=False))])
        noise = rng.standard_normal((count, DIM), dtype=np.float32) * (QUERY_NOISE / np.sqrt(DIM))
        return normalise(base + noise)

    plain = near(n_queries)  # (Q, D)
    terms = near(3 * n_queries).reshape(n_queries, 3, DIM)
    composite = normalise(terms.sum(axis=1))  # (Q, D)
    return plain, composite


def exact_topk(matrix: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(Q, K) indices of the exact top-K, scanning `matrix` in chunks."""
    best_s = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), K), dtype=np.int64)
    for start in range(0, matrix.shape[0], 100_000):
        block = np.asarray(matrix[start : start + 100_000])  # (B, D)
        scores = queries @ block.T  # (Q, B)
        if mask is not None:
            scores[:, ~mask[start : start + len(block)]] = -np.inf
        s = np.concatenate([best_s, scores], axis=1)
        i = np.concatenate(
            [best_i, np.arange(start, start + len(block))[None].repeat(len(queries), 0)], 1
        )
        top = np.argpartition(-s, K - 1, axis=1)[:, :K]
        best_s = np.take_along_axis(s, top, 1)
        best_i = np.take_along_axis(i, top, 1)
    return best_i


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)])
    )


def pcts(ms: list[float], cpu_ms: list[float] | None = None) -> dict[str, float]:
    """Wall-clock p50/p99/mean; with `cpu_ms`, also the CPU time this process spent (all
    threads), which other jobs on the machine disturb far less than wall-clock time."""
    a = np.asarray(ms)
    out = {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }
    if cpu_ms:
        c = np.asarray(cpu_ms)
        out["cpu_p50_ms"] = round(float(np.percentile(c, 50)), 3)
        out["cpu_p99_ms"] = round(float(np.percentile(c, 99)), 3)
    return out


def time_queries(
    store: Any, queries: np.ndarray, index_of: dict[uuid.UUID, int], **kw: Any
) -> tuple[dict[str, float], list[list[int]]]:
    ms, cpu, found = [], [], []
    for q in queries:
        c, t = time.process_time(), time.perf_counter()
        hits = store.search(q, limit=K, **kw)
        ms.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        found.append([index_of[h.id] for h in hits if h.id in index_of])
    return pcts(ms, cpu), found


def write_matrix(data: Data, path: Path) -> np.memmap:
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(data.n, DIM))
    for start in range(0, data.n, CHUNK):
        stop = min(start + CHUNK, data.n)
        m[start:stop] = data.vectors(start, stop)
    m.flush()
    return m


def raw_edge_upsert(data: Data, matrix: np.ndarray, n: int, workdir: Path) -> dict[str, Any]:
    import qdrant_edge as qe

    folder = workdir / "raw-edge"
    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    shard = qe.EdgeShard.create(str(folder), config)
    pts = data.points(0, n, np.asarray(matrix[:n]))
    c, t = time.process_time(), time.perf_counter()
    for b in range(0, n, UPSERT_BATCH):
        batch = pts[b : b + UPSERT_BATCH]
        vectors = np.stack([p.vector for p in batch])  # rows as memoryviews, as EdgeStore
        shard.update(
            qe.UpdateOperation.upsert_points(
                [
                    qe.Point(p.id, memoryview(v), p.payload)
                    for p, v in zip(batch, vectors, strict=True)
                ]
            )
        )
    spent, cpu = time.perf_counter() - t, time.process_time() - c
    shard.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"points": n, "points_per_s": round(n / spent), "points_per_cpu_s": round(n / cpu)}


def keep_querying(
    store: EdgeStore,
    queries: np.ndarray,
    stop: threading.Event,
    answers: list[tuple[float, float]],
    pause: Any,
) -> None:
    """Search `queries` in turn until `stop`, noting (finished at, latency ms) of each and
    sleeping `pause(seconds the search took)` between them."""
    i = 0
    while not stop.is_set():
        t = time.perf_counter()
        store.search(queries[i % len(queries)], limit=K)
        now = time.perf_counter()
        answers.append((now, (now - t) * 1000))
        i += 1
        time.sleep(pause(now - t))


def timed_upsert(store: EdgeStore, data: Data, vectors: Any) -> dict[str, Any]:
    """Upsert all of `data` in batches; `vectors(start, stop)` gives the rows."""
    spent = cpu = 0.0
    for start in range(0, data.n, CHUNK):
        stop = min(start + CHUNK, data.n)
        pts = data.points(start, stop, vectors(start, stop))
        c, t = time.process_time(), time.perf_counter()
        for b in range(0, len(pts), UPSERT_BATCH):
            store.upsert(pts[b : b + UPSERT_BATCH])
        spent += time.perf_counter() - t
        cpu += time.process_time() - c
    return {
        "points": data.n,
        "seconds": round(spent, 2),
        "points_per_s": round(data.n / spent),
        "cpu_seconds": round(cpu, 2),
        "points_per_cpu_s": round(data.n / cpu),
        "load_average": os.getloadavg()[0],
    }


def bench_edge(
    data: Data,
    matrix: np.ndarray,
    plain: np.ndarray,
    comp: np.ndarray,
    truth: dict[str, np.ndarray],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rss0 = rss_mb()
    options = EdgeOptions(
        hnsw_m=args.m,
        hnsw_ef_construct=args.ef_construct,
        hnsw_ef=args.ef,
        quantization=args.quantization,
        full_scan_points=args.full_scan_points,
        auto_index_points=None,
        build_niceness=args.build_niceness,
    )
    store = EdgeStore(workdir / "edge", model="bench", dim=DIM, options=options)
    index_of = {u: i for i, u in enumerate(data.ids)}

    # For scale: Qdrant Edge's own upsert (no checks, no locks, no payload indexes) on the
    # first 20,000 points.
    out["raw_edge_upsert"] = raw_edge_upsert(data, matrix, min(data.n, 20_000), workdir)

    # Upsert, the way ingest does: batches of points with payloads.
    out["upsert"] = timed_upsert(store, data, lambda a, b: np.asarray(matrix[a:b]))
    out["rss_mb_after_upsert"] = round(rss_mb() - rss0)
    log(f"  edge upsert {out['upsert']}")

    # Before indexing: appendable segments are searched exactly.
    n_pre = min(len(plain), 20)
    stats, found = time_queries(store, plain[:n_pre], index_of)
    out["unindexed_query"] = {
        **stats,
        "queries": n_pre,
        "recall_at_10": recall(found, truth["plain"][:n_pre]),
    }
    log(f"  edge unindexed query {stats}")

    # The background build, with a reader and a writer running meanwhile.
    stop_flag = threading.Event()
    reads: list[tuple[float, float]] = []  # (finished at, latency ms)
    writes: list[float] = []
    extra_ids: list[uuid.UUID] = []
    rng = np.random.default_rng(99)

    def writer() -> None:
        # Ingest going on meanwhile: 100 points every 2 s, at most 5% of the store.
        while not stop_flag.is_set() and len(extra_ids) < data.n // 20:
            vecs = normalise(rng.standard_normal((100, DIM), dtype=np.float32))
            ids = [uuid.uuid4() for _ in range(100)]
            t = time.perf_counter()
            store.upsert(
                [
                    Point(u, v, {"modality": "text", "tags": ["extra"]})
                    for u, v in zip(ids, vecs, strict=True)
                ]
            )
            writes.append((time.perf_counter() - t) * 1000)
            extra_ids.extend(ids)
            time.sleep(2.0)

    # A busy dashboard: up to ten queries a second, fewer while each is slow (exact search
    # over the unindexed points), so the reader takes at most ~1/5 of a core.
    reader = threading.Thread(
        target=keep_querying,
        args=(store, plain, stop_flag, reads, lambda spent: max(0.1, 4 * spent)),
    )
    threads = [reader, threading.Thread(target=writer)]
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    store.optimize(wait=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.perf_counter() - t0
    stop_flag.set()
    for th in threads:
        th.join()
    last = store.info().details["last_build"]
    during = [ms for at, ms in reads if at <= t0 + total]
    info = store.info()
    out["index_build"] = {
        "total_s": round(total, 2),
        "copy_s": last["copy_seconds"],
        "build_s": last["seconds"],
        "build_cpu_s": round(
            children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime, 1
        ),
        "load_average_at_start": load,
        "swap_s": last["swap_seconds"],
        "replayed_points": last["replayed_points"],
        "queries_during": len(during),
        **{f"during_{k}": v for k, v in pcts(during).items()},
        "during_max_ms": round(max(during), 1),
        "queries_over_1s": sum(ms > 1000 for ms in during),
        "upserts_during": len(writes),
        "upsert_max_ms": round(max(writes), 1) if writes else None,
        "segments": info.details["segments"],
        "indexed": info.indexed,
    }
    log(f"  edge build {out['index_build']}")
    expected = data.n + len(extra_ids)
    if info.count != expected:
        raise SystemExit(
            f"after the build the store holds {info.count} points, expected {expected}"
        )
    store.delete(ids=extra_ids)
    out["rss_mb_after_index"] = round(rss_mb() - rss0)

    # Queries on the index.
    out["load_average_at_queries"] = os.getloadavg()[0]
    sweep = {}
    for ef in args.ef_sweep:
        p_stats, p_found = time_queries(store, plain, index_of, hnsw_ef=ef)
        c_stats, c_found = time_queries(store, comp, index_of, hnsw_ef=ef, filter=FILTER)
        sweep[ef] = {
            "plain": {**p_stats, "recall_at_10": round(recall(p_found, truth["plain"]), 4)},
            "composite_filtered": {
                **c_stats,
                "recall_at_10": round(recall(c_found, truth["composite"]), 4),
            },
        }
        log(f"  edge hnsw_ef={ef} {sweep[ef]}")
    out["hnsw_ef_sweep"] = sweep
    n_exact = min(len(plain), 20)
    e_stats, e_found = time_queries(store, plain[:n_exact], index_of, exact=True)
    out["exact_query"] = {
        **e_stats,
        "queries": n_exact,
        "recall_at_10": recall(e_found, truth["plain"][:n_exact]),
    }
    out["rss_mb_after_queries"] = round(rss_mb() - rss0)

    # Ingest into the indexed store: new points land in a fresh appendable segment beside the
    # index, as they do once auto_index_points has triggered builds. (The load above put all
    # N points into one appendable segment, whose updates slow down as it grows.)
    n_more = min(data.n // 10, 50_000)
    more = Data(n_more, seed=1, first_id=data.n + 1)  # ids after the stored ones
    out["upsert_into_index"] = timed_upsert(store, more, more.vectors)
    log(f"  edge upsert into the indexed store {out['upsert_into_index']}")
    out["disk_mb"] = round(
        sum(f.stat().st_size for f in (workdir / "edge").rglob("*") if f.is_file()) / 2**20
    )
    store.close()
    shutil.rmtree(workdir / "edge", ignore_errors=True)
    return out


def bench_indexing_contrast(
    data: Data, matrix: np.ndarray, plain: np.ndarray, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Queries answered while the index builds: Qdrant Edge's optimize() in this process
    (it holds the GIL) against the store's build in a child process."""
    out: dict[str, Any] = {}
    for mode in ("in_process", "background"):
        options = EdgeOptions(
            hnsw_m=args.m,
            hnsw_ef_construct=args.ef_construct,
            quantization=args.quantization,
            auto_index_points=None,
            build_niceness=args.build_niceness,
        )
        folder = workdir / f"contrast-{mode}"
        store = EdgeStore(folder, model="bench", dim=DIM, options=options)
        for start in range(0, data.n, CHUNK):
            stop = min(start + CHUNK, data.n)
            pts = data.points(start, stop, np.asarray(matrix[start:stop]))
            for b in range(0, len(pts), UPSERT_BATCH):
                store.upsert(pts[b : b + UPSERT_BATCH])
        done = threading.Event()
        answers: list[tuple[float, float]] = []

        thread = threading.Thread(
            target=keep_querying, args=(store, plain, done, answers, lambda spent: 0.01)
        )
        thread.start()
        time.sleep(0.5)  # the reader is answering before the build starts
        t0 = time.perf_counter()
        if mode == "in_process":
            store.optimize_in_process()
        else:
            store.optimize(wait=True)
        t1 = time.perf_counter()
        done.set()
        thread.join()
        during = [ms for at, ms in answers if t0 <= at <= t1]
        stamps = [t0] + [at for at, _ in answers if t0 <= at <= t1] + [t1]
        out[mode] = {
            "points": data.n,
            "build_s": round(t1 - t0, 2),
            "queries_answered_during": len(during),
            "queries_per_s_during": round(len(during) / (t1 - t0), 1),
            "longest_wait_for_an_answer_ms": round(float(np.diff(stamps).max() * 1000), 1),
            **({f"during_{k}": v for k, v in pcts(during).items()} if during else {}),
            "indexed_after": store.info().details["indexed_vectors"],
        }
        log(f"  contrast {mode}: {out[mode]}")
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    return out


def bench_filter_graphs(data: Data, matrix: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """What Qdrant's per-value HNSW links for payload indexes cost to build and buy in
    filtered recall: every indexed field with links (Edge's default, what EdgeStore does),
    links for modality and tags only, and none (with and without ACORN at query time)."""
    import qdrant_edge as qe

    from binding.store import filters

    x = np.asarray(matrix)
    _, comp = make_queries(x, 100, seed=1)
    truth = exact_topk(x, comp, data.filter_mask())
    index_of = {u: i for i, u in enumerate(data.ids)}
    out: dict[str, Any] = {}
    for variant, linked in (
        ("all", set(filters.INDEXED_FIELDS)),
        ("modality_tags", {"modality", "tags"}),
        ("none", set()),
    ):
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=args.m, ef_construct=args.ef_construct, full_scan_threshold=10_000
            ),
            quantization_config=qe.ScalarQuantizationConfig(
                qe.ScalarType.Int8, quantile=0.99, always_ram=True
            ),
        )
        folder = tempfile.mkdtemp(prefix="filter-graphs-")
        shard = qe.EdgeShard.create(folder + "/s", config)
        for key, kind in filters.INDEXED_FIELDS.items():
            params_type = qe.KeywordIndexParams if kind == "keyword" else qe.FloatIndexParams
            shard.update(
                qe.UpdateOperation.create_field_index(key, params_type(enable_hnsw=key in linked))
            )
        for b in range(0, data.n, UPSERT_BATCH):
            stop = min(b + UPSERT_BATCH, data.n)
            shard.update(
                qe.UpdateOperation.upsert_points(
                    [qe.Point(data.ids[i], x[i].tolist(), data.payload(i)) for i in range(b, stop)]
                )
            )
        c, t = time.process_time(), time.perf_counter()
        shard.optimize()
        entry: dict[str, Any] = {
            "optimize_cpu_s": round(time.process_time() - c, 1),
            "optimize_wall_s": round(time.perf_counter() - t, 1),
        }
        for ef, acorn in ((128, False), (256, False), (512, False), (256, True)):
            found, ms = [], []
            for q in comp:
                params = qe.SearchParams(
                    hnsw_ef=ef,
                    acorn=qe.AcornSearchParams(enable=True) if acorn else None,
                    quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0),
                )
                request = qe.QueryRequest(
                    limit=K,
                    query=qe.Query.Nearest(q.tolist()),
                    filter=filters.to_edge(FILTER),
                    params=params,
                )
                t = time.perf_counter()
                hits = shard.query(request)
                ms.append((time.perf_counter() - t) * 1000)
                found.append([index_of[h.id] for h in hits])
            entry[f"hnsw_ef={ef}{' acorn' if acorn else ''}"] = {
                "composite_filtered_recall_at_10": round(recall(found, truth), 3),
                **pcts(ms),
            }
        shard.close()
        shutil.rmtree(folder, ignore_errors=True)
        out[variant] = entry
        log(f"  filter graphs {variant}: {entry}")
    return out


def bench_local(
    data: Data, matrix: np.ndarray, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    n = min(data.n, args.local_cap)
    rss0 = rss_mb()
    store = QdrantStore(path=str(workdir / "local"), collection="bench", model="bench", dim=DIM)
    sub = np.asarray(matrix[:n])
    pts = data.points(0, n, sub)
    c, t = time.process_time(), time.perf_counter()
    for b in range(0, n, UPSERT_BATCH):
        store.upsert(pts[b : b + UPSERT_BATCH])
    spent, cpu = time.perf_counter() - t, time.process_time() - c
    plain, comp = make_queries(sub, args.local_queries, seed=7)
    mask = data.filter_mask()[:n]
    truth_p, truth_c = exact_topk(sub, plain, None), exact_topk(sub, comp, mask)
    index_of = {u: i for i, u in enumerate(data.ids[:n])}
    p_stats, p_found = time_queries(store, plain, index_of)
    c_stats, c_found = time_queries(store, comp, index_of, filter=FILTER)
    out = {
        "points": n,
        "upsert": {
            "seconds": round(spent, 2),
            "points_per_s": round(n / spent),
            "points_per_cpu_s": round(n / cpu),
        },
        "plain": {**p_stats, "recall_at_10": recall(p_found, truth_p)},
        "composite_filtered": {**c_stats, "recall_at_10": recall(c_found, truth_c)},
        "queries": len(plain),
        "rss_mb": round(rss_mb() - rss0),
    }
    store.close()
    shutil.rmtree(workdir / "local", ignore_errors=True)
    log(f"  local mode {out}")
    return out


def bench_numpy(
    data: Data, matrix: np.ndarray, plain: np.ndarray, comp: np.ndarray, n_queries: int
) -> dict[str, Any]:
    rss0 = rss_mb()
    full = np.array(matrix)  # (N, D) float32 in RAM
    mask = data.filter_mask()
    out: dict[str, Any] = {}
    for name, queries, m in (("plain", plain, None), ("composite_filtered", comp, mask)):
        ms, cpu = [], []
        for q in queries[:n_queries]:
            c, t = time.process_time(), time.perf_counter()
            scores = full @ q  # (N,)
            if m is not None:
                scores = np.where(m, scores, -np.inf)
            top = np.argpartition(-scores, K)[:K]
            top[np.argsort(-scores[top])]
            ms.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        out[name] = {**pcts(ms, cpu), "queries": len(ms), "recall_at_10": 1.0}
    out["rss_mb"] = round(rss_mb() - rss0)
    del full
    log(f"  numpy {out}")
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated point counts")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20,000 points, 50 queries")
    ap.add_argument("--m", type=int, default=EdgeOptions.hnsw_m)
    ap.add_argument("--ef-construct", type=int, default=EdgeOptions.hnsw_ef_construct)
    ap.add_argument(
        "--ef", type=int, default=EdgeOptions.hnsw_ef, help="default hnsw_ef of the store"
    )
    ap.add_argument("--ef-sweep", default="64,128,256,512")
    ap.add_argument("--quantization", default=EdgeOptions.quantization, choices=["none", "int8"])
    ap.add_argument(
        "--full-scan-points",
        type=int,
        default=EdgeOptions.full_scan_points,
        help="filtered searches matching fewer points per segment scan them instead of the graph",
    )
    ap.add_argument(
        "--build-niceness",
        type=int,
        default=0,
        help="niceness of the index-build child (the store's default is 10; 0 here because "
        "other jobs share the machine and would starve a niced build)",
    )
    ap.add_argument(
        "--local-cap", type=int, default=20_000, help="points given to qdrant-client local mode"
    )
    ap.add_argument("--local-queries", type=int, default=50)
    ap.add_argument("--numpy-queries", type=int, default=50)
    ap.add_argument("--skip", default="", help="comma-separated: edge,local,numpy")
    ap.add_argument(
        "--filter-graphs",
        action="store_true",
        help="also measure Qdrant's per-value HNSW links for payload indexes (build cost, recall)",
    )
    ap.add_argument(
        "--contrast",
        action="store_true",
        help="also measure queries answered during an in-process optimize() vs a background build",
    )
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--out", default="bench/results/search.json")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.queries = "20000", 50
    args.ef_sweep = [int(x) for x in args.ef_sweep.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    workroot = Path(args.workdir or tempfile.mkdtemp(prefix="bench-search-"))
    workroot.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "data": {
            "dim": DIM,
            "centres": CENTRES,
            "point_noise": POINT_NOISE,
            "query_noise": QUERY_NOISE,
            "filter": "modality in {image, video} and tag t3",
            "queries": args.queries,
        },
        "edge_options": {
            "build_niceness": args.build_niceness,
            "hnsw_m": args.m,
            "hnsw_ef_construct": args.ef_construct,
            "hnsw_ef": args.ef,
            "quantization": args.quantization,
            "full_scan_points": args.full_scan_points,
        },
        "sizes": {},
    }
    for n in (int(s) for s in args.sizes.split(",")):
        log(f"size {n}")
        workdir = workroot / str(n)
        workdir.mkdir(parents=True, exist_ok=True)
        data = Data(n)
        t = time.perf_counter()
        matrix = write_matrix(data, workdir / "matrix.npy")
        plain, comp = make_queries(matrix, args.queries, seed=1)
        truth = {
            "plain": exact_topk(matrix, plain, None),
            "composite": exact_topk(matrix, comp, data.filter_mask()),
        }
        log(
            f"  data and ground truth in {time.perf_counter() - t:.1f}s; filter keeps {data.filter_mask().mean():.3%}"
        )
        entry: dict[str, Any] = {"filter_selectivity": round(float(data.filter_mask().mean()), 4)}
        if args.filter_graphs:
            entry["filter_graphs"] = bench_filter_graphs(data, matrix, args)
        if args.contrast:
            entry["indexing_contrast"] = bench_indexing_contrast(data, matrix, plain, args, workdir)
        if "edge" not in skip:
            entry["edge"] = bench_edge(data, matrix, plain, comp, truth, args, workdir)
        if "local" not in skip and n == min(int(s) for s in args.sizes.split(",")):
            entry["qdrant_local"] = bench_local(data, matrix, args, workdir)
        if "numpy" not in skip:
            entry["numpy_exact"] = bench_numpy(data, matrix, plain, comp, args.numpy_queries)
        results["sizes"][str(n)] = entry
        del matrix
        shutil.rmtree(workdir, ignore_errors=True)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(results, indent=1)
        )  # after each size, so a long run keeps its parts
    if not args.workdir:
        shutil.rmtree(workroot, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
