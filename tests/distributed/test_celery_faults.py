"""Fault tests with real processes (docs/distributed.md: R1, R2, R3, R5): a private redis-server,
real `binding worker` processes with the tiny model, SIGKILL from the test.

"Exactly once" is checked in the store after the worker exited: the count equals N, a scroll
returns exactly the N expected ids, every vector has norm 1 and the payload is there.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.distributed.celery_harness import (
    RESTORE_INTERVAL_S,
    VISIBILITY_TIMEOUT_S,
    Cluster,
    assert_exactly_once,
    make_images,
    wait_for,
)
from tests.distributed.conftest import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _unacked(redis: RedisServer) -> dict[str, float]:
    """Delivery tag -> delivery time of every message taken but not acknowledged."""
    return {
        tag: score for tag, score in redis.client().zrange("unacked_index", 0, -1, withscores=True)
    }


def _restored(snapshot: dict[str, float], redis: RedisServer) -> Callable[[], bool]:
    """True once every message in `snapshot` left the unacked set (restored to its queue)."""

    def check() -> bool:
        now = _unacked(redis)
        return all(tag not in now or now[tag] > score for tag, score in snapshot.items())

    return check


@pytest.mark.timeout(420)
def test_r1_whole_worker_sigkilled_three_times(celery_cluster: Cluster) -> None:
    """R1: every file exactly once, the lost tasks back within visibility + two sweeps."""
    cluster = celery_cluster
    files = make_images(cluster.tmp / "files", 200)
    worker = cluster.worker()
    worker.wait_ready()
    job = cluster.executor.submit([cluster.tmp / "files"])
    restore_bound = VISIBILITY_TIMEOUT_S + 2 * RESTORE_INTERVAL_S
    stranded: list[tuple[float, dict[str, float]]] = []
    for _ in range(3):
        before = cluster.done(job)
        wait_for(lambda b=before: cluster.done(job) >= b + 10, 120, "progress before a kill")
        worker.kill()
        stranded.append((time.monotonic(), _unacked(cluster.redis)))
        worker.start()
        worker.wait_ready()
    assert any(snapshot for _, snapshot in stranded), "no kill hit a running task"
    for killed_at, snapshot in stranded:
        left = restore_bound + 5 - (time.monotonic() - killed_at)
        wait_for(_restored(snapshot, cluster.redis), max(left, 0.5), "lost tasks restored")
    status = cluster.executor.jobs.wait(job, timeout=120)
    assert (status.embedded, status.rejected, status.total) == (200, 0, 200), status.reasons
    assert cluster.dead_letters() == []
    worker.stop()
    assert_exactly_once(cluster.env, files)


@pytest.mark.timeout(300)
def test_r2_pool_child_sigkilled_mid_task(celery_cluster: Cluster) -> None:
    """R2: the task whose pool process dies runs again at once; nothing fails; exactly once."""
    cluster = celery_cluster
    # Enough tasks (16 files each) that one is still running when the second child is up: on
    # an idle machine a task of the tiny model takes well under a second.
    files = make_images(cluster.tmp / "files", 160)
    worker = cluster.worker("--pool", "prefork", "--concurrency", "1")
    worker.wait_ready()
    redis = cluster.redis.client()
    job = cluster.executor.submit([cluster.tmp / "files"])
    killed = []
    for _ in range(2):
        (child,) = wait_for(worker.children, 30, "the pool child")
        # `binding:running:<host>:<pid>` names the task a worker process runs right now.
        task_id = wait_for(
            lambda c=child: [redis.get(k) for k in redis.keys(f"binding:running:*:{c}")],
            60,
            "a task running in the pool child",
            poll=0.02,  # tasks are short; a coarse poll can miss every one of them
        )[0]
        os.kill(child, signal.SIGKILL)
        killed.append(task_id)
        wait_for(lambda c=child: worker.children() and worker.children() != [c], 60, "new child")
    status = cluster.executor.jobs.wait(job, timeout=180)
    assert (status.embedded, status.rejected, status.total) == (160, 0, 160), status.reasons
    assert cluster.dead_letters() == []
    assert cluster.stats().get("redeliveries", 0) >= len(killed)
    assert "WorkerLostError" in worker.log_text()
    for task_id in killed:  # each killed task ran again to the end (its counter is gone)
        assert not redis.exists(f"binding:deliveries:{task_id}")
        assert not redis.exists(f"celery-task-meta-{task_id}")  # no FAILURE result stored
    assert worker.proc is not None and worker.proc.poll() is None, "the worker itself survives"
    worker.stop()
    assert_exactly_once(cluster.env, files)


@pytest.mark.timeout(300)
def test_r3_poison_task_dead_lettered_after_three_deliveries(celery_cluster: Cluster) -> None:
    """R3: a task that kills its worker every time runs 3 times, is dead-lettered with its
    reason, and an ingest submitted with it completes."""
    cluster = celery_cluster
    files = make_images(cluster.tmp / "files", 40)
    attempts = cluster.tmp / "poison-attempts.txt"
    worker = cluster.worker(module="tests.distributed.poison_worker")
    worker.wait_ready()
    dispatcher = cluster.executor.dispatcher
    poison = dispatcher.app.send_task("tests.poison", args=(str(attempts),), queue="embed")
    job = cluster.executor.submit([cluster.tmp / "files"])
    status = cluster.executor.jobs.wait(job, timeout=180)
    assert (status.embedded, status.rejected) == (40, 0), status.reasons
    letters = wait_for(cluster.dead_letters, 120, "the dead letter")
    assert len(letters) == 1
    letter = letters[0]
    assert (letter["task"], letter["task_id"], letter["deliveries"]) == (
        "tests.poison",
        poison.id,
        3,
    )
    assert "died each time" in letter["reason"] and "SIGKILL" in letter["reason"]
    assert letter["args"] == [str(attempts)]
    time.sleep(2 * RESTORE_INTERVAL_S + 1)  # no fourth run sneaks in afterwards
    assert attempts.read_text().splitlines() == ["attempt"] * 3
    redis = cluster.redis.client()
    for pattern in ("binding:deliveries:*", "binding:crash:*", "binding:failing:*"):
        assert redis.keys(pattern) == [], f"{pattern} outlives the dead-lettered task"
    worker.stop()
    assert_exactly_once(cluster.env, files)


@pytest.mark.timeout(300)
def test_r5_redis_restarted_during_ingest(celery_cluster_aof: Cluster) -> None:
    """R5: Redis (append-only file on) is killed and restarted twice during an ingest; the
    worker reconnects; nothing is lost; every file exactly once."""
    cluster = celery_cluster_aof
    files = make_images(cluster.tmp / "files", 120)
    worker = cluster.worker()
    worker.wait_ready()
    job = cluster.executor.submit([cluster.tmp / "files"])
    for _ in range(2):
        before = cluster.done(job)
        wait_for(lambda b=before: cluster.done(job) >= b + 10, 120, "progress before a restart")
        cluster.redis.restart(down_for=1.0)
    status = cluster.executor.jobs.wait(job, timeout=VISIBILITY_TIMEOUT_S + 120)
    assert (status.embedded, status.rejected, status.total) == (120, 0, 120), status.reasons
    assert cluster.dead_letters() == []
    assert worker.proc is not None and worker.proc.poll() is None
    log = worker.log_text()
    assert (
        "Connection to broker lost" in log or "Cannot connect" in log or "reconnect" in log.lower()
    )
    worker.stop()
    assert_exactly_once(cluster.env, files)


def test_dead_letter_record_is_json(celery_cluster: Cluster) -> None:
    """A dead-letter record is plain JSON any tool can read (no worker needed)."""
    cluster = celery_cluster
    cluster.executor.jobs.dead_letter({"task": "t", "args": [1], "reason": "r", "deliveries": 3})
    (raw,) = cluster.redis.client().lrange("binding:deadletter", 0, -1)
    row = json.loads(raw)
    assert (row["task"], row["reason"], row["deliveries"]) == ("t", "r", 3)
    assert row["time"] > 0
