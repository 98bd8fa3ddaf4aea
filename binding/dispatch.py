"""The dispatcher: what the distributed mode provides to send work to the workers.

The library says what it needs (`Dispatcher`, a protocol) and never imports the code that
provides it: `binding/` sits below `workers/` and must not import it, Celery or Streamlit
(`tests/test_layers.py` checks it). The distributed mode registers its dispatcher as a
package entry point in the group `binding.dispatchers` (pyproject.toml):

    [project.entry-points."binding.dispatchers"]
    celery = "workers.client:Dispatcher"

`find_dispatcher` loads it by name when an engine first sends work; a composition root
(a test, an application) may instead hand a dispatcher to `QueueExecutor` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol, cast

from binding.config import Settings
from binding.errors import ConfigurationError

#: The entry-point group dispatchers are registered in.
DISPATCHER_GROUP = "binding.dispatchers"

#: The dispatcher the queue executor uses unless told otherwise.
DEFAULT_DISPATCHER = "celery"


class Dispatcher(Protocol):
    """Sends embedding work to workers and waits for query vectors."""

    def send_files(self, job_id: str, files: list[dict[str, Any]]) -> str:
        """Queue the embedding of files already in the media store; returns a task id.

        `files` are `StoredFile.to_dict()` rows: ids and names, never bytes.
        """
        ...

    def embed(self, terms: list[dict[str, Any]], *, timeout: float) -> list[list[float]]:
        """The vectors of query inputs (`query_input` rows), embedded by a worker."""
        ...

    def close(self) -> None:
        """Release the connection to the broker."""
        ...


DispatcherFactory = Callable[[Settings], Dispatcher]


def find_dispatcher(name: str = DEFAULT_DISPATCHER) -> DispatcherFactory:
    """The dispatcher registered under `name` in the `binding.dispatchers` entry points."""
    found = [ep for ep in entry_points(group=DISPATCHER_GROUP) if ep.name == name]
    if not found:
        raise ConfigurationError(
            f"BINDING_BROKER_URL is set but no dispatcher {name!r} is installed (entry point "
            f"group {DISPATCHER_GROUP!r}); install the `distributed` extra: "
            "pip install 'binding[distributed]' (or reinstall the package: pip install -e .)"
        )
    try:
        factory = found[0].load()
    except ImportError as error:
        raise ConfigurationError(
            f"BINDING_BROKER_URL is set but the dispatcher {name!r} cannot be imported "
            f"({error}); install the `distributed` extra: pip install 'binding[distributed]'"
        ) from error
    if not callable(factory):
        raise ConfigurationError(f"the dispatcher entry point {name!r} is not callable")
    return cast(DispatcherFactory, factory)
