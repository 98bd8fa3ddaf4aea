"""The sending side: `Dispatcher` sends tasks by name (no task code) for `QueueExecutor`.

It implements `binding.dispatch.Dispatcher`; pyproject.toml registers it as the entry point
`binding.dispatchers:celery`, which is how the library finds it.

Importing this module imports Celery and kombu but never torch, the model or the tasks.
"""

from __future__ import annotations

from typing import Any

from binding.config import Settings
from binding.errors import BindingError, InputError
from workers.celery_app import client_app
from workers.config import (
    EMBED_FILES_TASK,
    EMBED_QUERY_TASK,
    EMBED_QUEUE,
    QUERY_QUEUE,
    query_time_limits,
)


class Dispatcher:
    """Sends `embed_files` and `embed_query` tasks to the broker named by the settings."""

    def __init__(self, settings: Settings) -> None:
        self.app = client_app(settings)
        self.query_limits = query_time_limits(settings)

    def send_files(self, job_id: str, files: list[dict[str, Any]]) -> str:
        """Queue one `embed_files` task; returns its task id."""
        result = self.app.send_task(
            EMBED_FILES_TASK, args=(job_id, files), queue=EMBED_QUEUE, routing_key=EMBED_QUEUE
        )
        return str(result.id)

    def embed(self, terms: list[dict[str, Any]], *, timeout: float) -> list[list[float]]:
        """The vectors of query inputs, embedded by a worker; waits at most `timeout` s."""
        from celery.exceptions import TimeoutError as CeleryTimeout

        soft, hard = self.query_limits
        result = self.app.send_task(
            EMBED_QUERY_TASK,
            args=(terms,),
            queue=QUERY_QUEUE,
            routing_key=QUERY_QUEUE,
            soft_time_limit=soft,
            time_limit=hard,
            expires=timeout,  # nobody waits for it any more after that
        )
        try:
            answer = result.get(timeout=timeout, propagate=True, disable_sync_subtasks=False)
        except CeleryTimeout:
            result.forget()
            raise BindingError(
                f"no worker embedded the query within {timeout:.0f} s; is a worker consuming "
                "the `query` queue (binding worker --queues query,embed)?"
            ) from None
        finally:
            result.forget()
        if not isinstance(answer, dict):
            raise BindingError(f"unexpected answer from the query worker: {type(answer).__name__}")
        if "error" in answer:
            error = answer["error"]
            raise InputError(str(error.get("source")), str(error.get("reason")))
        return list(answer["vectors"])

    def close(self) -> None:
        self.app.close()
