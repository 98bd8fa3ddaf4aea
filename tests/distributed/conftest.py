"""Fixtures for the distributed suite: a private `redis-server` per test, never the shared one.

`redis_server` starts `/usr/bin/redis-server` on a free loopback port in the test's tmp dir
(no RDB snapshots, no append-only file) and yields a `RedisServer` with `.url`
(`redis://127.0.0.1:<port>/0`), `.port`, `.restart()` and `.stop()`. A test that needs the
data to survive a restart asks for `redis_server_aof` (append-only file on, fsync always).
The process group is killed in the finalizer, even when the test fails.

`celery_cluster` (and `celery_cluster_aof`) add the Celery side: the `BINDING_*` settings of
a test worker in this process's environment, a client engine and executor, and the workers
the test starts (`cluster.worker(...)`), all killed at the end (see `celery_harness.py`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.distributed.celery_harness import Cluster

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the process group of `proc` (started with `start_new_session=True`)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class RedisServer:
    """A private redis-server on a free loopback port, owned by one test."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.folder = folder
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Start the server (same port, same folder) and wait until it answers PING."""
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", str(self.folder),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    log = (self.folder / "redis.log").read_text(errors="replace")
                    raise RuntimeError(f"redis-server exited on start-up:\n{log}")
                try:
                    # With AOF on, wait until the data set is loaded too.
                    if client.ping() and int(client.info("persistence").get("loading", 0)) == 0:
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server (SIGKILL by default: a crash, nothing flushed beyond the AOF)."""
        if self.proc is not None:
            kill_group(self.proc, sig)
            self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """Kill the server, stay down `down_for` seconds, start it again on the same port."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def client(self):  # type: ignore[no-untyped-def]
        """A redis-py client on this server (decoded responses)."""
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)


def _serve(tmp_path: Path, *, appendonly: bool) -> Iterator[RedisServer]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis", appendonly=appendonly)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server (no persistence) on a free port; killed after the test."""
    yield from _serve(tmp_path, appendonly=False)


@pytest.fixture
def redis_server_aof(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server with the append-only file on, for restart tests (R5)."""
    yield from _serve(tmp_path, appendonly=True)


@pytest.fixture
def celery_cluster(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """Settings, client and workers for Celery tests over `redis_server`."""
    from tests.distributed.celery_harness import cluster_around

    yield from cluster_around(tmp_path, redis_server, monkeypatch)


@pytest.fixture
def celery_cluster_aof(
    tmp_path: Path, redis_server_aof: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """`celery_cluster` over a Redis that keeps its data across a restart."""
    from tests.distributed.celery_harness import cluster_around

    yield from cluster_around(tmp_path, redis_server_aof, monkeypatch)
