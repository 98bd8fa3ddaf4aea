"""Distributed mode: the Celery app, its thin tasks, and the client that sends them.

- `workers.config`: the Celery settings from `binding.config.Settings`, and the start-up
  checks (time limits against the Redis visibility timeout, JSON only).
- `workers.celery_app`: the app (`workers.celery_app.app`) that `binding worker` runs.
- `workers.tasks`: `binding.embed_files` (queue `embed`) and `binding.embed_query` (queue
  `query`), counted deliveries and the dead-letter record.
- `workers.client`: the `Dispatcher` that sends tasks by name (no task code); the library
  finds it through the entry point `binding.dispatchers:celery`, never by importing it.
- `workers.cli`: `binding worker` (Celery) and `binding worker streams`, mounted into the
  main CLI through the entry point `binding.commands:worker`.
- `workers.streams`: the stream consumer (`StreamConsumer`).

Importing this package imports nothing heavy: no Celery, no torch.
"""
