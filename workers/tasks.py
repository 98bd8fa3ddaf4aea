"""The tasks: thin wrappers that hand ids to the library and record what happened.

- `binding.embed_files(job_id, files, redelivered=False)` on queue `embed`: files already in
  the media store (ids and names, never bytes) are embedded and upserted by
  `binding.executor.embed_stored_files` (decode, preprocess, batch, encode, upsert with
  `wait`); each file's outcome is recorded in its job.
- `binding.embed_query(terms)` on queue `query`: the vectors of a query's inputs, so that a
  dashboard without a GPU never loads the model.

Every delivery of a task is counted in Redis (`binding:deliveries:<task id>`). A task whose
worker process died on each of `MAX_DELIVERIES` deliveries is not run a fourth time: it is
written to the dead-letter list `binding:deadletter` with its reason, and its files are
recorded as rejected, while other tasks go on. A multi-file task delivered a second time runs
its remaining files one per task, so one bad file cannot take the others down with it.
Infrastructure errors (Redis or the store unreachable, the embedded store locked: see
`binding.transient.is_infrastructure`) are retried with exponential backoff and jitter for
`BINDING_RETRY_WINDOW` seconds; after that the task's files end "failed" (retryable: not bad
input), and `binding jobs retry JOB` sends them again. Any other error is dead-lettered at
once: it would fail the same way again. Delivery counters and retry clocks are deleted when
a task is done or given up on.

The model is loaded once per worker process, in the pool child (`worker_process_init`), never
in the parent that forks it; with several GPUs, child `i` takes `cuda:i`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError
from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from celery.utils.time import get_exponential_backoff_interval
from celery.worker.request import Request

from binding import transient
from binding.config import Settings
from binding.executor import StoredFile, decode_query_input, embed_stored_files
from binding.ingest import FAILED, FileOutcome
from binding.jobs import PREFIX, Jobs, persistence_warning, redis_client
from binding.store.space import DiskFullError
from workers.celery_app import app
from workers.config import (
    EMBED_FILES_TASK,
    EMBED_QUERY_TASK,
    EMBED_QUEUE,
    MAX_DELIVERIES,
    RETRY_BACKOFF_MAX_S,
)

if TYPE_CHECKING:
    from binding.api import Engine

log = logging.getLogger(__name__)

DELIVERIES_PREFIX = PREFIX + "deliveries:"
#: `binding:running:<hostname>:<pid>` -> the task id a worker process runs now.
RUNNING_PREFIX = PREFIX + "running:"
CRASH_PREFIX = PREFIX + "crash:"
#: `binding:failing:<task id>` -> when the task first met an infrastructure error (its retry
#: window runs from there).
FAILING_PREFIX = PREFIX + "failing:"
STATS_KEY = PREFIX + "stats"
#: Delivery counters outlive any sane redelivery delay (2 days).
COUNTER_TTL_S = 2 * 24 * 3600

#: The reason ingest gives for content whose whole-file point exists (binding.ingest).
_ALREADY_STORED = "already in the store"


# --- per-process state -------------------------------------------------------------------


class _WorkerState:
    """What a worker process keeps: settings, the engine (model + store), job records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self._jobs: Jobs | None = None
        self.device: str | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    @property
    def jobs(self) -> Jobs:
        with self._lock:
            if self._jobs is None:
                url = self.settings.records_url()
                if not url:
                    raise RuntimeError(
                        "a worker needs a Redis: BINDING_BROKER_URL or BINDING_REDIS_URL"
                    )
                self._jobs = Jobs(url, client=redis_client(url))
            return self._jobs

    @property
    def redis(self) -> Any:
        return self.jobs.client

    @property
    def engine(self) -> Engine:
        """The engine of this process, built (and the model loaded) on first use."""
        with self._lock:
            if self._engine is None:
                from binding.api import Engine

                # The worker's engine runs in-process: it must not send tasks to itself.
                changes: dict[str, Any] = {"broker_url": None}
                if self.device is not None:
                    changes["device"] = self.device
                local = self.settings.model_copy(update=changes)
                engine = Engine(local)
                engine.encoder  # noqa: B018 - load the model now, not in the first task
                try:
                    engine.store  # noqa: B018 - take the store (an Edge folder is one process's)
                except Exception as error:
                    # A full disk does not pass while the worker waits: the pool process stops
                    # the worker and says why (the health check fails with it), tasks stay queued.
                    if not is_infrastructure(error) or isinstance(error, DiskFullError):
                        raise
                    # Unavailable for now (held, unreachable): tasks open it on first use,
                    # retrying meanwhile.
                    log.warning("the store is not available yet (%s); tasks will retry", error)
                self._engine = engine
                log.info("worker process %d loaded %s", os.getpid(), engine.model)
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            if self._jobs is not None:
                self._jobs.close()
                self._jobs = None


