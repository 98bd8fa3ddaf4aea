"""`binding jobs`, `jobs show` and `jobs retry` in-process (typer's CliRunner) against a
private redis-server: the failed (retryable) state is shown apart from rejected."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.ingest import FileOutcome
from binding.jobs import Jobs
from tests.distributed.conftest import RedisServer


@pytest.fixture
def job(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BINDING_BROKER_URL", redis_server.url)
    jobs = Jobs(redis_server.url)
    job_id = jobs.create(3)
    jobs.record(job_id, 0, FileOutcome("/d/a.png", "embedded", None, "image", "a" * 64, 1))
    jobs.record(job_id, 1, FileOutcome("/d/b.png", "rejected", "not an image", "image"))
    reason = "failed, retryable: StoreLockedError: the store is open in another process"
    jobs.record(job_id, 2, FileOutcome("/d/c.png", "failed", reason, "image"))
    jobs.close()
    return job_id


def test_jobs_lists_failed_apart_from_rejected(job: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["job_id"], row["rejected"], row["failed"], row["pending"]) == (job, 1, 1, 0)
    table = runner.invoke(app, ["jobs"], terminal_width=200)
    assert table.exit_code == 0 and "failed (retryable)" in table.stdout and job in table.stdout
    shown = runner.invoke(app, ["jobs", "show", job])
    assert shown.exit_code == 0, shown.output
    assert "/d/c.png: failed, retryable" in shown.stdout
    assert "1 rejected" in shown.stderr and "1 failed, retryable" in shown.stderr


def test_jobs_commands_name_what_is_wrong(job: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["jobs", "show", str(uuid.uuid4())])
    assert missing.exit_code == 1 and "no such job" in missing.stderr
    assert "no append-only file" in missing.stderr  # this private Redis has none
    bad = runner.invoke(app, ["jobs", "retry", "../etc"])
    assert bad.exit_code == 1 and "not a job id" in bad.stderr
    monkeypatch.delenv("BINDING_BROKER_URL")
    none = runner.invoke(app, ["jobs"])
    assert none.exit_code == 1 and "BINDING_BROKER_URL" in none.stderr
