"""Jobs: one upload or one ingest call, its files, and what became of each.

    status = engine.jobs.status(job_id)
    print(status.embedded, status.duplicate, status.rejected, status.failed, status.pending)
    for source, reason in status.reasons.items():
        print(source, reason)

A file ends embedded, duplicate, rejected (bad input, never retried) or failed (an
infrastructure failure outlasted the workers' retries: retryable, see `retry_failed`).

A job is created with its number of files; each file gets exactly one recorded outcome,
the first one written (`record` ignores later ones), so a task that runs twice after a
redelivery never counts a file twice. In distributed mode the records live in Redis (the
broker's database), written by the workers and read by whoever holds the job id; in embedded
mode they live in this process's memory. Keys, all under `binding:`:

- `binding:job:<id>`           hash: `total`, `created`, `embedded`, `duplicate`, `rejected`,
                               `failed`, `retries`
- `binding:job:<id>:outcomes`  hash: file index -> the outcome as JSON (first write wins)
- `binding:job:<id>:retry`     hash: file index -> the task's file (JSON) of each failed file
- `binding:job:<id>:log`       list: outcomes in the order they were recorded (for progress)
- `binding:jobs`               sorted set: job ids by creation time
- `binding:deadletter`         list: tasks given up on, newest first, with their reason

Job keys expire `JOB_TTL_SECONDS` after the job was created.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from binding.errors import InputError
from binding.ingest import FileOutcome, IngestReport

#: How long a job's records are kept (7 days).
JOB_TTL_SECONDS = 7 * 24 * 3600

#: Dead-letter records kept (the oldest are trimmed).
DEADLETTER_KEEP = 10_000

PREFIX = "binding:"
DEADLETTER_KEY = PREFIX + "deadletter"
JOBS_KEY = PREFIX + "jobs"

_STATUSES = ("embedded", "duplicate", "rejected", "failed")

# KEYS: job hash, outcomes hash, log list, retry hash; ARGV: index, outcome JSON, status,
# ttl, the file to send again ('' for none). Records an outcome only if the file has none
# yet, and counts it, atomically.
_RECORD_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
return 1
"""

