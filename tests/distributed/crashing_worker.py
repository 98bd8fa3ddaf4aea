"""`binding worker` whose pool processes die of SIGBUS while loading, as on a full disk.

Run as `python -m tests.distributed.crashing_worker [worker options]`. The worker state's
`engine` (model and store, loaded in each new pool process) sends the process SIGBUS, which
is what Qdrant Edge's memory-mapped files did on a full disk: no Python left to say a thing.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from workers import tasks


class _DyingState(tasks._WorkerState):
    @property
    def engine(self) -> Any:
        os.kill(os.getpid(), signal.SIGBUS)
        raise AssertionError("unreachable")


if __name__ == "__main__":
    from workers.cli import worker_app

    tasks.state.__class__ = _DyingState
    worker_app()
