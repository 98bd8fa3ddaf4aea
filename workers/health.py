"""Container health checks: `python -m workers.health celery|streams`.

- `celery`: this container's Celery worker (node `worker@<hostname>`, as docker-compose.yml
  starts it) answers a remote-control ping through the broker within 10 s.
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
    """'' when the worker node answers a ping, else why not."""
    from workers.celery_app import client_app

    name = node or f"worker@{socket.gethostname()}"
    app = client_app(settings)
    try:
        replies = app.control.ping(destination=[name], timeout=timeout)
    finally:
        app.close()
    return "" if any(name in reply for reply in replies) else f"{name} did not answer a ping"


def streams_healthy(settings: Settings, *, group: str = "binding") -> str:
    """'' when a consumer of this host has a fresh heartbeat, else why not."""
    from binding.jobs import redis_client

    if not settings.broker_url:
        return "BINDING_BROKER_URL is not set"
    client = redis_client(settings.broker_url, retries=1)
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
