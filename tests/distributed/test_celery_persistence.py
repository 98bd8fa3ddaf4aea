"""Item 6 of issue 10: a worker warns at start when its broker keeps no append-only file
(a restart of such a Redis loses every queued task and job record, silently). Real worker
processes against a private redis-server without and with `--appendonly yes`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from binding.config import Settings
from tests.distributed.celery_harness import Cluster, wait_for
from tests.distributed.conftest import RedisServer

pytestmark = [pytest.mark.integration]

WARNING = "no append-only file (appendonly no)"


@pytest.mark.timeout(120)
def test_worker_warns_when_the_broker_has_no_aof(celery_cluster: Cluster) -> None:
    worker = celery_cluster.worker()
    worker.wait_ready()
    wait_for(lambda: WARNING in worker.log_text(), 30, "the persistence warning")
    line = next(x for x in worker.log_text().splitlines() if WARNING in x)
    line = line.split("] ", 1)[-1]  # a formatted record starts with "[time: level/process] "
    assert line.lstrip().startswith("broker") and "--appendonly yes" in line
    assert f"127.0.0.1:{celery_cluster.redis.port}" in line
    worker.stop()


@pytest.mark.timeout(120)
def test_worker_is_quiet_when_the_broker_has_aof(celery_cluster_aof: Cluster) -> None:
    worker = celery_cluster_aof.worker()
    worker.wait_ready()
    worker.stop()
    assert "append-only" not in worker.log_text()


@pytest.mark.timeout(120)
def test_stream_consumer_warns_when_redis_has_no_aof(
    redis_server: RedisServer, tiny_settings: Settings
) -> None:
    """`binding worker streams` says it too: pending entries and the books would be lost."""
    from workers.cli import worker_app

    args = ["streams", "--redis", redis_server.url, "--idle-exit", "0.2"]
    result = CliRunner().invoke(worker_app, [*args, "--model", "imagebind_tiny", "--seed", "0"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"127.0.0.1:{redis_server.port}/0: this Redis has {WARNING}" in text
    assert "--appendonly yes" in text