state = _WorkerState()


def _child_device(settings: Settings) -> str | None:
    """`cuda:i` for pool child `i` when several GPUs are visible and the device allows it."""
    if settings.device not in ("auto", "cuda"):
        return None
    try:
        from billiard.process import current_process

        index = getattr(current_process(), "index", None)
    except Exception:  # pragma: no cover - not a billiard child
        return None
    if index is None:
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"cuda:{int(index) % count}" if count > 1 else None


@worker_init.connect
def _import_in_parent(**_: Any) -> None:
    """Import torch (a few seconds) once in the parent, so a replaced child starts faster.

    Importing is all that happens here: no CUDA call and no tensor op before the fork (a
    CUDA context or an OpenMP thread pool does not survive a fork).
    """
    import torch  # noqa: F401

    import binding.encoder  # noqa: F401

    warn_without_persistence(state.settings.broker_url)


def warn_without_persistence(url: str | None) -> str | None:
    """Log (and return) a warning when the broker's Redis keeps no append-only file.

    Without it a restart of Redis loses every queued task and job record, silently. One
    quick look (2 s timeouts, no retries): a Redis that is down now is not waited for.
    """
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        warning = persistence_warning(client)
    finally:
        client.close()
    if warning:
        where = url.rsplit("@", 1)[-1]  # never the password
        log.warning("broker %s: %s", where, warning)
    return warning


@worker_process_init.connect
def _load_in_child(sender: Any = None, **_: Any) -> None:
    """A new pool process: pick its GPU and load the model before it takes a task; one that
    cannot (the store cannot open...) stops the worker, saying why (`workers.startup`)."""
    from workers.startup import load_or_stop

    state.device = _child_device(state.settings)
    load_or_stop(str(sender), lambda: state.engine, lambda: state.redis)


@worker_process_shutdown.connect
def _close_in_child(**_: Any) -> None:
    """Flush and release the store when a pool process exits cleanly."""
    try:
        state.close()
    except Exception:  # pragma: no cover - exiting anyway
        log.exception("closing the worker's engine failed")


# --- errors ------------------------------------------------------------------------------


def broker_errors() -> tuple[type[BaseException], ...]:
    """The broker's own connection errors, added to the library's transient policy."""
    try:
        from kombu.exceptions import OperationalError
    except ImportError:  # pragma: no cover - kombu comes with Celery
        return ()
    return (OperationalError,)


def is_transient(error: BaseException) -> bool:
    """The library's policy (`binding.transient`), plus the broker's connection errors."""
    return transient.is_transient(error, broker_errors())


def is_infrastructure(error: BaseException) -> bool:
    """Transient, or the store locked: the machinery failed, not the input."""
    return transient.is_infrastructure(error, broker_errors())


def _failing_for(redis: Any, task_id: str) -> float:
    """Seconds since this task first met an infrastructure error (0 on the first one)."""
    now = time.time()
    key = FAILING_PREFIX + task_id
    ttl = state.settings.retry_window + COUNTER_TTL_S
    try:
        if redis.set(key, repr(now), nx=True, ex=ttl):
            return 0.0
        return max(0.0, now - float(redis.get(key)))
    except Exception:  # Redis itself is the outage: keep retrying, the clock starts later
        log.warning("cannot read the retry clock of task %s", task_id, exc_info=True)
        return 0.0


# --- tasks that count their deliveries ---------------------------------------------------


class TrackedRequest(Request):
    """A request that writes down why its worker process was lost (for the dead letter)."""

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False):  # type: ignore[no-untyped-def]
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, WorkerLostError):
            try:
                state.redis.set(CRASH_PREFIX + str(self.id), str(exc)[:500], ex=COUNTER_TTL_S)
            except Exception:  # Redis down: the reason is lost, the redelivery is not
                log.warning("cannot record why task %s was lost", self.id, exc_info=True)
        return super().on_failure(
            exc_info, send_failed_event=send_failed_event, return_ok=return_ok
        )


