"""Celery settings for binding, made from `binding.config.Settings`, and their checks.

The choices, and why (see docs/distributed.md, which lists the fault tests R1-R13):
- JSON only, both ways: a pickled message would run code when it is read.
- `acks_late` + `task_reject_on_worker_lost`: a task is acknowledged after it ran; if its
  process dies, the message goes back to the queue (at-least-once). Point ids are
  deterministic, so running a task twice writes the same points (exactly-once effect).
- Prefetch 1: a worker process reserves one message at a time (with `acks_late`, the one it
  runs), so no worker hoards work and a crash strands one task per process at most.
- The Redis visibility timeout (when an unacknowledged message of a lost worker is handed
  out again) must exceed the hard time limit by more than `VISIBILITY_MARGIN_S`; otherwise a
  task still running is given to a second worker and runs twice at once.
- Sweeps for messages of lost workers every `restore_interval` seconds (kombu's default
  throttle makes it every 100 s).
- RabbitMQ (`amqp://`) instead: the broker gives a lost worker's unacknowledged task to
  another worker as soon as the worker's connection closes (a killed process's socket closes
  at once; a vanished host is noticed after two missed heartbeats, `AMQP_HEARTBEAT_S`), and
  never while the worker lives, however long its task runs: no visibility timeout to trade
  against the time limit. Job records, delivery counters and the results of query tasks
  stay in Redis (`BINDING_REDIS_URL`).
"""

from __future__ import annotations

from typing import Any

from binding.config import Settings
from binding.errors import ConfigurationError

#: Queues: short query embeddings first, then file embeddings.
QUERY_QUEUE = "query"
EMBED_QUEUE = "embed"
QUEUES = (QUERY_QUEUE, EMBED_QUEUE)

#: Task names (the client sends by name; it never imports the task code).
EMBED_FILES_TASK = "binding.embed_files"
EMBED_QUERY_TASK = "binding.embed_query"

#: A task is tried at most this many times; a further delivery dead-letters it.
MAX_DELIVERIES = 3

#: The visibility timeout must exceed the hard time limit by more than this (seconds).
VISIBILITY_MARGIN_S = 30

#: Longest wait between two tries of a task that met an infrastructure error (the store or
#: the broker unavailable); the tries go on for `BINDING_RETRY_WINDOW` seconds.
RETRY_BACKOFF_MAX_S = 60

#: Time limits of a query embedding (seconds): short, a person is waiting (never above the
#: task limits, which the visibility timeout is checked against).
QUERY_SOFT_TIME_LIMIT_S = 30
QUERY_TIME_LIMIT_S = 40


