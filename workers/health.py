"""Container health checks: `python -m workers.health celery|streams`.

- `celery`: this container's Celery worker (node `worker@<hostname>`, as docker-compose.yml
  starts it) answers a remote-control ping through the broker within 10 s, no pool process
  of it stopped it (`workers.startup`), and its embedded store has the free space to open
  (`binding.store.space`; a full disk is unhealthy, with the folder and the space needed).
- `streams`: a stream consumer on this host has sent a heartbeat within the last 60 s
  (`binding:stream-consumers:<group>`, written by `binding.streams.StreamConsumer`).

Exit status 0 when healthy, 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import socket
import sys
import time

from binding.config import Settings

#: Seconds since a consumer's last heartbeat after which it counts as dead.
STREAMS_MAX_AGE_S = 60.0


def celery_healthy(settings: Settings, *, node: str | None = None, timeout: float = 10.0) -> str:
    """'' when the worker node answers a ping and its store has the space to open, else why
    not (with the reason a pool process gave for stopping the worker, when there is one)."""
    from workers.celery_app import client_app

    name = node or f"worker@{socket.gethostname()}"
    stopped = _stop_reason(settings, name)
    if stopped:
        return f"{name} stopped: {stopped}"
    problem = store_problem(settings)
    if problem:
        return f"the store of {name} cannot open: {problem}"
    app = client_app(settings)
    try:
        replies = app.control.ping(destination=[name], timeout=timeout)
    finally:
        app.close()
    return "" if any(name in reply for reply in replies) else f"{name} did not answer a ping"


def store_problem(settings: Settings) -> str:
    """'' when the embedded store has the free space to open for writing, else why not
    (a Qdrant server's space is the server's own health check)."""
    from binding.models.registry import get_spec
    from binding.store.space import DiskFullError, check_open

    if settings.qdrant_url:
        return ""
    get_spec(settings.model)  # a wrong model name is a configuration error, said as such
    folder = settings.data_dir / "store" / settings.collection_for(settings.model)
    try:
        check_open(folder, settings.store_reserve_bytes)
    except DiskFullError as error:
        return str(error)
    return ""


def _stop_reason(settings: Settings, node: str) -> str:
    from binding.jobs import redis_client
    from workers.startup import recorded_error

    url = settings.records_url()
    if not url:
        return ""
    client = redis_client(url, retries=1)
    try:
        return recorded_error(client, node)
    finally:
        client.close()


def streams_healthy(settings: Settings, *, group: str = "binding") -> str:
    """'' when a consumer of this host has a fresh heartbeat, else why not."""
    from binding.jobs import redis_client

    url = settings.records_url()
    if not url:
        return "no Redis: set BINDING_BROKER_URL (or BINDING_REDIS_URL)"
    client = redis_client(url, retries=1)
    try:
        beats = client.zrange(f"binding:stream-consumers:{group}", 0, -1, withscores=True)
    finally:
        client.close()
    prefix = socket.gethostname() + "-"
    now_ms = time.time() * 1000
    for name, score in beats:
        text = name.decode() if isinstance(name, bytes) else str(name)
        if text.startswith(prefix) and now_ms - score < STREAMS_MAX_AGE_S * 1000:
            return ""
    return f"no stream consumer of {socket.gethostname()} sent a heartbeat in {STREAMS_MAX_AGE_S:.0f} s"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("celery", "streams"):
        print("usage: python -m workers.health celery|streams", file=sys.stderr)
        return 2
    settings = Settings()
    try:
        problem = celery_healthy(settings) if argv[0] == "celery" else streams_healthy(settings)
    except Exception as error:  # unreachable broker and the like: unhealthy, say why
        problem = f"{type(error).__name__}: {error}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