class CountedTask(Task):
    """A task that counts its deliveries and dead-letters itself after `MAX_DELIVERIES`."""

    Request = "workers.tasks:TrackedRequest"
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # infrastructure errors: bounded by time (`retry_window`), not count

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if task_id is None or self.request.is_eager:
            return self.run(*args, **kwargs)
        redis = state.redis
        key = DELIVERIES_PREFIX + task_id
        pipe = redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, COUNTER_TTL_S)
        deliveries = int(pipe.execute()[0])
        if deliveries > MAX_DELIVERIES:
            crash = redis.get(CRASH_PREFIX + task_id)
            reason = f"tried {deliveries - 1} times; its worker process died each time" + (
                f" (last: {crash.decode(errors='replace')})" if crash else ""
            )
            self.dead_letter(args, kwargs, reason, deliveries - 1)
            redis.delete(key, CRASH_PREFIX + task_id, FAILING_PREFIX + task_id)
            return None
        if deliveries > 1:
            redis.hincrby(STATS_KEY, "redeliveries", 1)
        self.request.deliveries = deliveries
        running = f"{RUNNING_PREFIX}{self.request.hostname}:{os.getpid()}"
        redis.set(running, task_id, ex=state.settings.task_time_limit + 60)
        try:
            result = self.run(*args, **kwargs)
        except (Retry, Ignore, Reject):
            _forget(redis, key, undo=True)
            raise
        except Exception as error:
            if not is_infrastructure(error):
                self.dead_letter(args, kwargs, f"{type(error).__name__}: {error}", deliveries)
                _forget(redis, key, CRASH_PREFIX + task_id, FAILING_PREFIX + task_id)
                raise
            window = state.settings.retry_window
            failing = _failing_for(redis, task_id)
            if failing < window:
                _forget(redis, key, undo=True)  # a handled attempt is not a lost delivery
                backoff = get_exponential_backoff_interval(
                    factor=1,
                    retries=self.request.retries,
                    maximum=RETRY_BACKOFF_MAX_S,
                    full_jitter=True,
                )
                # The last try falls just after the window closes.
                countdown = max(0.5, min(float(backoff), window - failing + 0.5))
                log.warning("task %s: %r; retrying in %.1f s", task_id, error, countdown)
                raise self.retry(exc=error, countdown=countdown) from error
            reason = (
                f"failed, retryable: {type(error).__name__}: {str(error)[:300]} "
                f"(still failing after {failing:.0f} s of retries)"
            )
            log.error("task %s[%s] gave up: %s", self.name, task_id, reason)
            self.on_infrastructure_failure(args, kwargs, reason, deliveries)
            _forget(redis, key, CRASH_PREFIX + task_id, FAILING_PREFIX + task_id)
            return None
        finally:
            _forget(redis, running)
        _forget(redis, key, CRASH_PREFIX + task_id, FAILING_PREFIX + task_id)
        return result

    def dead_letter(self, args: Any, kwargs: Any, reason: str, deliveries: int) -> None:
        """Write the task to `binding:deadletter` and let the task record its files."""
        log.error("task %s[%s] dead-lettered: %s", self.name, self.request.id, reason)
        state.jobs.dead_letter(
            {
                "task": self.name,
                "task_id": self.request.id,
                "args": list(args),
                "kwargs": dict(kwargs),
                "reason": reason,
                "deliveries": deliveries,
                "hostname": self.request.hostname,
            }
        )
        self.on_dead_letter(args, kwargs, reason)

    def on_dead_letter(self, args: Any, kwargs: Any, reason: str) -> None:
        """Called after the task was dead-lettered (record its effects; default: nothing)."""

    def on_infrastructure_failure(
        self, args: Any, kwargs: Any, reason: str, deliveries: int
    ) -> None:
        """The infrastructure stayed unavailable for the whole retry window (default: the
        task is dead-lettered; a task with files records them as failed, retryable)."""
        self.dead_letter(args, kwargs, reason, deliveries)


def _forget(redis: Any, *keys: str, undo: bool = False) -> None:
    """Delete a task's bookkeeping keys (or, with `undo`, take back one delivery count)."""
    try:
        if undo:
            redis.decr(keys[0])
        else:
            redis.delete(*keys)
    except Exception:  # Redis down: the counter only ever errs towards an early dead letter
        log.warning("cannot update the delivery counter %s", keys[0], exc_info=True)


def _job_arguments(args: Any, kwargs: Any) -> tuple[str, list[StoredFile]]:
    job_id = kwargs.get("job_id", args[0] if args else None)
    files = kwargs.get("files", args[1] if len(args) > 1 else [])
    return str(job_id), [StoredFile.from_dict(f) for f in files]


