"""R6 and R7 with real processes: a private redis-server and `binding worker streams`.

Each consumer is a real process with the tiny model (`BINDING_MODEL=imagebind_tiny
BINDING_SEED=0`) and its own `BINDING_DATA_DIR`. In embedded mode the store is a Qdrant Edge
folder that one process may open at a time, so the consumer owns it: a standby consumer
opens it only once it has work (after the one it replaces is dead), and the test reads the
store after every consumer has exited. With `BINDING_TEST_QDRANT_URL` set, the consumers
write to that server (a fresh collection per test) and the same checks run against it.

- R6: SIGKILL the consumer that holds a stream while entries are pending (the start of a
  window it cannot finish yet); a standby takes the lease when it lapses, XAUTOCLAIMs the
  entries and rebuilds the window. Every window is stored exactly once (count, exact ids,
  vectors equal to embedded mode), nothing is left pending.
- R7: a producer far faster than the consumer, on a stream bounded to 200 entries: the
  length stays bounded and produced = processed + dropped (+ dead, 0 here), exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from binding.config import Settings
from binding.models.registry import get_spec
from binding.points import point_id, segment_label
from binding.store import open_store
from binding.streams import (
    CONSUMERS_KEY,
    StreamProducer,
    WindowGrid,
    ingest_recording,
    read_recording,
    stream_keys,
    stream_status,
    wait_until,
    window_identity,
)
from tests.distributed.conftest import kill_group

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RATE = 400.0
MODEL = "imagebind_tiny"
#: Seconds a consumer process may take to start (torch import and model build, loaded CI).
START_S = 150.0


def consumer_command() -> list[str]:
    """`binding worker streams` once the main CLI mounts it; until then the same command
    from `python -m binding.cli_streams`."""
    import typer.main

    from binding.cli import app

    root = typer.main.get_command(app)
    worker = getattr(root, "commands", {}).get("worker")
    if worker is not None and "streams" in getattr(worker, "commands", {}):
        script = Path(sys.executable).parent / "binding"
        base = [str(script)] if script.exists() else [sys.executable, "-m", "binding.cli"]
        return [*base, "worker", "streams"]
    return [sys.executable, "-m", "binding.cli_streams", "worker", "streams"]


class Consumers:
    """Consumer processes of one test, each in its own process group, killed at teardown."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.argv = consumer_command()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BINDING_")}
        self.settings_values: dict[str, object] = {
            "model": MODEL,
            "seed": 0,
            "device": "cpu",
            "data_dir": tmp_path / "worker-data",
            "cache_dir": tmp_path / "cache",
            "offline": True,
        }
        server = os.environ.get("BINDING_TEST_QDRANT_URL")
        if server:
            self.settings_values.update(
                qdrant_url=server,
                qdrant_api_key=os.environ.get("BINDING_TEST_QDRANT_API_KEY"),
                collection=f"streams-{uuid.uuid4().hex[:12]}",
            )
        for key, value in self.settings_values.items():
            if value is not None:
                self.env[f"BINDING_{key.upper()}"] = str(value)
        self.env["BINDING_BROKER_URL"] = url

    def settings(self) -> Settings:
        return Settings(**self.settings_values)  # type: ignore[arg-type]

    def start(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [*self.argv, "--name", name, "--lease", "2", *extra],
            env=self.env,
            cwd=self.tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def wait_ready(self, *names: str) -> None:
        client = redis.Redis.from_url(self.url, decode_responses=True)

        def ready() -> bool:
            for name in names:
                if self.procs[name].poll() is not None:
                    pytest.fail(f"consumer {name} exited:\n{self.log(name)}")
            live = set(client.zrange(CONSUMERS_KEY + "binding", 0, -1))
            return set(names) <= live

        assert wait_until(ready, START_S, 0.2), f"consumers {names} did not start"

    def stop(self, name: str) -> int:
        """SIGTERM: the consumer finishes its round, lets go of its leases, closes the store."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=60)

    def close(self) -> None:
        for proc in self.procs.values():
            kill_group(proc)


@pytest.fixture
def consumers(tmp_path: Path, redis_server) -> Iterator[Consumers]:
    group = Consumers(tmp_path, redis_server.url)
    try:
        yield group
    finally:
        group.close()


def readings(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(0, 0.5, size=(count, 6)).astype(np.float32)
    rows[:, 2] += 9.81
    return rows


def stored_points(settings: Settings) -> dict:
    store = open_store(settings, model=MODEL, dim=get_spec(MODEL).embed_dim, read_only=True)
    try:
        return {p.id: p for p in store.scroll(with_vectors=True)}
    finally:
        store.close()


def test_r6_a_killed_consumer_s_pending_entries_are_claimed_and_embedded_exactly_once(
    consumers: Consumers, redis_server, tiny_encoder, tiny_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "walk.npy"
    rows = readings(9200)  # 23 s: windows [0,2000) ... [6000,8000) and the tail [8000,9200)
    np.save(path, rows.T)
    run = read_recording([path]).run
    url = redis_server.url
    producer = StreamProducer(url, "walk", rate=RATE, run=run, start_time=1000.0)
    producer.send(rows[:5200])  # two whole windows and 30 entries of the third
    producer.flush()

    consumers.start("c1")
    consumers.start("c2")
    consumers.wait_ready("c1", "c2")

    def status():
        return stream_status(url, streams=["walk"])[0]

    assert wait_until(lambda: status().processed == 100 and status().pending == 30, 60, 0.1), (
        status()
    )
    victim = status().owner
    assert victim in ("c1", "c2")
    survivor = "c2" if victim == "c1" else "c1"
    kill_group(consumers.procs[victim], signal.SIGKILL)  # 30 entries pending, unacknowledged
    assert status().pending == 30

    producer.send(rows[5200:])
    producer.end()
    assert wait_until(lambda: status().lag_entries == 0, 90, 0.1), status()
    final = status()
    assert (final.produced, final.processed, final.dropped, final.dead) == (231, 231, 0, 0)
    assert final.pending == 0 and final.owner == survivor
    client = redis.Redis.from_url(url, decode_responses=True)
    groups = client.xinfo_consumers(stream_keys("walk").entries, "binding")
    assert all(c["pending"] == 0 for c in groups)
    assert consumers.stop(survivor) == 0
    assert "claimed 30 pending entries" in consumers.log(survivor)

    stored = stored_points(consumers.settings())
    expected = {
        point_id(
            MODEL,
            "imu",
            window_identity("walk", "imu", run, s, e),
            segment_label(s / RATE, e / RATE),
        )
        for s, e in WindowGrid.for_imu(RATE).spans(9200)
    }
    assert len(expected) == 5 and set(stored) == expected  # no phantom, none missing
    for point in stored.values():
        assert np.linalg.norm(point.vector) == pytest.approx(1.0, abs=1e-4)
        assert point.payload["stream"] == "walk" and point.payload["modality"] == "imu"
        assert point.payload["time"] == pytest.approx(1000.0 + point.payload["first_sample"] / RATE)
    # the window rebuilt from claimed entries embeds as if nothing had happened
    from binding.api import Engine

    with Engine(tiny_settings, encoder=tiny_encoder) as engine:
        alone = ingest_recording(engine, [path], stream="walk")
        assert set(alone.ids) == expected
        for point in engine.store.retrieve(alone.ids):
            np.testing.assert_allclose(point.vector, stored[point.id].vector, atol=1e-5)


def test_r7_a_producer_faster_than_the_consumer_keeps_the_stream_bounded_and_the_books_exact(
    consumers: Consumers, redis_server
) -> None:
    url = redis_server.url
    client = redis.Redis.from_url(url)
    node = int(client.config_get("stream-node-max-entries")["stream-node-max-entries"])
    maxlen = 200
    bound = maxlen + node  # XADD MAXLEN ~ trims whole nodes: at most one node over
    key = stream_keys("burst").entries
    producer = StreamProducer(url, "burst", rate=RATE, run="burst1", maxlen=maxlen, batch=10)
    lengths = []
    rows = readings(120_000)  # 300 s: 3,000 entries
    for first in range(0, 60_000, 400):  # half of it before any consumer runs
        producer.send(rows[first : first + 400])
        lengths.append(client.xlen(key))

    consumers.start("c1")
    consumers.wait_ready("c1")
    for first in range(60_000, 120_000, 400):  # the rest while it consumes
        producer.send(rows[first : first + 400])
        lengths.append(client.xlen(key))
    report = producer.end()
    assert report.entries == 3001

    def status():
        return stream_status(url, streams=["burst"])[0]

    assert wait_until(lambda: status().lag_entries == 0, 90, 0.1), status()
    final = status()
    assert max(lengths) <= bound and final.length <= bound
    assert final.produced == 3001 == final.processed + final.dropped + final.dead
    assert final.dead == 0 and final.dropped > 0 and final.processed > 0
    assert final.balanced and final.pending == 0
    assert consumers.stop("c1") == 0

    stored = stored_points(consumers.settings())
    assert len(stored) == final.windows > 0  # no crash here: each window stored once
    for point in stored.values():
        assert point.payload["samples"] == 2000 and point.payload["first_sample"] % 2000 == 0
