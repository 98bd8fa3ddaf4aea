"""R14: a store outage is not bad input (docs/reliability.md).

A real worker process, a private redis-server, and the embedded store made unavailable the
way it happens in the field: another process holds the store's folder (its lock). Files
whose tasks cannot reach the store are retried with backoff for `BINDING_RETRY_WINDOW`
seconds; a job whose store comes back within the window completes; one whose outage
outlasts it ends "failed" (retryable), never "rejected", and `binding jobs retry JOB`
completes it once the store is back. No delivery counter or retry clock is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.distributed.celery_harness import (
    MODEL,
    REPO,
    Cluster,
    assert_exactly_once,
    make_images,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW_S = 8


def _hold_store(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Open the worker's embedded store in this process: its folder lock is then held."""
    from binding.config import Settings
    from binding.models.registry import get_spec
    from binding.store import open_store

    settings = Settings(data_dir=env["BINDING_DATA_DIR"])  # type: ignore[arg-type]
    return open_store(settings, model=MODEL, dim=get_spec(MODEL).embed_dim)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binding.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(300)
def test_r14_store_outage_fails_retryable_then_retry(celery_cluster: Cluster) -> None:
    if os.environ.get("BINDING_TEST_QDRANT_URL"):
        pytest.skip("the outage here is the embedded store's folder lock")
    cluster = celery_cluster
    jobs = cluster.executor.jobs
    first = make_images(cluster.tmp / "first", 20, seed=1)
    second = make_images(cluster.tmp / "second", 12, seed=2)
    holder = _hold_store(cluster.env)  # the outage starts before the worker
    worker = cluster.worker(BINDING_RETRY_WINDOW=str(WINDOW_S))
    worker.wait_ready()  # a worker whose store is unavailable still starts
    wait_for(lambda: "store is not available yet" in worker.log_text(), 60, "the warning")

    # 1. The outage outlasts the retry window: every file ends failed, none rejected.
    started = time.monotonic()
    job = cluster.executor.submit([cluster.tmp / "first"])
    status = jobs.wait(job, timeout=WINDOW_S + 90)
    gave_up_s = time.monotonic() - started
    assert (status.failed, status.rejected, status.embedded) == (20, 0, 0), status.reasons
    reason = status.reasons[str(first[0])]
    assert reason.startswith("failed, retryable: StoreLockedError"), reason
    assert f"binding jobs retry {job}" in reason
    assert gave_up_s >= WINDOW_S, f"gave up after {gave_up_s:.1f} s, window {WINDOW_S} s"
    report = jobs.report(job)
    assert report.counts["failed"] == 20 and not report.rejected
    listed = _cli(cluster.env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["job_id"] == job]
    assert (row["failed"], row["rejected"], row["pending"], row["done"]) == (20, 0, 0, True)

    # 2. The store comes back within the window: the job completes on its own.
    second_job = cluster.executor.submit([cluster.tmp / "second"])
    wait_for(lambda: cluster.redis.client().keys("binding:failing:*"), 30, "a retrying task")
    time.sleep(1.0)
    holder.close()  # the outage ends
    released = time.monotonic()
    status = jobs.wait(second_job, timeout=WINDOW_S + 60)
    recovered_s = time.monotonic() - released
    assert (status.embedded, status.failed, status.rejected) == (12, 0, 0), status.reasons

    # 3. `binding jobs retry` sends the failed files again; they are embedded now.
    started = time.monotonic()
    retried = _cli(cluster.env, "jobs", "retry", job, "--wait", "--json")
    retry_s = time.monotonic() - started
    assert retried.returncode == 0, retried.stderr
    answer = json.loads(retried.stdout)
    assert (answer["sent"], answer["embedded"], answer["failed"], answer["rejected"]) == (
        20,
        20,
        0,
        0,
    )
    again = _cli(cluster.env, "jobs", "retry", job, "--json")  # nothing left to send
    assert again.returncode == 0 and json.loads(again.stdout)["sent"] == 0, again.stderr

    redis = cluster.redis.client()
    for pattern in ("binding:deliveries:*", "binding:failing:*", "binding:crash:*"):
        assert redis.keys(pattern) == [], f"{pattern} left behind"
    assert cluster.dead_letters() == []
    print(
        f"\nR14 store outage: gave up (failed, retryable) after {gave_up_s:.1f} s "
        f"(window {WINDOW_S} s); recovered {recovered_s:.1f} s after the store came back; "
        f"`jobs retry` of 20 files took {retry_s:.1f} s; files lost: 0"
    )
    worker.stop()
    assert_exactly_once(cluster.env, first + second)
