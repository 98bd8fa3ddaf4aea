"""Item 6 of issue 10: a worker warns at start when its broker keeps no append-only file
(a restart of such a Redis loses every queued task and job record, silently). Real worker
processes against a private redis-server without and with `--appendonly yes`."""

from __future__ import annotations

import pytest

from tests.distributed.celery_harness import Cluster, wait_for

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
