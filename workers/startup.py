"""A pool process that cannot start stops its worker and says why, instead of dying in a loop.

Celery logs and swallows an exception raised while a pool process initialises, and billiard
replaces a pool process that dies: with a store that cannot open (a full disk, a damaged
folder) a worker used to fail every task it took, or, when the store's memory-mapped files
killed the process with SIGBUS, replace it 98 times in 240 s while its health check said
healthy. Here:

- a pool process that fails to load (the model or the store) records the reason in Redis
  (`binding:worker-error:<node>`, kept a day), logs it, asks its parent for a warm shutdown
  (SIGTERM) and exits; `binding worker` then exits with status 1 and prints the reason;
- a pool process that is killed while loading (no Python left to say anything) is counted
  (`binding:worker-starts:<node>:<worker pid>:<index>`, reset on every successful start): the
  `MAX_FAILED_STARTS`-th start in a row stops the worker the same way, with that reason;
- `python -m workers.health celery` reports the recorded reason, and a store that has not
  the space to open, as unhealthy (`workers.health`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ERROR_PREFIX = "binding:worker-error:"
STARTS_PREFIX = "binding:worker-starts:"
#: Starts in a row of one pool slot that ended with the process dead before it was ready.
MAX_FAILED_STARTS = 3
#: How long the reason stays for the health check and the operator (s).
ERROR_TTL_S = 24 * 3600


def _slot() -> str:
    try:
        from billiard.process import current_process

        return str(getattr(current_process(), "index", None) or 0)
    except Exception:  # pragma: no cover - not a billiard child
        return "0"


def load_or_stop(node: str, load: Callable[[], Any], redis: Callable[[], Any]) -> None:
    """Run `load` in a new pool process; on failure stop the whole worker with the reason.

    `node` is the worker's node name, `redis` returns a client of the broker's Redis (None
    when it cannot be reached: the guard then only logs)."""
    client = _client(redis)
    worker_pid = os.getppid() if _in_pool_child() else os.getpid()  # a new worker: new count
    starts_key = f"{STARTS_PREFIX}{node}:{worker_pid}:{_slot()}"
    if client is not None:
        try:
            starts = int(client.incr(starts_key))
            client.expire(starts_key, ERROR_TTL_S)
        except Exception:  # Redis briefly away: start anyway, unguarded
            starts = 1
        if starts > MAX_FAILED_STARTS:
            _stop(
                node,
                client,
                f"{starts - 1} pool processes in a row died while loading the model and the "
                "store (killed by a signal: SIGBUS is a full disk under the store's mapped "
                "files); see the log above",
            )
    try:
        load()
    except Exception as error:
        _stop(node, client, f"{type(error).__name__}: {error}")
    if client is not None:
        try:
            client.delete(starts_key, ERROR_PREFIX + node)
        except Exception:  # pragma: no cover - only bookkeeping is lost
            log.warning("could not reset the start counter of %s", node)


def _client(redis: Callable[[], Any]) -> Any:
    try:
        return redis()
    except Exception as error:
        log.warning("start guard without Redis: %s", error)
        return None


def _stop(node: str, client: Any, reason: str) -> None:
    message = f"worker {node} stops: a pool process cannot start: {reason}"
    log.critical(message)
    if client is not None:
        with contextlib.suppress(Exception):  # the log line above still says it
            # the first reason stays: a replacement started before the SIGTERM landed would
            # otherwise overwrite it with its own count (a successful start clears the key)
            client.set(ERROR_PREFIX + node, reason, ex=ERROR_TTL_S, nx=True)
    if _in_pool_child():
        os.kill(os.getppid(), signal.SIGTERM)  # warm shutdown of the worker
        os._exit(1)
    os.kill(os.getpid(), signal.SIGTERM)  # solo or threads pool: this is the worker


def _in_pool_child() -> bool:
    try:
        from billiard.process import current_process

        return current_process().name != "MainProcess"
    except Exception:  # pragma: no cover - billiard comes with Celery
        return False


def recorded_error(client: Any, node: str) -> str:
    """The reason a pool process of `node` gave for stopping the worker, or ''."""
    value = client.get(ERROR_PREFIX + node)
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
