"""Ingest end to end: how much of the wall time is the encoder's own compute.

For one folder of mixed files (images, audio, video, depth, thermal, IMU), measured:
- `compute`: the encoder alone on the same inputs, decoded and preprocessed beforehand, in
  the batches ingest uses (sum of `forward_items` times);
- `embedded`: `Engine.ingest` in this process (decode threads overlap the network);
- `celery_1w`: one `binding worker` (prefork, one pool process) fed by the queue executor,
  16 files per task (4 for the 36 huge files), against a private redis-server;
- `celery_1w_task1`: the same with one file per task (no batching across files);
- `celery_2w`: two worker processes (`--workers 1,2`, the default).

Every process runs `--threads` torch threads (default 1). With two OpenMP threads on a CPU
that other processes also use, a batch stalls whenever one thread is descheduled: measured
here, the same tiny-model batch took 0.006 s with one thread and 0.01 to 0.2 s with two.
One thread for the network leaves the second core to decoding, as a GPU would.

Pipeline efficiency = encoder time / wall time, where the encoder time is the sum of the
`forward_items` calls of the same run (over several worker processes: divided by their
number), so both see the same share of a CPU that other processes also use. 1.0 means that
decoding, hashing, queueing and the store cost nothing on top of the network. The separate
compute-only pass is reported too (`efficiency_vs_compute_pass`), but on a shared CPU its
timing swings by a third from run to run. Wall times of the Celery runs start at the
submit and end when the job has no pending file; worker start-up, model loading and a
warm-up job are excluded. Items/s per modality come from embedded runs
of each modality alone. `embedded` also reports where its time went: decode + preprocess
(in threads, overlapping), forward passes, upserts.

Two embedded stores cannot share a folder, so with two workers each owns a store of its own
(the media folder is shared); `celery_2w` measures compute scaling, not a shared store.

    .venv/bin/python bench/ingest.py                         # tiny model, 300 files (~5 min)
    .venv/bin/python bench/ingest.py --quick --workers 1     # no per-modality or 2-worker runs
    .venv/bin/python bench/ingest.py --model imagebind_huge --quick --workers 1
                                                             # huge, random weights, 36 files

Writes bench/results/ingest.json (merged per model). This machine has 2 cores that other
processes share: compare numbers within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `workers` (the Celery side) lives next to `binding`
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "ingest.json"

#: Files per modality for each model (huge: a few dozen items, ~5 s per image on 2 cores).
#: (Texts are not files: they are embedded from strings, at query time.)
MIXES = {
    "imagebind_tiny": {
        "image": 160, "audio": 40, "video": 10, "depth": 40, "thermal": 40, "imu": 10,
    },
    "imagebind_huge": {"image": 16, "audio": 4, "video": 0, "depth": 6, "thermal": 6, "imu": 4},
}  # fmt: skip


# --- inputs --------------------------------------------------------------------------------


def make_mix(folder: Path, counts: dict[str, int], seed: int = 0) -> dict[str, list[Path]]:
    """Generated files: photo-like JPEG/PNG, 4 s WAVs, 3 s MP4s, depth and thermal PNGs
    (in `depth/` and `thermal/` folders) and 6 s IMU CSVs at 400 Hz."""
    import soundfile
    from PIL import Image, ImageDraw

    from binding.demo import _imu, _video

    rng = np.random.default_rng(seed)
    made: dict[str, list[Path]] = {}
    for modality, count in counts.items():
        sub = folder / modality
        sub.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(count):
            if modality == "image":
                size = (int(rng.integers(200, 640)), int(rng.integers(200, 480)))
                img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
                draw = ImageDraw.Draw(img)
                for _ in range(6):
                    x0, y0 = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
                    box = (x0, y0, x0 + int(rng.integers(10, 120)), y0 + int(rng.integers(10, 120)))
                    draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
                path = sub / f"photo{i:04d}.{'jpg' if i % 2 else 'png'}"
                img.save(path, quality=90) if i % 2 else img.save(path)
            elif modality == "audio":
                rate, seconds = 16_000, 4.0
                t = np.arange(int(rate * seconds)) / rate
                tone = 0.3 * np.sin(2 * np.pi * float(rng.uniform(100, 2000)) * t)
                samples = (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
                path = sub / f"clip{i:04d}.wav"
                soundfile.write(path, samples, rate)
            elif modality == "video":
                path = _video(sub / f"clip{i:04d}.mp4", seconds=3.0, fps=10, rng=rng)
            elif modality == "imu":
                path = _imu(sub / f"walk{i:04d}.csv", seconds=6.0, rng=rng, walking=bool(i % 2))
            else:  # depth: 16-bit millimetres; thermal: 8-bit grey
                h, w = 192, 256
                ramp = np.linspace(500, 4000, w)[None, :] + rng.normal(0, 50, (h, w))
                if modality == "depth":
                    array = np.clip(ramp, 0, 65535).astype(np.uint16)
                else:
                    array = np.clip(ramp / 16, 0, 255).astype(np.uint8)
                path = sub / f"frame{i:04d}.png"
                Image.fromarray(array).save(path)
            paths.append(path)
        made[modality] = paths
    return made


# --- measurements --------------------------------------------------------------------------


def settings_for(model: str, data_dir: Path, **extra: Any) -> Any:
    from binding.config import Settings

    values: dict[str, Any] = {
        "model": model,
        "seed": 0,
        "device": "cpu",
        "data_dir": data_dir,
        "cache_dir": data_dir / "cache",
        "offline": True,
        "broker_url": None,
        "qdrant_url": None,
    }
    return Settings(**{**values, **extra})


def compute_time(
    encoder: Any, settings: Any, files: list[Path], *, repeats: int = 1
) -> dict[str, Any]:
    """Seconds of forward passes for `files`, decoded beforehand, in ingest's batches.

    Each batch runs `repeats` times and its fastest run counts (other processes share the
    CPU).
    """
    import torch

    from binding.ingest import collect, expand_plan, inspect_file

    items, _ = collect([str(p) for p in files])
    by_modality: dict[str, list[torch.Tensor]] = {}
    for index, item in enumerate(items):
        plan = inspect_file(index, item, settings, encoder.model_name)
        if not hasattr(plan, "units"):
            continue
        expand_plan(plan, settings)
        for unit in plan.units:
            assert unit.items is not None
            by_modality.setdefault(plan.modality.value, []).extend(unit.items)  # (S, ...) rows
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for modality, clips in by_modality.items():
        limit = encoder.batch_size(modality)
        seconds[modality] = 0.0
        for first in range(0, len(clips), limit):
            batch = torch.stack(clips[first : first + limit])  # (B, *item_shape)
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                encoder.forward_items(modality, batch)
                runs.append(time.perf_counter() - start)
            seconds[modality] += min(runs)
        counts[modality] = len(clips)
    return {
        "seconds": sum(seconds.values()),
        "seconds_by_modality": seconds,
        "network_items": counts,
    }


@contextlib.contextmanager
def timed_parts(engine: Any) -> Iterator[dict[str, float]]:
    """Seconds spent in decode+preprocess (all threads), forward passes and upserts."""
    import binding.ingest as ingest_module

    parts = {"decode_preprocess_s": 0.0, "forward_s": 0.0, "upsert_s": 0.0}
    lock = threading.Lock()

    def timing(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    parts[name] += time.perf_counter() - start

        return wrapper

    prepare = ingest_module._prepare
    encoder, store = engine.encoder, engine.store
    ingest_module._prepare = timing("decode_preprocess_s", prepare)  # type: ignore[attr-defined]
    encoder.forward_items = timing("forward_s", encoder.forward_items)
    store.upsert = timing("upsert_s", store.upsert)
    try:
        yield parts
    finally:
        ingest_module._prepare = prepare  # type: ignore[attr-defined]
        del encoder.forward_items, store.upsert


def embedded_run(encoder: Any, model: str, folders: list[Path], scratch: Path) -> dict[str, Any]:
    from binding.api import Engine

    data = Path(tempfile.mkdtemp(dir=scratch, prefix="embedded-"))
    with Engine(settings_for(model, data), encoder=encoder) as engine:
        engine.store  # noqa: B018 - open it before the clock starts
        with timed_parts(engine) as parts:
            start = time.perf_counter()
            report = engine.ingest([str(f) for f in folders])
            wall = time.perf_counter() - start
    shutil.rmtree(data, ignore_errors=True)
    return {"wall_s": wall, "files": report.counts["files"], **report.counts, **parts}


class Redis:
    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(folder), "--logfile", str(folder / "log")],
            start_new_session=True,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


FORWARD_KEY = "bench:forward_s"


def run_as_worker(argv: list[str]) -> None:
    """`binding worker ARGV` whose forward passes add their seconds to Redis `bench:forward_s`
    (patched in the parent, before the pool forks, so every pool process has it)."""
    import redis

    from binding.encoder import Encoder
    from workers.cli import worker_app

    client = redis.Redis.from_url(os.environ["BINDING_BROKER_URL"])
    forward = Encoder.forward_items

    def timed(self: Any, modality: Any, items: Any) -> Any:
        start = time.perf_counter()
        try:
            return forward(self, modality, items)
        finally:
            client.incrbyfloat(FORWARD_KEY, time.perf_counter() - start)

    Encoder.forward_items = timed  # type: ignore[method-assign]
    worker_app(argv, prog_name="binding worker")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--as-worker", "--loglevel", "info"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc


def wait_loaded(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
    """Until each worker's pool process says it loaded the model."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all("loaded" in log.read_text(errors="replace") for log in logs):
            return
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    raise RuntimeError("workers did not load the model in time")


