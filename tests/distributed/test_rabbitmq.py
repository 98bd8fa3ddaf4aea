"""RabbitMQ as the broker: a SIGKILLed worker's task is redelivered at once (issue 10 item 5).

A private `rabbitmq-server` (its own node name, AMQP and distribution ports, folder) and a
private `redis-server` for job records. The whole worker is SIGKILLed while a task runs;
a second worker starts. With Redis as the broker the task would wait for the visibility
timeout (900 s by default); RabbitMQ requeues it as soon as the killed worker's connection
closes. Skipped, with the reason, where rabbitmq-server is not installed or cannot start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distributed.celery_harness import (
    Cluster,
    assert_exactly_once,
    make_images,
    wait_for,
    worker_env,
)
from tests.distributed.conftest import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The server script itself, not /usr/sbin's wrapper (which switches to the `rabbitmq` user in
#: a session of its own, out of reach of the test's process group).
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitServer:
    """A private rabbitmq-server on free loopback ports, in a folder of its own (its Erlang
    cookie too: HOME is that folder)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="binding-rabbit-"))
        self.folder.chmod(0o777)
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        node = f"binding{self.port}"
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {self.port}\nloopback_users = none\n"
        )
        for name in ("enabled_plugins", "rabbitmq.conf"):
            (self.folder / name).chmod(0o666)
        self.env = {
            **os.environ,
            "HOME": str(self.folder),
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_LOGS": "-",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [RABBITMQ_SERVER],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = (self.folder / "server.log").read_text(errors="replace")
            if "Server startup complete" in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited on start-up:\n{text[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server on port {self.port} did not start in {timeout} s")

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def rabbitmq() -> Iterator[RabbitServer]:
    if not Path(RABBITMQ_SERVER).exists():
        pytest.skip("rabbitmq-server is not installed")
    server = RabbitServer()
    try:
        try:
            server.start()
        except RuntimeError as error:
            pytest.skip(f"cannot start a private rabbitmq-server here: {error}")
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_a_killed_workers_task_is_redelivered_at_once(
    tmp_path: Path,
    redis_server: RedisServer,
    rabbitmq: RabbitServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = worker_env(
        tmp_path,
        rabbitmq.url,
        BINDING_REDIS_URL=redis_server.url,
        BINDING_VISIBILITY_TIMEOUT="900",  # the default: no part in RabbitMQ's redelivery
    )
    for name in list(os.environ):
        if name.startswith("BINDING_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("BINDING_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    cluster = Cluster(tmp_path, redis_server, env)
    try:
        files = make_images(tmp_path / "files", 96)
        worker = cluster.worker("--hostname", f"first@{socket.gethostname()}")
        worker.wait_ready()
        redis = redis_server.client()
        job = cluster.executor.submit([tmp_path / "files"])
        wait_for(lambda: cluster.done(job) >= 16, 120, "progress before the kill")
        (child,) = wait_for(worker.children, 30, "the pool child")
        wait_for(lambda: redis.keys(f"binding:running:*:{child}"), 60, "a running task", poll=0.02)
        worker.kill()
        killed_at = time.monotonic()
        done_at_kill = cluster.done(job)
        second = cluster.worker("--hostname", f"second@{socket.gethostname()}")
        second.wait_ready()
        ready_s = time.monotonic() - killed_at
        status = cluster.executor.jobs.wait(job, timeout=120)
        took = time.monotonic() - killed_at
        print(
            f"RabbitMQ: {done_at_kill} of 96 files done at the kill; the second worker was "
            f"ready {ready_s:.1f} s later; the job complete {took:.1f} s after the kill "
            f"(visibility timeout 900 s, not waited for)"
        )
        assert (status.embedded, status.rejected, status.total) == (96, 0, 96), status.reasons
        assert took < 60, f"redelivery took {took:.1f} s"
        assert cluster.dead_letters() == []
        assert cluster.stats().get("redeliveries", 0) >= 1  # the killed task ran again
        second.stop()
        assert_exactly_once(env, files)
    finally:
        cluster.close()
