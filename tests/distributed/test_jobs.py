"""Job records (in memory and in Redis) and the executors, without worker processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from binding.api import Engine
from binding.errors import InputError
from binding.executor import InProcessExecutor, QueueExecutor, StoredFile, embed_stored_files
from binding.ingest import FileOutcome
from binding.jobs import JOB_TTL_SECONDS, Jobs
from binding.modality import Modality
from tests.distributed.celery_harness import make_images
from tests.distributed.conftest import RedisServer


@pytest.fixture(params=["memory", "redis"])
def jobs(request: pytest.FixtureRequest) -> Iterator[Jobs]:
    if request.param == "memory":
        yield Jobs()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    book = Jobs(server.url)
    yield book
    book.close()


def _outcome(source: str, status: str = "embedded", reason: str | None = None) -> FileOutcome:
    return FileOutcome(source, status, reason, "image", "ab" * 32, 1, [uuid.uuid4()])  # type: ignore[arg-type]


def test_job_counts_and_reasons(jobs: Jobs) -> None:
    job = jobs.create(4)
    assert jobs.status(job).pending == 4 and not jobs.status(job).done
    assert jobs.record(job, 0, _outcome("a.png"))
    assert jobs.record(job, 1, _outcome("b.png", "duplicate", "already in the store"))
    assert jobs.record(job, 2, _outcome("c.png", "rejected", "not an image"))
    status = jobs.status(job)
    assert (status.embedded, status.duplicate, status.rejected, status.pending) == (1, 1, 1, 1)
    assert status.reasons == {"b.png": "already in the store", "c.png": "not an image"}
    assert status.to_dict()["pending"] == 1
    assert [o.source for o in jobs.log(job)] == ["a.png", "b.png", "c.png"]
    assert jobs.recorded(job) == {0, 1, 2}


def test_first_outcome_wins(jobs: Jobs) -> None:
    """A task that runs twice (a redelivery) cannot count a file twice."""
    job = jobs.create(1)
    first = _outcome("a.png")
    assert jobs.record(job, 0, first)
    assert not jobs.record(job, 0, _outcome("a.png", "duplicate", "already in the store"))
    status = jobs.status(job)
    assert (status.embedded, status.duplicate, status.done) == (1, 0, True)
    assert jobs.outcomes(job)[0] == first
    assert len(jobs.log(job)) == 1


def test_wait_reports_progress_and_times_out(jobs: Jobs) -> None:
    job = jobs.create(2)
    jobs.record(job, 1, _outcome("b.png"))
    seen: list[str] = []
    with pytest.raises(TimeoutError, match="1 of 2 files still pending"):
        jobs.wait(job, progress=lambda o: seen.append(o.source), timeout=0.3, poll=0.05)
    assert seen == ["b.png"]
    jobs.record(job, 0, _outcome("a.png"))
    assert jobs.wait(job, timeout=5, poll=0.05).done
    report = jobs.report(job)
    assert [f.source for f in report.files] == ["a.png", "b.png"]


def test_unknown_and_malformed_job_ids(jobs: Jobs) -> None:
    with pytest.raises(InputError, match="no such job"):
        jobs.status(str(uuid.uuid4()))
    with pytest.raises(InputError, match="not a job id"):
        jobs.status("../../etc/passwd")
    with pytest.raises(InputError, match="no such job"):
        jobs.record(str(uuid.uuid4()), 0, _outcome("a.png"))


def test_failed_files_are_retryable(jobs: Jobs) -> None:
    """A failed file (infrastructure) is its own state: the job is done, not rejected, and
    `retry_failed` hands each failed file back once, pending again."""
    job = jobs.create(3)
    jobs.record(job, 0, _outcome("a.png"))
    jobs.record(job, 1, _outcome("b.png", "rejected", "not an image"))
    task_file = {"index": 2, "sha256": "cd" * 32, "name": "c.png", "source": "c.png"}
    jobs.record(job, 2, _outcome("c.png", "failed", "failed, retryable: store"), retry=task_file)
    status = jobs.status(job)
    assert (status.rejected, status.failed, status.pending, status.done) == (1, 1, 0, True)
    assert status.to_dict()["failed"] == 1 and status.reasons["c.png"].startswith("failed")
    assert jobs.report(job).counts["failed"] == 1
    assert jobs.retry_failed(job) == [task_file]
    assert jobs.retry_failed(job) == []  # taken once
    status = jobs.status(job)
    assert (status.failed, status.pending, status.rejected) == (0, 1, 1)
    assert jobs.record(job, 2, _outcome("c.png"))  # the retry's outcome is recorded
    assert jobs.status(job).embedded == 2
    with pytest.raises(InputError, match="no such job"):
        jobs.retry_failed(str(uuid.uuid4()))


def test_dead_letters_newest_first(jobs: Jobs) -> None:
    jobs.dead_letter({"task": "one", "reason": "r1"})
    jobs.dead_letter({"task": "two", "reason": "r2"})
    assert [r["task"] for r in jobs.dead_letters()] == ["two", "one"]
    assert jobs.dead_letters(limit=1)[0]["reason"] == "r2"


def test_recent_jobs(jobs: Jobs) -> None:
    first, second = jobs.create(1), jobs.create(1)
    assert jobs.recent(2) == [second, first]


def test_redis_job_keys_expire(redis_server: RedisServer) -> None:
    jobs = Jobs(redis_server.url)
    job = jobs.create(1)
    jobs.record(job, 0, _outcome("a.png"))
    client = redis_server.client()
    for suffix in ("", ":outcomes", ":log"):
        ttl = client.ttl(f"binding:job:{job}{suffix}")
        assert 0 < ttl <= JOB_TTL_SECONDS
    jobs.close()


def test_no_such_job_names_a_redis_without_aof(
    redis_server: RedisServer, redis_server_aof: RedisServer
) -> None:
    """Item 6 of issue 10: without an append-only file, "no such job" says that a restart
    of Redis loses jobs; with one, it does not."""
    plain, durable = Jobs(redis_server.url), Jobs(redis_server_aof.url)
    try:
        lost_job, kept_job = plain.create(1), durable.create(1)
        redis_server.restart(down_for=0.2)
        redis_server_aof.restart(down_for=0.2)
        with pytest.raises(InputError, match="no append-only file") as lost:
            plain.status(lost_job)  # the restart lost it
        assert "--appendonly yes" in str(lost.value)
        assert durable.status(kept_job).total == 1
        with pytest.raises(InputError, match="no such job") as missing:
            durable.status(str(uuid.uuid4()))
        assert "append-only" not in str(missing.value)
        with pytest.raises(InputError, match="no append-only file"):
            plain.record(str(uuid.uuid4()), 0, _outcome("a.png"))
    finally:
        plain.close()
        durable.close()


def test_jobs_survive_a_redis_restart(redis_server_aof: RedisServer) -> None:
    jobs = Jobs(redis_server_aof.url)
    job = jobs.create(2)
    jobs.record(job, 0, _outcome("a.png"))
    redis_server_aof.restart(down_for=0.5)
    jobs.record(job, 1, _outcome("b.png"))  # the client reconnects by itself
    assert jobs.status(job).done
    jobs.close()


# --- executors -------------------------------------------------------------------------


def test_in_process_submit_records_a_job(tiny_engine: Engine, tmp_path: Path) -> None:
    make_images(tmp_path / "files", 3)
    (tmp_path / "files" / "notes.bin").write_bytes(b"\x00\x01garbage")
    executor = InProcessExecutor(tiny_engine)
    job = executor.submit([tmp_path / "files", tmp_path / "missing"])
    status = executor.jobs.status(job)
    assert (status.total, status.embedded, status.rejected, status.done) == (5, 3, 2, True)
    assert set(status.reasons) == {str(tmp_path / "missing"), str(tmp_path / "files" / "notes.bin")}
    upload = executor.submit_bytes("x.png", (tmp_path / "files" / "img0000.png").read_bytes())
    assert executor.jobs.status(upload).duplicate == 1
    vectors = executor.embed(Modality.TEXT, ["a dog", "a cat"])  # (2, D)
    assert vectors.shape == (2, tiny_engine.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_stored_files_is_idempotent(tiny_engine: Engine, tmp_path: Path) -> None:
    """R13 at the library level: a task's files embedded twice leave one point each."""
    paths = make_images(tmp_path / "files", 4)
    files = []
    for index, path in enumerate(paths):
        stored = tiny_engine.media.put_file(path, ext=".png")
        files.append(StoredFile(index, stored.sha256, path.name, str(path), "image", ("t",)))
    first = embed_stored_files(tiny_engine, files)
    assert [o.status for o in first] == ["embedded"] * 4
    second = embed_stored_files(tiny_engine, files)
    assert [(o.status, o.reason) for o in second] == [("duplicate", "already in the store")] * 4
    assert tiny_engine.store.count() == 4
    point = tiny_engine.store.retrieve([first[0].ids[0]])[0]
    assert point.payload["source"] == str(paths[0]) and point.payload["tags"] == ["t"]


