"""The one API on workers: `Engine.ingest`, `engine.jobs`, uploads and query embedding with
BINDING_BROKER_URL set, against a real `binding worker`."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from binding.api import Engine
from binding.executor import QueueExecutor
from binding.ingest import FileOutcome
from binding.modality import Modality
from tests.distributed.celery_harness import (
    Cluster,
    assert_exactly_once,
    inspect_store,
    make_images,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_engine_runs_ingest_and_queries_on_workers(
    celery_cluster: Cluster, tiny_encoder: object
) -> None:
    cluster = celery_cluster
    files = make_images(cluster.tmp / "files", 10)
    (cluster.tmp / "files" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    worker = cluster.worker()
    worker.wait_ready()
    engine = Engine(cluster.settings)
    try:
        assert isinstance(engine.executor, QueueExecutor)
        seen: list[FileOutcome] = []
        report = engine.ingest([cluster.tmp / "files"], tags=["batch"], progress=seen.append)
        assert (report.counts["embedded"], report.counts["rejected"]) == (10, 1)
        assert len(seen) == 11
        assert report.rejected[0].source.endswith("broken.png")

        job = engine.submit([cluster.tmp / "files"])
        status = engine.jobs.wait(job, timeout=60)
        assert (status.duplicate, status.rejected, status.pending) == (10, 1, 0)
        assert engine.jobs.status(job).reasons[str(cluster.tmp / "files" / "broken.png")]

        upload = engine.ingest_bytes("a copy.png", files[0].read_bytes(), tags=["up"])
        # Stored content uploaded again: nothing embedded, the new tag added on the worker.
        assert (upload.status, upload.reason) == (
            "duplicate",
            "already in the store; tags added: up",
        )

        # The query's inputs are embedded by the worker: the same vectors as here.
        texts = ["a dog on a beach", "rain"]
        remote = engine.executor.embed(Modality.TEXT, texts)  # (2, D)
        local = tiny_encoder.embed(Modality.TEXT, texts)  # type: ignore[attr-defined]
        assert remote.shape == (2, engine.dim)
        assert np.allclose(remote, local, atol=1e-5)
        image = engine.executor.embed(Modality.IMAGE, [files[3]])
        assert np.allclose(image, tiny_encoder.embed(Modality.IMAGE, [files[3]]), atol=1e-5)  # type: ignore[attr-defined]
    finally:
        engine.close()
    worker.stop()
    assert_exactly_once(cluster.env, files)
    _, points = inspect_store(cluster.env)
    tagged = {p.payload["sha256"]: p.payload["tags"] for p in points.values()}
    assert tagged[hashlib.sha256(files[0].read_bytes()).hexdigest()] == ["batch", "up"]