def query_time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) time limits of a query embedding."""
    return (
        min(QUERY_SOFT_TIME_LIMIT_S, settings.task_soft_time_limit),
        min(QUERY_TIME_LIMIT_S, settings.task_time_limit),
    )


#: Seconds between AMQP heartbeats: a host that vanishes is noticed after two missed ones.
AMQP_HEARTBEAT_S = 20

#: RabbitMQ's own limit on an unacknowledged delivery (consumer_timeout, 30 min by default):
#: the hard time limit must stay below it, or RabbitMQ closes the worker's channel.
AMQP_CONSUMER_TIMEOUT_S = 1800

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")

#: Content types a worker accepts; anything else is discarded unread.
ACCEPT_CONTENT = ["json"]


def check_limits(settings: Settings) -> None:
    """Refuse time limits that let one task run twice at once, with the fix in the message."""
    hard, soft = settings.task_time_limit, settings.task_soft_time_limit
    if (settings.broker_url or "").startswith(AMQP_SCHEMES):
        if soft >= hard:
            raise ConfigurationError(
                f"BINDING_TASK_SOFT_TIME_LIMIT ({soft} s) must be below "
                f"BINDING_TASK_TIME_LIMIT ({hard} s)"
            )
        if hard >= AMQP_CONSUMER_TIMEOUT_S:
            raise ConfigurationError(
                f"BINDING_TASK_TIME_LIMIT ({hard} s) must be below RabbitMQ's consumer_timeout "
                f"({AMQP_CONSUMER_TIMEOUT_S} s by default), which closes a worker's channel"
            )
        return
    visibility = settings.visibility_timeout
    if soft >= hard:
        raise ConfigurationError(
            f"BINDING_TASK_SOFT_TIME_LIMIT ({soft} s) must be below BINDING_TASK_TIME_LIMIT "
            f"({hard} s): the soft limit lets a task stop cleanly before it is killed"
        )
    if hard + VISIBILITY_MARGIN_S >= visibility:
        raise ConfigurationError(
            f"BINDING_TASK_TIME_LIMIT ({hard} s) + {VISIBILITY_MARGIN_S} s must be below "
            f"BINDING_VISIBILITY_TIMEOUT ({visibility} s): Redis hands a task that is not "
            f"acknowledged within the visibility timeout to another worker, so a task still "
            f"running would run twice at once. Set BINDING_VISIBILITY_TIMEOUT to at least "
            f"{hard + VISIBILITY_MARGIN_S + 1} or lower BINDING_TASK_TIME_LIMIT."
        )


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for `settings` (checked first; raises ConfigurationError)."""
    if not settings.broker_url:
        raise ConfigurationError(
            "distributed mode needs BINDING_BROKER_URL, e.g. redis://:PASSWORD@redis:6379/0"
        )
    amqp = settings.broker_url.startswith(AMQP_SCHEMES)
    if not amqp and not settings.broker_url.startswith(REDIS_SCHEMES):
        raise ConfigurationError(
            f"BINDING_BROKER_URL must be a Redis URL (redis://, rediss://) or a RabbitMQ URL "
            f"(amqp://, amqps://), not {settings.broker_url.split('@')[-1]!r}"
        )
    records = settings.records_url()
    if not records:
        raise ConfigurationError(
            "with an amqp:// BINDING_BROKER_URL, set BINDING_REDIS_URL to the Redis that keeps "
            "job records, delivery counters and query results, e.g. redis://:PASSWORD@redis:6379/0"
        )
    check_limits(settings)
    from kombu import Queue

    transport = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": settings.restore_interval,
        "unacked_restore_throttle": 1,  # sweep every interval, not every 10th
        # A worker killed while holding the sweep lock blocks sweeps this long (a sweep
        # takes milliseconds; two overlapping sweeps only deliver a task twice, harmlessly).
        "unacked_mutex_expire": max(settings.restore_interval * 2, 5),
        "queue_order_strategy": "priority",  # `query` before `embed`
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
        "health_check_interval": 25,
    }
    if amqp:  # RabbitMQ redelivers on a closed connection; nothing to sweep. The `query`
        # queue is not polled first there: a worker takes from both queues as messages come.
        transport = {"confirm_publish": True}
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "result_backend": records,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"socket_timeout": 30, "retry_policy": {}},
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # keep reconnecting while Redis restarts
        # JSON only, both ways.
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ACCEPT_CONTENT,
        "result_accept_content": ACCEPT_CONTENT,
        # At-least-once delivery.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,  # a task over its limit is not re-run
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        # Loading the model happens in `worker_process_init`; give it time.
        "worker_proc_alive_timeout": settings.model_load_timeout,
        # Routing.
        "task_queues": tuple(Queue(name, routing_key=name) for name in QUEUES),
        "task_default_queue": EMBED_QUEUE,
        "task_routes": {
            EMBED_FILES_TASK: {"queue": EMBED_QUEUE, "routing_key": EMBED_QUEUE},
            EMBED_QUERY_TASK: {"queue": QUERY_QUEUE, "routing_key": QUERY_QUEUE},
        },
        "task_create_missing_queues": False,
        # Results: only query embeddings return something; progress lives in job records.
        "task_ignore_result": True,
        "result_expires": 600,
        "task_store_errors_even_if_ignored": False,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }
    if amqp:
        config["broker_heartbeat"] = AMQP_HEARTBEAT_S
    return config
