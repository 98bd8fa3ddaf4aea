"""Dashboard benchmark: time from pressing search to results rendered, at 100k points.

AppTest-driven (Streamlit's headless test runner, in this process): one timed run of the
page script per query, from the widget change that starts the search to the end of the
script, every result card (preview, score, buttons; explanation bars for composite
queries) rendered into Streamlit's element tree. The browser's own drawing is not
included. Each query's text is new, so the dashboard's result cache never answers it.

The store is filled directly (the stores' bulk upsert) with `--points` random unit vectors
whose payloads point at the sample dataset's media, so every card draws a real preview.
Models: `imagebind_tiny` (all towers, seeded random weights) and `imagebind_huge` with only
its text tower (seeded random weights; compute does not depend on weight values), on CPU.

    .venv/bin/python bench/dashboard.py                      # 100k points, both models
    .venv/bin/python bench/dashboard.py --points 20000 --models imagebind_tiny --repeats 3

Results: JSON in bench/results/dashboard.json (or --out); a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = ROOT / "dashboard" / "streamlit_app.py"
UPSERT_BATCH = 2000
WORDS = ("harbour", "forest", "engine", "violin", "desert", "market", "glacier", "kitchen")


def fill(engine: Any, points: int, seed: int = 0) -> dict[str, float]:
    """`points` random unit vectors, payloads pointing at the sample media; upsert timing."""
    from binding.demo import make_demo_data
    from binding.points import make_payload
    from binding.store.base import Point

    rng = np.random.default_rng(seed)
    media: list[tuple[str, str, str]] = []  # (modality, sha256, name)
    with tempfile.TemporaryDirectory() as folder:
        data = make_demo_data(Path(folder), speech=False)
        kinds = {"images": "image", "audio": "audio", "video": "video", "depth": "depth",
                 "thermal": "thermal", "imu": "imu"}  # fmt: skip
        for path in data.all():
            modality = kinds[path.relative_to(data.root).parts[0]]
            stored = engine.media.put_file(path, ext=path.suffix)
            media.append((modality, stored.sha256, path.name))
    started = time.perf_counter()
    now = time.time()
    for first in range(0, points, UPSERT_BATCH):
        count = min(UPSERT_BATCH, points - first)
        vectors = rng.standard_normal((count, engine.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        batch = []
        for i in range(count):
            modality, sha256, name = media[(first + i) % len(media)]
            payload = make_payload(
                model=engine.model, modality=modality, source=f"bench:{first + i}", name=name,
                sha256=sha256, mime=None, size=0, media=None, time=now - (first + i),
                tags=[f"t{(first + i) % 20}"],
            )  # fmt: skip
            batch.append(Point(uuid.uuid4(), vectors[i], payload))
        engine.store.upsert(batch)
    return {"upsert_s": time.perf_counter() - started}


def timed_runs(at: Any, step: Any, repeats: int, after: Any = None) -> list[float]:
    """Seconds of each `at.run()` after `step(at, i)`; the page must render without errors.
    `after(i)`, when given, runs after each timed run (untimed here)."""
    times = []
    for i in range(repeats):
        step(at, i)
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        if after is not None:
            after(i)
    return times


def bench_model(model: str, points: int, repeats: int, workdir: Path) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    from binding.api import Engine
    from binding.config import Settings
    from binding.encoder import Encoder
    from dashboard.components import session

    os.environ.update(
        BINDING_MODEL=model, BINDING_SEED="0", BINDING_DEVICE="cpu", BINDING_OFFLINE="true",
        BINDING_DATA_DIR=str(workdir / model / "data"), BINDING_CACHE_DIR=str(workdir / "cache"),
    )  # fmt: skip
    settings = Settings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        modalities = ["text"] if model == "imagebind_huge" else None
        encoder = Encoder.load(model, modalities=modalities, seed=0, device="cpu")
        load_s = time.perf_counter() - started
    engine = Engine(settings, encoder=encoder)
    filled = fill(engine, points)
    # a served collection is indexed: build the HNSW index now, not during the timings
    started = time.perf_counter()
    optimize = getattr(engine.store, "optimize", None)
    if callable(optimize):
        optimize(wait=True)
    filled["index_s"] = time.perf_counter() - started
    session.use_engine(engine)
    some_id = str(next(iter(engine.store.scroll(batch=10))).id)

    # search page: a new text each time, 24 cards
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.switch_page("app_pages/search.py")
    at.run()
    at.text_input(key="search_text").set_value("warm up").run()  # first query: caches, JIT

    def text_step(at: Any, i: int) -> None:
        at.text_input(key="search_text").set_value(f"a photo of a {WORDS[i % len(WORDS)]} {i}")

    # each page run is followed by engine.search alone on a query of the same kind (what
    # the page adds is the difference); interleaved, so bursts of other load hit both
    engine_times: list[float] = []

    def engine_search(i: int) -> None:
        # in a thread of its own, as Streamlit runs a page (torch on the benchmark CPU runs
        # several times slower in the main thread than in another one: see the docs)
        def timed() -> None:
            started = time.perf_counter()
            engine.search(f'text:"the engine alone, {WORDS[i % len(WORDS)]} {i}" @ 24')
            engine_times.append(time.perf_counter() - started)

        worker = threading.Thread(target=timed)
        worker.start()
        worker.join()

    text_times = timed_runs(at, text_step, repeats, after=engine_search)
    cards = sum('class="bd-title"' in m.value for m in at.markdown)

    # compose page: three terms (text, stored point, negative text), explained, 10 cards
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.switch_page("app_pages/compose.py")
    at.run()

    def composite_step(at: Any, i: int) -> None:
        word = WORDS[i % len(WORDS)]
        at.text_area(key="compose_expr").set_value(
            f'0.7*text:"a {word} at dusk {i}" + id:{some_id} - 0.5*text:"people {i}"'
        )
        next(b for b in at.button if b.label == "Apply text").click()

    composite_step(at, -1)
    at.run()  # warm up
    composite_times = timed_runs(at, composite_step, repeats)
    composite_cards = sum('class="bd-title"' in m.value for m in at.markdown)
    info = engine.info()
    engine.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "median_s": round(statistics.median(values), 4),
            "min_s": round(min(values), 4),
            "max_s": round(max(values), 4),
        }

    return {
        "model": model,
        "towers": "text" if model == "imagebind_huge" else "all",
        "points": info.count,
        "dim": info.dim,
        "encoder_load_s": round(load_s, 2),
        "upsert_s": round(filled["upsert_s"], 2),
        "index_build_s": round(filled["index_s"], 2),
        "text_query": {**summary(text_times), "cards": cards, "runs": text_times},
        "engine_search_only": summary(engine_times),
        "composite_query": {
            **summary(composite_times),
            "cards": composite_cards,
            "runs": composite_times,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--models", default="imagebind_tiny,imagebind_huge")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dashboard.json")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="binding-bench-dashboard-") as folder:
        for model in args.models.split(","):
            print(f"{model}: filling {args.points:,} points and timing…", file=sys.stderr)
            results.append(bench_model(model.strip(), args.points, args.repeats, Path(folder)))
    import streamlit
    import torch

    report = {
        "benchmark": "dashboard",
        "format_version": 1,
        "driver": "streamlit.testing.v1.AppTest (script run to rendered element tree; no browser)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "streamlit": streamlit.__version__,
            "torch": torch.__version__,
        },
        "settings": {"points": args.points, "repeats": args.repeats},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "| model | points | text query median (min) | engine.search only | 3-term composite median (min) |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in results:
        t, e, c = r["text_query"], r["engine_search_only"], r["composite_query"]
        print(
            f"| {r['model']} ({r['towers']} towers) | {r['points']:,} | "
            f"{t['median_s'] * 1000:.0f} ms ({t['min_s'] * 1000:.0f}) | {e['median_s'] * 1000:.0f} ms | "
            f"{c['median_s'] * 1000:.0f} ms ({c['min_s'] * 1000:.0f}) |"
        )
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