def test_embed_stored_files_rejects_what_it_cannot_find(
    tiny_engine: Engine, tmp_path: Path
) -> None:
    good = make_images(tmp_path / "files", 1)[0]
    stored = tiny_engine.media.put_file(good, ext=".png")
    corrupt = tiny_engine.media.put_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, ext=".png")
    files = [
        StoredFile(0, "0" * 64, "gone.png", "upload:gone.png", "image"),
        StoredFile(1, "../../etc/passwd", "bad", "upload:bad", "image"),
        StoredFile(2, corrupt.sha256, "corrupt.png", "upload:corrupt.png", "image"),
        StoredFile(3, stored.sha256, "good.png", "upload:good.png", "image"),
    ]
    outcomes = embed_stored_files(tiny_engine, files)
    assert [o.status for o in outcomes] == ["rejected", "rejected", "rejected", "embedded"]
    assert outcomes[0].reason == "no such file in the media store"
    assert "not a sha256" in (outcomes[1].reason or "")
    assert corrupt.sha256 not in tiny_engine.media  # a rejected file no point uses is removed
    assert stored.sha256 in tiny_engine.media


def test_queue_executor_plans_files_here(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing, sniffing, folder modalities and duplicates in one job are decided by the
    client; only files worth embedding become tasks."""
    from binding.config import Settings

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        broker_url=redis_server.url, data_dir=tmp_path / "data", model="imagebind_tiny", seed=0
    )
    engine = Engine(settings)
    paths = make_images(tmp_path / "files", 2)
    (tmp_path / "files" / "again.png").write_bytes(paths[0].read_bytes())
    (tmp_path / "files" / "empty.png").write_bytes(b"")
    make_images(tmp_path / "files" / "depth", 1, seed=5)
    executor = QueueExecutor(engine)
    try:
        planned, known, total = executor._plan(
            [tmp_path / "files", tmp_path / "nothing-*.png"],
            modality=None,
            tags=["x"],
            recursive=True,
        )
    finally:
        executor.close()
    assert total == 6
    assert sorted(f.modality or "" for f in planned) == ["depth", "image", "image"]
    assert all(f.tags == ("x",) and f.sha256 in engine.media for f in planned)
    statuses = sorted((o.status, (o.reason or "").split(" /")[0]) for o in known.values())
    assert statuses == [
        ("duplicate", "same content as"),
        ("rejected", "empty file (0 bytes)"),
        ("rejected", "no file matches this pattern"),
    ]
    assert sorted([f.index for f in planned] + list(known)) == list(range(6))