class EmbedFilesTask(CountedTask):
    """`embed_files`: a dead letter or a hard time limit rejects the task's pending files."""

    def on_dead_letter(self, args: Any, kwargs: Any, reason: str) -> None:
        _reject_pending(*_job_arguments(args, kwargs), f"gave up: {reason}")

    def on_infrastructure_failure(
        self, args: Any, kwargs: Any, reason: str, deliveries: int
    ) -> None:
        job_id, files = _job_arguments(args, kwargs)
        hint = f"; send again with: binding jobs retry {job_id}"
        done = state.jobs.recorded(job_id)
        for f in files:
            if f.index not in done:
                outcome = FileOutcome(f.source, FAILED, reason + hint, f.modality, f.sha256)
                state.jobs.record(job_id, f.index, outcome, retry=f.to_dict())

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Runs in the parent for a hard time limit (the child was killed): not re-run.
        if isinstance(exc, TimeLimitExceeded):
            reason = f"took longer than the hard time limit ({state.settings.task_time_limit} s)"
            state.jobs.dead_letter(
                {
                    "task": self.name,
                    "task_id": task_id,
                    "args": list(args),
                    "kwargs": dict(kwargs),
                    "reason": reason,
                    "deliveries": None,
                }
            )
            _reject_pending(*_job_arguments(args, kwargs), reason)
            _forget(
                state.redis,
                DELIVERIES_PREFIX + task_id,
                CRASH_PREFIX + task_id,
                FAILING_PREFIX + task_id,
            )


def _reject_pending(job_id: str, files: list[StoredFile], reason: str) -> None:
    done = state.jobs.recorded(job_id)
    for f in files:
        if f.index not in done:
            outcome = FileOutcome(f.source, "rejected", reason, f.modality, f.sha256)
            state.jobs.record(job_id, f.index, outcome)


def _split(job_id: str, files: list[StoredFile]) -> None:
    for f in files:
        embed_files.apply_async(
            args=(job_id, [f.to_dict()]), kwargs={"redelivered": True}, queue=EMBED_QUEUE
        )


@app.task(name=EMBED_FILES_TASK, bind=True, base=EmbedFilesTask)
def embed_files(
    self: CountedTask, job_id: str, files: list[dict[str, Any]], redelivered: bool = False
) -> dict[str, int]:
    """Embed and upsert files from the media store; record each file's outcome in the job."""
    wanted = [StoredFile.from_dict(f) for f in files]
    done = state.jobs.recorded(job_id)
    todo = [f for f in wanted if f.index not in done]
    deliveries = int(getattr(self.request, "deliveries", 1))
    if not todo:
        return {"files": len(wanted), "recorded": 0}
    if deliveries > 1 and len(todo) > 1:
        # This task's process died (or it was lost with its worker): run the files alone.
        _split(job_id, todo)
        return {"files": len(wanted), "split": len(todo)}
    try:
        outcomes = embed_stored_files(state.engine, todo)
    except SoftTimeLimitExceeded:
        if len(todo) > 1:
            _split(job_id, todo)
            return {"files": len(wanted), "split": len(todo)}
        reason = f"took longer than the time limit ({state.settings.task_soft_time_limit} s)"
        self.dead_letter((job_id, files), {"redelivered": redelivered}, reason, deliveries)
        return {"files": len(wanted), "recorded": 0}
    again = redelivered or deliveries > 1
    recorded = 0
    for f, outcome in zip(todo, outcomes, strict=True):
        if again and outcome.status == "duplicate" and outcome.reason == _ALREADY_STORED:
            # Our own earlier delivery wrote the points and died before recording them.
            outcome = replace(outcome, status="embedded", reason="embedded by an earlier delivery")
        recorded += int(state.jobs.record(job_id, f.index, outcome))
    return {"files": len(wanted), "recorded": recorded}


@app.task(
    name=EMBED_QUERY_TASK,
    bind=True,
    base=CountedTask,
    ignore_result=False,
)
def embed_query(self: CountedTask, terms: list[dict[str, Any]]) -> dict[str, Any]:
    """Unit vectors for a query's inputs: `{"vectors": [[...], ...]}` in the terms' order,
    or `{"error": {"source": ..., "reason": ...}}` for an input that cannot be embedded."""
    from binding.errors import InputError

    engine = state.engine
    try:
        decoded = [decode_query_input(term) for term in terms]
        rows: list[list[float] | None] = [None] * len(decoded)
        by_modality: dict[Any, list[int]] = {}
        for position, (modality, _) in enumerate(decoded):
            by_modality.setdefault(modality, []).append(position)
        for modality, positions in by_modality.items():
            vectors = engine.encoder.embed(modality, [decoded[p][1] for p in positions])  # (n, D)
            for p, vector in zip(positions, vectors, strict=True):
                rows[p] = [float(x) for x in vector]
    except (InputError, ValueError) as error:
        source = getattr(error, "source", "query")
        reason = getattr(error, "reason", str(error))
        return {"error": {"source": source, "reason": reason}}
    return {"vectors": rows}
