"""The one transient-error policy: which failures pass on their own and are worth retrying.

Used by the Celery tasks (`workers/tasks.py`: retry with backoff, else dead-letter) and the
stream consumer (`workers/streams.py`: wait and retry the store or Redis). A failure is
transient when a service is briefly unreachable or busy:

- `binding.errors.TransientError`, which the library raises for such a condition;
- the built-in `ConnectionError` and `TimeoutError` (and their subclasses);
- redis-py's `ConnectionError` and `TimeoutError` (`BusyLoadingError` is a `ConnectionError`:
  Redis loading its data after a restart);
- qdrant-client's `ResponseHandlingException` and httpx's `TransportError` (the Qdrant
  server unreachable), and any error carrying HTTP status 502, 503 or 504;
- the classes a caller adds for its own transport (`extra`: the tasks add the broker's).

Everything else (a bad input, a wrong setting, a bug) would fail the same way again.
Classes are matched by type, never by name or message.

`is_infrastructure` widens this to the failures of the machinery around a file rather than
of the file: transient errors, and the embedded store held by another process
(`StoreLockedError`, which passes when that process exits). A task that meets one is
retried, and its files end "failed" (retryable), never "rejected" (bad input).
"""

from __future__ import annotations

from functools import cache

from binding.errors import StoreLockedError, TransientError

#: HTTP statuses of a gateway or server that is briefly unavailable.
TRANSIENT_HTTP_STATUS = frozenset({502, 503, 504})


@cache
def transient_errors() -> tuple[type[BaseException], ...]:
    """The exception classes that are transient (those of installed libraries)."""
    errors: list[type[BaseException]] = [TransientError, ConnectionError, TimeoutError]
    try:
        import redis

        errors += [redis.ConnectionError, redis.TimeoutError]
    except ImportError:  # pragma: no cover - redis comes with the distributed extra
        pass
    try:
        from qdrant_client.http.exceptions import ResponseHandlingException

        errors.append(ResponseHandlingException)
    except ImportError:  # pragma: no cover - qdrant-client is a dependency
        pass
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx comes with qdrant-client
        pass
    return tuple(errors)


def is_transient(error: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """True when `error` passes on its own (see the module docstring); `extra` adds classes."""
    if isinstance(error, transient_errors() + extra):
        return True
    return getattr(error, "status_code", None) in TRANSIENT_HTTP_STATUS


def is_infrastructure(error: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """True when `error` is the infrastructure's (transient, or the store locked), not the
    input's: worth retrying, and never a reason to reject a file."""
    return isinstance(error, StoreLockedError) or is_transient(error, extra)
