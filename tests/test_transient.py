"""The one transient-error policy (`binding.transient`): decided by type, never by name."""

from __future__ import annotations

import httpx
import redis
from qdrant_client.http.exceptions import ResponseHandlingException

from binding.errors import ConfigurationError, InputError, StoreLockedError, TransientError
from binding.transient import is_transient


class _Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class ConnectionErrorLookalike(Exception):
    """Named like a transient error, but not one: names must not decide."""


def test_transient_failures_are_recognised_by_type() -> None:
    for error in (
        TransientError("briefly down"),
        ConnectionRefusedError(),
        TimeoutError(),
        redis.ConnectionError("down"),
        redis.BusyLoadingError("loading"),
        redis.TimeoutError(),
        httpx.ConnectError("refused"),
        ResponseHandlingException(OSError("reset")),
        _Status(503),
        _Status(502),
    ):
        assert is_transient(error), error


def test_other_failures_are_not_retried() -> None:
    for error in (
        ValueError("bad"),
        InputError("x.png", "corrupt"),
        ConfigurationError("wrong setting"),
        StoreLockedError("/data/store", 42),
        _Status(500),
        _Status(404),
        ConnectionErrorLookalike(),
        redis.ResponseError("WRONGTYPE"),
    ):
        assert not is_transient(error), error


def test_callers_add_their_own_transport_errors() -> None:
    class BrokerDown(Exception):
        pass

    assert not is_transient(BrokerDown())
    assert is_transient(BrokerDown(), (BrokerDown,))


def test_the_store_lock_error_keeps_the_advice() -> None:
    error = StoreLockedError("/data/store", 42)
    assert isinstance(error, ConfigurationError)
    assert str(error) == (
        "the store at /data/store is open in another process (pid 42); stop that process, or "
        "share one store between processes in distributed mode: set BINDING_QDRANT_URL to a "
        "Qdrant server"
    )
