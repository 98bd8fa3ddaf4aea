"""Real worker processes for the Celery fault tests: start, find the pool child, kill, stop.

A worker is `python -m workers.cli` (the `binding worker` command) in its own process
group, with the tiny model, seed 0, a short visibility timeout and matching time limits, and
a data folder the test owns. The store is the worker's embedded Edge folder, which one process
can open at a time: the test reads it after the worker has exited (or, with
`BINDING_TEST_QDRANT_URL` set, a Qdrant server both can reach, in a collection of its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.distributed.conftest import RedisServer, kill_group

REPO = Path(__file__).resolve().parents[2]

#: Test limits: the guard wants hard + 30 s < visibility; sweeps for lost tasks every second.
TIME_LIMIT_S = 8
SOFT_TIME_LIMIT_S = 6
VISIBILITY_TIMEOUT_S = 40
RESTORE_INTERVAL_S = 1

MODEL = "imagebind_tiny"


def worker_env(tmp: Path, broker_url: str, **extra: str) -> dict[str, str]:
    """Environment of a test worker (and of the test's own client settings)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("BINDING_") and k != "PYTHONPATH"
    }
    env.update(
        BINDING_MODEL=MODEL,
        BINDING_SEED="0",
        BINDING_DEVICE="cpu",
        BINDING_DATA_DIR=str(tmp / "data"),
        BINDING_CACHE_DIR=str(tmp / "cache"),
        BINDING_OFFLINE="true",
        BINDING_BROKER_URL=broker_url,
        BINDING_TASK_TIME_LIMIT=str(TIME_LIMIT_S),
        BINDING_TASK_SOFT_TIME_LIMIT=str(SOFT_TIME_LIMIT_S),
        BINDING_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_S),
        BINDING_RESTORE_INTERVAL=str(RESTORE_INTERVAL_S),
        BINDING_INGEST_WORKERS="1",
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    qdrant = os.environ.get("BINDING_TEST_QDRANT_URL")
    if qdrant:
        env["BINDING_QDRANT_URL"] = qdrant
        env["BINDING_COLLECTION"] = f"test_{uuid.uuid4().hex[:12]}"
        if os.environ.get("BINDING_TEST_QDRANT_API_KEY"):
            env["BINDING_QDRANT_API_KEY"] = os.environ["BINDING_TEST_QDRANT_API_KEY"]
    env.update(extra)
    return env


def make_images(folder: Path, count: int, *, seed: int = 0, size: int = 16) -> list[Path]:
    """`count` small PNGs of random pixels (each one different)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = folder / f"img{i:04d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def expected_ids(paths: list[Path]) -> set[str]:
    """The point ids the images must end up under (one whole-file point each)."""
    from binding.media import hash_file
    from binding.points import point_id

    return {str(point_id(MODEL, "image", hash_file(p)[0])) for p in paths}


class Worker:
    """One `binding worker` process (group) with its log file."""

    def __init__(
        self, env: dict[str, str], log: Path, *, args: tuple[str, ...] = (), module: str = ""
    ) -> None:
        self.env = env
        self.log = log
        self.args = args
        self.module = module or "workers.cli"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Worker:
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n=== start {self.starts} ===\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "--loglevel", "info", *self.args],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until this start's log says the worker is ready (its pool child is up)."""
        marker = f"=== start {self.starts} ==="
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            tail = text[text.rfind(marker) :]
            if " ready." in tail and self.children():
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{tail[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.log_text()[-3000:]}")

    def children(self) -> list[int]:
        """Pids of the pool processes (direct children of the worker)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker: parent and pool children, no shutdown at all."""
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def stop(self, timeout: float = 60.0) -> None:
        """Warm shutdown (SIGTERM to the parent): running tasks finish, the store is closed."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc, signal.SIGKILL)
        # Pool children of a parent that exited normally are gone too; make sure.
        kill_group(self.proc, signal.SIGKILL)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def inspect_store(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """(count, {id: point}) of the worker's collection, read after the worker has exited."""
    from binding.config import Settings
    from binding.models.registry import get_spec
    from binding.store import open_store

    names = (
        "BINDING_DATA_DIR",
        "BINDING_QDRANT_URL",
        "BINDING_QDRANT_API_KEY",
        "BINDING_COLLECTION",
    )
    values = {k[len("BINDING_") :].lower(): env[k] for k in names if k in env}
    settings = Settings(**values)  # type: ignore[arg-type]
    store = open_store(settings, model=MODEL, dim=get_spec(MODEL).embed_dim)
    try:
        points = {str(p.id): p for p in store.scroll(with_vectors=True)}
        return store.count(), points
    finally:
        store.close()


def assert_exactly_once(env: dict[str, str], paths: list[Path]) -> None:
    """Count equals N, the ids are exactly the expected ones, vectors are unit, payload set."""
    count, points = inspect_store(env)
    wanted = expected_ids(paths)
    assert count == len(paths), f"{count} points for {len(paths)} files"
    assert set(points) == wanted, (
        f"missing {len(wanted - set(points))}, phantom {len(set(points) - wanted)}"
    )
    for point in points.values():
        norm = float(np.linalg.norm(point.vector))
        assert abs(norm - 1.0) < 1e-3, f"point {point.id} has a vector of norm {norm}"
        for key in ("modality", "source", "sha256", "media", "model"):
            assert point.payload.get(key), f"point {point.id} has no {key!r} in its payload"
        assert point.payload["modality"] == "image"


def drop_collection(env: dict[str, str]) -> None:
    """With a Qdrant server, remove the test's collection."""
    url = env.get("BINDING_QDRANT_URL")
    if not url:
        return
    from qdrant_client import QdrantClient

    client = QdrantClient(url=url, api_key=env.get("BINDING_QDRANT_API_KEY"))
    try:
        client.delete_collection(env["BINDING_COLLECTION"])
    finally:
        client.close()


class Cluster:
    """A private Redis, the workers a test starts, and a client (engine + executor) in the
    test process, all with the same `BINDING_*` settings."""

    def __init__(self, tmp: Path, redis: RedisServer, env: dict[str, str]) -> None:
        from binding.api import Engine
        from binding.config import Settings
        from binding.executor import QueueExecutor

        self.tmp = tmp
        self.redis = redis
        self.env = env
        self.workers: list[Worker] = []
        self.settings = Settings()
        self.engine = Engine(self.settings)
        self.executor = QueueExecutor(self.engine)

    def worker(self, *args: str, module: str = "", **env: str) -> Worker:
        """Start a worker (`binding worker ARGS`, or `python -m MODULE ARGS`)."""
        worker = Worker(
            {**self.env, **env},
            self.tmp / f"worker{len(self.workers)}.log",
            args=args,
            module=module,
        )
        self.workers.append(worker)
        return worker.start()

    def done(self, job_id: str) -> int:
        """Files of the job with an outcome."""
        status = self.executor.jobs.status(job_id)
        return status.total - status.pending

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.executor.jobs.dead_letters()

    def stats(self) -> dict[str, int]:
        raw = self.redis.client().hgetall("binding:stats")
        return {k: int(v) for k, v in raw.items()}

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.executor.close()
        drop_collection(self.env)


def cluster_around(tmp: Path, redis: RedisServer, monkeypatch: Any) -> Iterator[Cluster]:
    """A `Cluster` whose settings are also this process's environment; closed at the end."""
    env = worker_env(tmp, redis.url)
    for name in list(os.environ):
        if name.startswith("BINDING_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("BINDING_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp)
    cluster = Cluster(tmp, redis, env)
    try:
        yield cluster
    finally:
        cluster.close()
