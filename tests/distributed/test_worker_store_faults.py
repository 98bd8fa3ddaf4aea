"""A worker whose store cannot open: unhealthy, stops and says why; healthy again once fixed.

Real `binding worker` processes against a private redis-server. The store cannot open
because the disk has less free space than the store keeps in reserve: the reserve is set
above the free space of the test's disk (`BINDING_STORE_RESERVE_BYTES`), which is what a
full disk looks like to the store (tests/store/test_disk_full.py fills a real tmpfs). Before,
the pool process's error was swallowed by Celery, every task failed, and the health check
said healthy; on a disk that SIGBUS'd the store, the pool was replaced 98 times in 240 s.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from binding.store.space import free_bytes
from tests.distributed.celery_harness import REPO, Worker, wait_for, worker_env
from tests.distributed.conftest import RedisServer
from workers.startup import MAX_FAILED_STARTS

pytestmark = [pytest.mark.integration]


def health(env: dict[str, str], node: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from binding.config import Settings; from workers.health import "
        f"celery_healthy; p = celery_healthy(Settings(), node={node!r}, timeout=5); "
        "print(p, file=sys.stderr); sys.exit(1 if p else 0)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_worker_whose_store_cannot_open_stops_and_says_why(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    node = f"faulty@{socket.gethostname()}"
    full = str(free_bytes(tmp_path) * 2)  # more than the disk has: the store cannot open
    env = worker_env(tmp_path, redis_server.url, BINDING_STORE_RESERVE_BYTES=full)

    unhealthy = health(env, node)
    assert unhealthy.returncode == 1
    assert "cannot open: not enough free disk space for the store in" in unhealthy.stderr
    assert str(tmp_path / "data" / "store") in unhealthy.stderr

    worker = Worker(env, tmp_path / "worker.log", args=("--hostname", node)).start()
    started = time.monotonic()
    assert worker.proc is not None
    try:
        code = worker.proc.wait(timeout=120)
    finally:
        worker.kill()
    took = time.monotonic() - started
    log = worker.log_text()
    print(f"worker stopped in {took:.1f} s with status {code}")
    assert code == 1, log[-3000:]
    assert f"worker {node} stops: a pool process cannot start: DiskFullError" in log
    assert f"error: worker {node} stopped: DiskFullError: not enough free disk space" in log
    assert log.count("stops: a pool process cannot start") <= 2  # no loop of replacements

    stopped = health(env, node)
    assert stopped.returncode == 1 and f"{node} stopped: DiskFullError" in stopped.stderr

    # Space "freed": the worker starts, clears the reason, and is healthy.
    env = worker_env(tmp_path, redis_server.url)
    worker = Worker(env, tmp_path / "worker2.log", args=("--hostname", node)).start()
    try:
        worker.wait_ready()
        wait_for(lambda: health(env, node).returncode == 0, 60, "a healthy worker")
        assert redis_server.client().get(f"binding:worker-error:{node}") is None
    finally:
        worker.stop()


def test_pool_processes_killed_while_loading_stop_the_worker(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A pool process killed before it is ready (as SIGBUS killed one on a full disk) is
    replaced, but the MAX_FAILED_STARTS + 1-th start stops the worker, saying so."""
    node = f"crashing@{socket.gethostname()}"
    env = worker_env(tmp_path, redis_server.url)
    worker = Worker(
        env,
        tmp_path / "worker.log",
        args=("--hostname", node),
        module="tests.distributed.crashing_worker",
    ).start()
    assert worker.proc is not None
    started = time.monotonic()
    try:
        code = worker.proc.wait(timeout=180)
    finally:
        worker.kill()
    log = worker.log_text()
    print(f"crash-looping worker stopped in {time.monotonic() - started:.1f} s")
    assert code == 1, log[-3000:]
    assert f"{MAX_FAILED_STARTS} pool processes in a row died while loading" in log
    assert f"error: worker {node} stopped: {MAX_FAILED_STARTS} pool processes" in log
    stopped = health(env, node)
    assert stopped.returncode == 1 and "died while loading" in stopped.stderr
