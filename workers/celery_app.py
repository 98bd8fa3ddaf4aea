"""The Celery app that `binding worker` runs: `workers.celery_app.app`.

Its configuration is read from the environment (`BINDING_*`, see `binding.config.Settings`)
the first time it is needed, so importing this module needs neither a broker nor settings;
`celery -A workers.celery_app worker` works too, but `binding worker` also checks the setup
and picks the pool and queues. The tasks are in `workers.tasks`.
"""

from __future__ import annotations

from celery import Celery

from binding.config import Settings
from workers.config import celery_config


def _settings_config() -> dict[str, object]:
    return celery_config(Settings())


app = Celery("binding", include=["workers.tasks"], set_as_current=False)
app.add_defaults(_settings_config)


def client_app(settings: Settings) -> Celery:
    """An app that only sends tasks (by name) and reads query results; it has no tasks."""
    sender = Celery("binding-client", set_as_current=False)
    sender.conf.update(celery_config(settings))
    return sender