# KEYS: job hash, outcomes hash, retry hash. Takes every failed file back: its outcome is
# removed (the file is pending again) and its task file returned, atomically, so two
# retries at once never send a file twice.
_TAKE_FAILED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local rows = redis.call('HGETALL', KEYS[3])
local files = {}
for i = 1, #rows, 2 do
  if redis.call('HDEL', KEYS[2], rows[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'failed', -1)
    files[#files + 1] = rows[i + 1]
  end
end
redis.call('DEL', KEYS[3])
if #files > 0 then redis.call('HINCRBY', KEYS[1], 'retries', 1) end
return files
"""


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def outcome_to_json(outcome: FileOutcome) -> str:
    return json.dumps(outcome.to_dict(), ensure_ascii=False, separators=(",", ":"))


def outcome_from_json(text: str | bytes) -> FileOutcome:
    """The `FileOutcome` written by `outcome_to_json`."""
    row = json.loads(text)
    row["ids"] = [UUID(i) for i in row.get("ids") or []]
    return FileOutcome(**row)


def check_job_id(job_id: str) -> str:
    """A job id as issued by `Jobs.create` (a UUID); anything else is an InputError."""
    try:
        return str(UUID(str(job_id)))
    except ValueError:
        raise InputError(repr(job_id)[:80], "not a job id") from None


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: files per outcome, files still pending, and the reasons."""

    job_id: str
    total: int
    embedded: int
    duplicate: int
    rejected: int
    created: float
    reasons: dict[str, str] = field(default_factory=dict)  # source -> reason (not embedded)
    failed: int = 0  # infrastructure failures: retryable (`Jobs.retry_failed`)

    @property
    def pending(self) -> int:
        """Files without an outcome yet (queued, or running on a worker)."""
        return max(0, self.total - self.embedded - self.duplicate - self.rejected - self.failed)

    @property
    def done(self) -> bool:
        return self.pending == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "total": self.total,
            "embedded": self.embedded,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "failed": self.failed,
            "pending": self.pending,
            "done": self.done,
            "created": self.created,
            "reasons": dict(self.reasons),
        }


class Jobs:
    """Job records: in Redis when `redis_url` is given, else in this process's memory."""

    def __init__(self, redis_url: str | None = None, *, client: Any = None) -> None:
        self.redis_url = redis_url
        self._client = client
        self._lock = threading.Lock()
        # In-memory records (embedded mode): job id -> fields, outcomes, log.
        self._memory: dict[str, dict[str, Any]] = {}
        self._memory_deadletter: list[dict[str, Any]] = []
        self._script: Any = None

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None or self._client is not None

    @property
    def client(self) -> Any:
        """A redis-py client that rides out a short broker restart (retries with backoff)."""
        if self._client is None:
            if self.redis_url is None:
                raise RuntimeError("in-memory jobs have no Redis client")
            self._client = redis_client(self.redis_url)
        return self._client

    # -- writing --------------------------------------------------------------------------

    def create(self, total: int, *, job_id: str | None = None, kind: str = "ingest") -> str:
        """A new job of `total` files; returns its id."""
        job_id = check_job_id(job_id) if job_id is not None else str(uuid.uuid4())
        now = time.time()
        fields = {"total": int(total), "created": now, "kind": kind}
        fields.update({s: 0 for s in _STATUSES})
        if not self.distributed:
            with self._lock:
                self._memory[job_id] = {"fields": fields, "outcomes": {}, "log": []}
            return job_id
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.expire(job_key(job_id), JOB_TTL_SECONDS)
        pipe.zadd(JOBS_KEY, {job_id: now})
        pipe.zremrangebyscore(JOBS_KEY, 0, now - JOB_TTL_SECONDS)
        pipe.execute()
        return job_id

    def record(
        self,
        job_id: str,
        index: int,
        outcome: FileOutcome,
        *,
        retry: dict[str, Any] | None = None,
    ) -> bool:
        """Record file `index`'s outcome; False if it already had one (the first one stays).

        `retry` (with a "failed" outcome) is what to send again on `retry_failed`: the
        task's description of the file (`binding.executor.StoredFile.to_dict()`).
        """
        job_id = check_job_id(job_id)
        if outcome.status not in _STATUSES:
            raise ValueError(f"unknown outcome status {outcome.status!r}")
        text = outcome_to_json(outcome)
        again = json.dumps(retry, ensure_ascii=False) if retry is not None else ""
        if not self.distributed:
            with self._lock:
                job = self._memory.get(job_id)
                if job is None:
                    raise InputError(job_id, "no such job")
                if index in job["outcomes"]:
                    return False
                job["outcomes"][index] = text
                job["log"].append(text)
                job["fields"][outcome.status] += 1
                if again:
                    job.setdefault("retry", {})[index] = again
            return True
        if self._script is None:
            self._script = self.client.register_script(_RECORD_SCRIPT)
        keys = [job_key(job_id) + suffix for suffix in ("", ":outcomes", ":log", ":retry")]
        result = int(
            self._script(keys=keys, args=[index, text, outcome.status, JOB_TTL_SECONDS, again])
        )
        if result < 0:
            raise InputError(job_id, self._missing())
        return result == 1

    def retry_failed(self, job_id: str) -> list[dict[str, Any]]:
        """Take the job's failed files back: each is pending again (its outcome removed) and
        returned as the task's file to send again (empty when none failed). Atomic: two
        calls at once never return the same file twice."""
        job_id = check_job_id(job_id)
        if not self.distributed:
            with self._lock:
                job = self._memory.get(job_id)
                if job is None:
                    raise InputError(job_id, "no such job")
                texts = []
                for index, text in sorted(job.pop("retry", {}).items()):
                    if job["outcomes"].pop(index, None) is not None:
                        job["fields"]["failed"] -= 1
                        texts.append(text)
        else:
            script = self.client.register_script(_TAKE_FAILED_SCRIPT)
            keys = [job_key(job_id) + suffix for suffix in ("", ":outcomes", ":retry")]
            found = script(keys=keys)
            if found == -1:
                raise InputError(job_id, self._missing())
            texts = [_text(t) for t in found]
        files = [json.loads(t) for t in texts]
        return sorted(files, key=lambda f: int(f.get("index", 0)))

    def _missing(self) -> str:
        """Why a job id finds nothing, with the likely cause when Redis keeps no AOF."""
        reason = "no such job (expired, or never created)"
        warning = persistence_warning(self.client)
        return f"{reason}; {warning}" if warning else reason

    # -- reading --------------------------------------------------------------------------

    def _fields(self, job_id: str) -> dict[str, Any]:
        if not self.distributed:
            with self._lock:
                job = self._memory.get(job_id)
                if job is None:
                    raise InputError(job_id, "no such job")
                return dict(job["fields"])
        raw = self.client.hgetall(job_key(job_id))
        if not raw:
            raise InputError(job_id, self._missing())
        return {_text(k): _text(v) for k, v in raw.items()}

    def _outcome_texts(self, job_id: str) -> dict[int, str]:
        if not self.distributed:
            with self._lock:
                return dict(self._memory[job_id]["outcomes"])
        raw = self.client.hgetall(job_key(job_id) + ":outcomes")
        return {int(_text(k)): _text(v) for k, v in raw.items()}

    def status(self, job_id: str) -> JobStatus:
        """Files per outcome and pending, with the reason for each duplicate or rejection."""
        job_id = check_job_id(job_id)
        fields = self._fields(job_id)
        counts = {s: int(fields.get(s, 0)) for s in _STATUSES}
        reasons: dict[str, str] = {}
        if counts["duplicate"] or counts["rejected"] or counts["failed"]:
            for text in self._outcome_texts(job_id).values():
                outcome = outcome_from_json(text)
                if outcome.status != "embedded":
                    reasons[outcome.source] = outcome.reason or outcome.status
        return JobStatus(
            job_id=job_id,
            total=int(fields["total"]),
            created=float(fields["created"]),
            reasons=reasons,
            **counts,
        )

    def recorded(self, job_id: str) -> set[int]:
        """Indexes of the files that have an outcome."""
        return set(self._outcome_texts(check_job_id(job_id)))

    def outcomes(self, job_id: str) -> dict[int, FileOutcome]:
        """Every recorded outcome, by file index."""
        return {
            i: outcome_from_json(t) for i, t in self._outcome_texts(check_job_id(job_id)).items()
        }

    def log(self, job_id: str, start: int = 0) -> list[FileOutcome]:
        """Outcomes in the order they were recorded, from position `start` on."""
        job_id = check_job_id(job_id)
        if not self.distributed:
            with self._lock:
                texts = list(self._memory[job_id]["log"][start:])
        else:
            texts = [_text(t) for t in self.client.lrange(job_key(job_id) + ":log", start, -1)]
        return [outcome_from_json(t) for t in texts]

    def report(self, job_id: str) -> IngestReport:
        """The recorded outcomes as an `IngestReport`, in file order (pending files left out)."""
        found = self.outcomes(job_id)
        return IngestReport([found[i] for i in sorted(found)])

    def wait(
        self,
        job_id: str,
        *,
        progress: Callable[[FileOutcome], None] | None = None,
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> JobStatus:
        """Block until every file of the job has an outcome; `progress` sees each as it comes.

        Raises `TimeoutError` after `timeout` seconds (the job goes on without us).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            status = self.status(job_id)
            fresh = self.log(job_id, seen)
            seen += len(fresh)
            if progress is not None:
                for outcome in fresh:
                    progress(outcome)
            if status.done and seen >= status.total:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"job {job_id}: {status.pending} of {status.total} files still pending "
                    f"after {timeout:.0f} s; are workers running (binding worker)?"
                )
            time.sleep(poll)

    def recent(self, limit: int = 20) -> list[str]:
        """Ids of the newest jobs, newest first."""
        if not self.distributed:
            with self._lock:
                ordered = sorted(self._memory, key=lambda j: self._memory[j]["fields"]["created"])
            return ordered[::-1][:limit]
        return [_text(j) for j in self.client.zrevrange(JOBS_KEY, 0, limit - 1)]

    # -- dead letters ---------------------------------------------------------------------

    def dead_letter(self, record: dict[str, Any]) -> None:
        """Keep a task that was given up on (name, arguments, reason, deliveries, time)."""
        row = {"time": time.time(), **record}
        if not self.distributed:
            with self._lock:
                self._memory_deadletter.insert(0, row)
                del self._memory_deadletter[DEADLETTER_KEEP:]
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(DEADLETTER_KEY, json.dumps(row, ensure_ascii=False, default=str))
        pipe.ltrim(DEADLETTER_KEY, 0, DEADLETTER_KEEP - 1)
        pipe.execute()

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead-letter records, newest first."""
        if not self.distributed:
            with self._lock:
                return [dict(r) for r in self._memory_deadletter[:limit]]
        return [json.loads(t) for t in self.client.lrange(DEADLETTER_KEY, 0, limit - 1)]

    def close(self) -> None:
        if self._client is not None and self.redis_url is not None:
            self._client.close()
            self._client = None


def persistence_warning(client: Any) -> str | None:
    """A warning when the Redis behind `client` keeps no append-only file, else None.

    Without AOF (`appendonly no`) a restart of Redis loses every job record and every
    queued or running task: the client later says "no such job". RDB snapshots alone keep
    only what the last snapshot held. Unknown (INFO refused) counts as no warning.
    """
    try:
        info = client.info("persistence")
    except Exception:  # an ACL without INFO, or Redis down: nothing to say
        return None
    if str(info.get("aof_enabled", "1")) not in ("0", "False", "false"):
        return None
    return (
        "this Redis has no append-only file (appendonly no), so a restart of it loses what "
        "it holds (jobs, queued tasks, stream entries): run it with --appendonly yes "
        "(docker-compose.yml does)"
    )


def redis_client(url: str, *, retries: int = 20) -> Any:
    """A redis-py client for `url` whose commands retry connection errors with backoff.

    With the defaults a command keeps trying for about half a minute, which rides out a
    broker restart; after that the `redis.ConnectionError` reaches the caller.
    """
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_timeout=30,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