def celery_run(
    model: str,
    folders: list[Path],
    scratch: Path,
    *,
    workers: int,
    task_files: int,
    threads: int,
    load_timeout: float,
) -> dict[str, Any]:
    from binding.api import Engine
    from binding.executor import QueueExecutor
    from binding.jobs import redis_client

    run = Path(tempfile.mkdtemp(dir=scratch, prefix=f"celery-{workers}w-{task_files}f-"))
    redis = Redis(run / "redis")
    client_data = run / "client"
    (client_data / "media").mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for n in range(workers):
            data = run / f"worker{n}"
            data.mkdir()
            (data / "media").symlink_to(client_data / "media")  # one shared media folder
            env = {k: v for k, v in os.environ.items() if not k.startswith("BINDING_")}
            env.update(
                BINDING_MODEL=model,
                BINDING_SEED="0",
                BINDING_DEVICE="cpu",
                BINDING_DATA_DIR=str(data),
                BINDING_CACHE_DIR=str(run / "cache"),
                BINDING_OFFLINE="true",
                BINDING_BROKER_URL=redis.url,
                BINDING_TASK_FILES=str(task_files),
                BINDING_TASK_TIME_LIMIT="3000",
                BINDING_TASK_SOFT_TIME_LIMIT="2900",
                BINDING_VISIBILITY_TIMEOUT="3600",
                PYTHONPATH=str(ROOT),
            )
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            logs.append(run / f"worker{n}.log")
            procs.append(start_worker(env, logs[-1]))
        wait_loaded(procs, logs, load_timeout)
        settings = settings_for(
            model, client_data, broker_url=redis.url, task_files=task_files,
            task_time_limit=3000, task_soft_time_limit=2900, visibility_timeout=3600,
        )  # fmt: skip
        engine = Engine(settings)
        executor = QueueExecutor(engine)
        # Warm the pool processes up (kernels per batch shape) on other files first.
        warm = [executor.submit([str(scratch / f"warm-up-{n}")]) for n in range(workers)]
        for job_id in warm:
            executor.jobs.wait(job_id, timeout=3600, poll=0.05)
        counter = redis_client(redis.url)
        counter.delete(FORWARD_KEY)
        start = time.perf_counter()
        job = executor.submit([str(f) for f in folders])
        queued = time.perf_counter() - start
        status = executor.jobs.wait(job, timeout=7200, poll=0.05)
        wall = time.perf_counter() - start
        forward = float(counter.get(FORWARD_KEY) or 0.0)
        executor.close()
        return {
            "wall_s": wall,
            "forward_s": forward,  # summed over the worker processes
            "queue_s": queued,  # hashing, media store copies, sending tasks
            "files": status.total,
            "embedded": status.embedded,
            "duplicate": status.duplicate,
            "rejected": status.rejected,
            "workers": workers,
            "task_files": task_files,
            "torch_threads": threads,
        }
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        redis.stop()
        shutil.rmtree(run, ignore_errors=True)


