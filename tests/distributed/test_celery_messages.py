"""Messages a worker must handle safely (docs/distributed.md: R12, R13), with a real worker.

R12: a pickled message put straight into the queue is discarded unread, its side effect
never happens, and the worker goes on. R13: the same files ingested twice, or a task
delivered twice, leave one point per file.
"""

from __future__ import annotations

import pickle
import shutil
import uuid
from pathlib import Path

import pytest

from binding.executor import StoredFile
from tests.distributed.celery_harness import (
    Cluster,
    assert_exactly_once,
    make_images,
    wait_for,
)
from workers.config import EMBED_FILES_TASK, EMBED_QUEUE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class _CreatesFile:
    """Unpickling this calls `open(path, "w")`: the file appearing proves it was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def _publish_pickle(url: str, body: bytes, task_id: str) -> None:
    """A Celery protocol-2 message for `binding.embed_files` whose body is a pickle."""
    from kombu import Connection

    headers = {
        "lang": "py",
        "task": EMBED_FILES_TASK,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "timelimit": [None, None],
        "argsrepr": "()",
        "kwargsrepr": "{}",
        "origin": "attacker",
    }
    with Connection(url) as conn:
        producer = conn.Producer()
        producer.publish(
            body,
            exchange="",
            routing_key=EMBED_QUEUE,
            headers=headers,
            content_type="application/x-python-serialize",
            content_encoding="binary",
            correlation_id=task_id,
        )


@pytest.mark.timeout(240)
def test_r12_pickled_message_is_discarded_unread(celery_cluster: Cluster, tmp_path: Path) -> None:
    cluster = celery_cluster
    # The payload is live: unpickling it here creates a file.
    proof = tmp_path / "proof-the-payload-works"
    pickle.loads(pickle.dumps(_CreatesFile(str(proof))))
    assert proof.exists()

    target = tmp_path / "pwned"
    body = pickle.dumps(((_CreatesFile(str(target)),), {}, {}))
    worker = cluster.worker()
    worker.wait_ready()
    _publish_pickle(cluster.redis.url, body, str(uuid.uuid4()))
    wait_for(lambda: "application/x-python-serialize" in worker.log_text(), 60, "the refusal")

    files = make_images(tmp_path / "files", 12)
    report = cluster.executor.ingest([tmp_path / "files"], timeout=120)
    assert report.counts["embedded"] == 12, report.rejected

    redis = cluster.redis.client()
    assert redis.llen(EMBED_QUEUE) == 0 and redis.hlen("unacked") == 0, "the message lingers"
    assert not target.exists(), "the pickled payload was loaded"
    assert worker.proc is not None and worker.proc.poll() is None
    worker.stop()
    assert not target.exists()
    assert_exactly_once(cluster.env, files)


@pytest.mark.timeout(240)
def test_r13_ingested_twice_or_delivered_twice_gives_one_point(
    celery_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = celery_cluster
    jobs, dispatcher = cluster.executor.jobs, cluster.executor.dispatcher
    first = make_images(tmp_path / "first", 16, seed=1)
    worker = cluster.worker()
    worker.wait_ready()

    # The same files twice, and again under other names: the second and third are duplicates.
    report = cluster.executor.ingest([tmp_path / "first"], timeout=120)
    assert report.counts["embedded"] == 16
    shutil.copytree(tmp_path / "first", tmp_path / "renamed")
    for path in (tmp_path / "renamed").iterdir():
        path.rename(path.with_name("copy-" + path.name))
    again = cluster.executor.ingest([tmp_path / "first", tmp_path / "renamed"], timeout=120)
    assert again.counts["duplicate"] == 32 and again.counts["embedded"] == 0
    reasons = {Path(f.source).parent.name: set() for f in again.files}
    for f in again.files:
        reasons[Path(f.source).parent.name].add((f.reason or "").split(" /")[0])
    assert reasons == {"first": {"already in the store"}, "renamed": {"same content as"}}

    # One task delivered twice (same id, same arguments), as a redelivery does.
    second = make_images(tmp_path / "second", 8, seed=2)
    planned, known, total = cluster.executor._plan(
        [tmp_path / "second"], modality=None, tags=(), recursive=True
    )
    assert not known and total == 8
    job = jobs.create(total)
    task_id = str(uuid.uuid4())
    payload = [f.to_dict() for f in planned]
    for _ in range(2):
        dispatcher.app.send_task(
            EMBED_FILES_TASK, args=(job, payload), task_id=task_id, queue=EMBED_QUEUE
        )
    status = jobs.wait(job, timeout=120)
    assert (status.embedded, status.duplicate) == (8, 0)

    # A redelivered task whose points were written before it died: recorded as embedded.
    stored = [
        StoredFile(i, f.sha256, f.name, f.source, f.modality, f.tags) for i, f in enumerate(planned)
    ]
    job = jobs.create(len(stored))
    dispatcher.app.send_task(
        EMBED_FILES_TASK,
        args=(job, [f.to_dict() for f in stored]),
        kwargs={"redelivered": True},
        queue=EMBED_QUEUE,
    )
    status = jobs.wait(job, timeout=120)
    assert (status.embedded, status.duplicate) == (8, 0)
    assert {o.reason for o in jobs.outcomes(job).values()} == {"embedded by an earlier delivery"}

    assert cluster.dead_letters() == []
    worker.stop()
    assert_exactly_once(cluster.env, first + second)
