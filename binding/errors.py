"""Errors users see. Each says what went wrong and, where it helps, what to do."""

from __future__ import annotations

from pathlib import Path


class BindingError(Exception):
    """Base of every error this library raises on purpose."""


class InputError(BindingError, ValueError):
    """An input (file, bytes, array, text) that cannot be embedded.

    Never retried: a corrupt or unsupported file will not fix itself. `source` names the
    file (or a description of an in-memory input) and `reason` says what is wrong with it.
    """

    def __init__(self, source: str | Path | None, reason: str) -> None:
        self.source = str(source) if source is not None else "<input>"
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class CheckpointError(BindingError):
    """A checkpoint that is missing, incomplete, corrupt or does not fit the model."""


class ConfigurationError(BindingError):
    """A setting that cannot work, with the fix in the message."""


class StoreLockedError(ConfigurationError):
    """The embedded store's folder is open in another process (its lock is held).

    `path` is the store folder and `pid` the holder's process id when it is known. The
    message says what to do: stop that process, or share a Qdrant server.
    """

    def __init__(self, path: str | Path, pid: int | None = None) -> None:
        self.path = str(path)
        self.pid = pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(
            f"the store at {self.path} is open in another process{who}; stop that process, or "
            "share one store between processes in distributed mode: set BINDING_QDRANT_URL "
            "to a Qdrant server"
        )


class TransientError(BindingError):
    """A failure that passes on its own (a service briefly unreachable): worth retrying.

    See `binding.transient` for the one policy that decides what is transient.
    """
