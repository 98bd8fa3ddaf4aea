"""`binding worker` plus one test-only task, `tests.poison`, that SIGKILLs its own process.

Run as `python -m tests.distributed.poison_worker [worker options]`. The poison task is a
`CountedTask` like the real ones, so its deliveries are counted and it is dead-lettered the
same way; each attempt appends a line to the file it is given, before it dies.
"""

from __future__ import annotations

import os
import signal

from workers.celery_app import app
from workers.tasks import CountedTask


@app.task(name="tests.poison", bind=True, base=CountedTask)
def poison(self: CountedTask, attempts_file: str) -> None:
    with open(attempts_file, "a") as out:
        out.write("attempt\n")
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    from workers.cli import worker_app

    worker_app()
