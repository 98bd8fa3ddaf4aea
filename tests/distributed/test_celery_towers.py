"""A trained modality in distributed mode: workers given BINDING_TOWERS embed its files and
its query terms (the client only sniffs and sends), as the in-process engine does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from binding.api import Engine
from binding.executor import QueueExecutor
from binding.modality import Modality
from binding.towers import forget_tower
from binding.train.saved import load_trained_tower
from tests.distributed.celery_harness import Cluster, inspect_store
from tests.test_new_modality import NAME, _signal, train_tower

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_workers_embed_a_trained_modality(celery_cluster: Cluster) -> None:
    cluster = celery_cluster
    tower = train_tower(cluster.tmp / "training")
    folder = cluster.tmp / "files" / NAME  # the folder rule, decided by the client
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for level in (2, 5, 7):
        np.save(folder / f"level{level}.npy", _signal(level, rng))
    np.save(folder / "short.npy", np.zeros((2, 5), dtype=np.float32))
    worker = cluster.worker(BINDING_TOWERS=str(tower))
    worker.wait_ready()
    engine = Engine(cluster.settings.model_copy(update={"towers": str(tower)}))
    try:
        assert isinstance(engine.executor, QueueExecutor)
        report = engine.ingest([cluster.tmp / "files"])
        status = {Path(o.source).name: (o.status, o.modality) for o in report.files}
        assert status["level5.npy"] == ("embedded", NAME)
        assert status["short.npy"][0] == "rejected"
        assert "(2, 5)" in str(report.rejected[0].reason)
        # a query term is embedded by the worker's copy of the tower: the same vector as here
        tower_module, _ = load_trained_tower(tower)
        with torch.no_grad():
            local = tower_module(torch.from_numpy(np.load(folder / "level5.npy"))[None]).numpy()
        remote = engine.executor.embed(Modality(NAME), [folder / "level5.npy"])
        np.testing.assert_allclose(remote, local, atol=1e-5)
        worker.stop()
        count, points = inspect_store(cluster.env)
        stored = {p.payload["name"]: p for p in points.values()}
        assert count == 3 and stored["level5.npy"].payload["modality"] == NAME
        np.testing.assert_allclose(stored["level5.npy"].vector, local[0], atol=1e-5)
    finally:
        engine.close()
        worker.stop()
        forget_tower(NAME)