# --- the run -------------------------------------------------------------------------------


def bench(
    model: str,
    scratch: Path,
    *,
    workers: list[int],
    per_modality: bool,
    threads: int,
    task_files: int | None = None,
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)

    from binding.encoder import Encoder

    counts = MIXES[model]
    mix = make_mix(scratch / "files", counts)
    folders = [scratch / "files" / m for m, n in counts.items() if n]
    for n in range(2):
        make_mix(scratch / f"warm-up-{n}", {m: min(k, 2) for m, k in counts.items()}, seed=1 + n)
    files = [p for paths in mix.values() for p in paths]
    print(f"{model}: {len(files)} files {counts}", flush=True)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = Encoder.load(model, seed=0, device="cpu", precision="fp32")
    load_s = time.perf_counter() - start
    settings = settings_for(model, scratch / "compute")
    # oneDNN builds its kernels per batch shape on first use: warm up on every shape (the
    # whole set for tiny, a few files per modality for huge) before timing.
    tiny = model == "imagebind_tiny"
    warm = files if tiny else [p for paths in mix.values() for p in paths[:2]]
    compute_time(encoder, settings, warm)
    repeats = 5 if tiny else 1  # per batch, the fastest of `repeats` runs counts
    compute = compute_time(encoder, settings, files, repeats=repeats)
    print(f"  compute: {compute['seconds']:.1f} s", flush=True)
    runs: dict[str, Any] = {}
    runs["embedded"] = min(
        (embedded_run(encoder, model, folders, scratch) for _ in range(3 if tiny else 1)),
        key=lambda r: r["wall_s"],
    )
    print(f"  embedded: {runs['embedded']['wall_s']:.1f} s", flush=True)
    by_modality: dict[str, Any] = {}
    if per_modality:
        for modality in (m for m, n in counts.items() if n):
            run = embedded_run(encoder, model, [scratch / "files" / modality], scratch)
            by_modality[modality] = {
                "files": run["files"],
                "wall_s": run["wall_s"],
                "files_per_s": run["files"] / run["wall_s"],
                "compute_s": compute["seconds_by_modality"].get(modality),
            }
    del encoder
    import gc

    gc.collect()

    def celery(workers: int, task_files: int) -> dict[str, Any]:
        return celery_run(
            model, folders, scratch, workers=workers, task_files=task_files, threads=threads,
            load_timeout=1800.0,
        )  # fmt: skip

    # Files per task: 16 (the default) for the few-hundred-file tiny mix; 4 for the 36 huge
    # files, or the 16 images would be one task that only one of two workers can take.
    per_task = task_files or (16 if tiny else 4)
    runs["celery_1w"] = celery(1, per_task)
    print(f"  celery 1 worker: {runs['celery_1w']['wall_s']:.1f} s", flush=True)
    if tiny:
        runs["celery_1w_task1"] = celery(1, 1)
        print(f"  celery 1 worker, 1 file/task: {runs['celery_1w_task1']['wall_s']:.1f} s")
    if 2 in workers:
        runs["celery_2w"] = celery(2, per_task)
        print(f"  celery 2 workers: {runs['celery_2w']['wall_s']:.1f} s", flush=True)
    for run in runs.values():
        processes = run.get("workers", 1)
        # In-run: forward time measured in the same run (same share of a busy CPU).
        run["efficiency"] = run["forward_s"] / (processes * run["wall_s"])
        # Against the separate compute-only pass (noisier on a shared CPU).
        run["efficiency_vs_compute_pass"] = compute["seconds"] / run["wall_s"]
        run["files_per_s"] = run["files"] / run["wall_s"]
    return {
        "model": model,
        "random_weights_seed": 0,
        "files": counts,
        "model_load_s": load_s,
        "compute": compute,
        "runs": runs,
        "per_modality_embedded": by_modality,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
        },
        "command": "bench/ingest.py " + " ".join(sys.argv[1:]),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main() -> None:
    if sys.argv[1:2] == ["--as-worker"]:
        run_as_worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="imagebind_tiny", choices=sorted(MIXES))
    parser.add_argument("--quick", action="store_true", help="no per-modality runs")
    parser.add_argument("--workers", default="1,2", help="worker counts to run (1 and/or 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per process (1: steady on a shared CPU; see the docstring)",
    )
    parser.add_argument(
        "--task-files", type=int, default=None, help="files per task (default 16; huge: 4)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        result = bench(
            args.model, Path(tmp), workers=workers, per_modality=not args.quick,
            threads=args.threads, task_files=args.task_files,
        )  # fmt: skip
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.model] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps({k: round(v["efficiency"], 3) for k, v in result["runs"].items()}))


if __name__ == "__main__":
    main()
