"""The books of a stream: produced, processed, dropped and dead; rates; dead letters."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from binding.streams.keys import CONSUMERS_KEY, DEFAULT_GROUP, REGISTRY_KEY, stream_keys
from binding.streams.scripts import client_for
from binding.streams.wire import as_text


@dataclass(frozen=True)
class StreamStatus:
    """Where a stream stands for a consumer group: the books, the lag and who reads it.

    At rest `produced == processed + dropped + dead`; while entries flow, the difference is
    `lag_entries` (`undelivered` + `pending`). `lag_seconds` is how old the oldest
    entry not yet processed is (0 when there is none).
    """

    stream: str
    modality: str | None
    rate: float | None
    group: str
    length: int  # entries in the stream now
    maxlen: int | None
    produced: int  # entries ever added
    delivered: int  # entries the group read (XREADGROUP)
    processed: int  # entries acknowledged after their windows were stored
    dropped: int  # entries trimmed before they were processed (counted by the consumer)
    dead: int  # entries dead-lettered
    pending: int  # read, not yet acknowledged
    undelivered: int  # added, not yet read (nor known dropped)
    lag_entries: int
    lag_seconds: float
    windows: int  # windows stored (one re-stored after a crash counts again)
    windows_incomplete: int  # windows skipped because some of their readings were dropped
    dead_letters: int  # entries in the dead-letter stream
    owner: str | None  # the consumer holding the lease
    consumers: int  # live consumers in the group
    acked_at: float | None

    @property
    def balanced(self) -> bool:
        """True when every entry is accounted for: processed, dropped, dead or still lagging."""
        return self.produced == self.processed + self.dropped + self.dead + self.lag_entries

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced}


def _ms(entry_id: Any) -> int:
    return int(as_text(entry_id).split("-")[0])


def stream_status(
    redis_or_url: Any, *, group: str = DEFAULT_GROUP, streams: Sequence[str] | None = None
) -> list[StreamStatus]:
    """Every registered stream's status (or those named), sorted by id."""
    import redis

    client = client_for(redis_or_url)
    names = list(streams) if streams else sorted(as_text(s) for s in client.smembers(REGISTRY_KEY))
    now_s, now_us = client.time()
    now_ms = int(now_s) * 1000 + int(now_us) // 1000
    live = client.zcount(CONSUMERS_KEY + group, now_ms - 60_000, "+inf")
    out = []
    for name in names:
        keys = stream_keys(name)
        meta = {as_text(k): as_text(v) for k, v in client.hgetall(keys.meta).items()}
        counts = {as_text(k): as_text(v) for k, v in client.hgetall(keys.counts(group)).items()}
        length = int(client.xlen(keys.entries))
        pending = 0
        oldest: Any = None
        try:
            summary = client.xpending(keys.entries, group)
            pending = int(summary["pending"])
            oldest = summary["min"] if pending else None
            groups = {as_text(g["name"]): g for g in client.xinfo_groups(keys.entries)}
            last = groups[group]["last-delivered-id"] if group in groups else "0-0"
        except redis.ResponseError:  # no stream or no group yet
            last = "0-0"
        produced = int(meta.get("produced", 0))
        undelivered = max(0, produced - int(counts.get("next", 0)))
        if oldest is None and undelivered:
            after = (
                client.xrange(keys.entries, min=f"({as_text(last)}", count=1)
                if as_text(last) != "0-0"
                else client.xrange(keys.entries, count=1)
            )
            oldest = after[0][0] if after else None
        lag_s = max(0.0, (now_ms - _ms(oldest)) / 1000) if oldest is not None else 0.0
        owner = client.get(keys.owner(group))
        out.append(
            StreamStatus(
                stream=name,
                modality=meta.get("modality"),
                rate=float(meta["rate"]) if "rate" in meta else None,
                group=group,
                length=length,
                maxlen=int(meta["maxlen"]) if "maxlen" in meta else None,
                produced=produced,
                delivered=int(counts.get("delivered", 0)),
                processed=int(counts.get("processed", 0)),
                dropped=int(counts.get("dropped", 0)),
                dead=int(counts.get("dead", 0)),
                pending=pending,
                undelivered=undelivered,
                lag_entries=pending + undelivered,
                lag_seconds=round(lag_s, 3),
                windows=int(counts.get("windows", 0)),
                windows_incomplete=int(counts.get("windows_incomplete", 0)),
                dead_letters=int(client.xlen(keys.dead)),
                owner=as_text(owner) if owner is not None else None,
                consumers=int(live),
                acked_at=float(counts["acked_at"]) if "acked_at" in counts else None,
            )
        )
    return out


def rates(before: StreamStatus, after: StreamStatus, seconds: float) -> dict[str, float]:
    """Entries per second produced and processed between two statuses `seconds` apart."""
    span = max(seconds, 1e-9)
    return {
        "produced_per_s": (after.produced - before.produced) / span,
        "processed_per_s": (after.processed - before.processed) / span,
        "windows_per_s": (after.windows - before.windows) / span,
    }


def dead_letters(redis_or_url: Any, stream: str, *, count: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters of a stream: entry id, reason, deliveries, consumer, time."""
    client = client_for(redis_or_url)
    rows = client.xrevrange(stream_keys(stream).dead, count=count)
    out = []
    for dead_id, values in rows:
        fields = {as_text(k): v for k, v in values.items()}
        out.append(
            {
                "id": as_text(dead_id),
                "entry": as_text(fields.get("entry", b"")),
                "reason": as_text(fields.get("reason", b"")),
                "deliveries": int(as_text(fields.get("deliveries", b"0")) or 0),
                "consumer": as_text(fields.get("consumer", b"")),
                "time": float(as_text(fields.get("time", b"0")) or 0),
            }
        )
    return out


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
