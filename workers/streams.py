"""The stream consumer: what `binding worker streams` runs (a worker, not the library)."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from binding.errors import InputError
from binding.points import clean_tags
from binding.streams.embedding import embed_windows
from binding.streams.keys import (
    CONSUMERS_KEY,
    DEAD_MAXLEN,
    DEFAULT_GROUP,
    FRAME_MODALITIES,
    MAX_DELIVERIES,
    REGISTRY_KEY,
    StreamKeys,
    check_stream_id,
    stream_keys,
)
from binding.streams.scripts import (
    ACK_SCRIPT,
    CLAIM_SCRIPT,
    DEAD_SCRIPT,
    READ_SCRIPT,
    RELEASE_SCRIPT,
    RENEW_SCRIPT,
    client_for,
)
from binding.streams.windows import StreamWindows, Window, stream_windows
from binding.streams.wire import as_text, decode_entry
from binding.transient import is_transient

if TYPE_CHECKING:
    from binding.ingest import IngestContext

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Asked to stop while waiting for the store: leave, acknowledging nothing more."""


@dataclass
class _Held:
    """A stream this consumer holds the lease of."""

    keys: StreamKeys
    windows: StreamWindows
    last_id: bytes  # the last entry id this consumer saw (for the blocking wait)


class StreamConsumer:
    """Reads streams as one consumer of a group, embeds their windows, stores, acknowledges.

    `context` has `model`, `encoder`, `store` and, optionally, `media` (an `Engine` has all of
    them; the store is opened on first use, so a standby consumer does not touch it).

    Each stream is read by one consumer at a time: the holder of its lease, renewed every
    `lease_s / 3` seconds. A consumer takes free streams up to its share (streams / live
    consumers). When it takes a stream, XAUTOCLAIM hands it every entry still pending in
    the group (the last holder died, or let go), and those rebuild the unfinished windows.
    """

    def __init__(
        self,
        redis_or_url: Any,
        context: IngestContext,
        *,
        group: str = DEFAULT_GROUP,
        name: str | None = None,
        streams: Sequence[str] | None = None,
        hop_s: float | None = None,
        lease_s: float = 30.0,
        read_count: int = 200,
        block_s: float = 1.0,
        max_deliveries: int = MAX_DELIVERIES,
        tags: Sequence[str] = (),
    ) -> None:
        if lease_s <= 0 or block_s <= 0:
            raise ValueError("lease_s and block_s must be positive")
        self.client = client_for(redis_or_url)
        self.context = context
        self.group = group
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
        self.streams = [check_stream_id(s) for s in streams] if streams else None
        self.hop_s = hop_s
        self.lease_ms = int(lease_s * 1000)
        self.read_count = max(1, int(read_count))
        self.block_ms = int(block_s * 1000)
        self.max_deliveries = int(max_deliveries)
        self.tags = clean_tags(list(tags))
        self.held: dict[str, _Held] = {}
        self.windows_stored = 0
        self._scripts = {
            name: self.client.register_script(body)
            for name, body in (
                ("read", READ_SCRIPT),
                ("claim", CLAIM_SCRIPT),
                ("ack", ACK_SCRIPT),
                ("dead", DEAD_SCRIPT),
                ("renew", RENEW_SCRIPT),
                ("release", RELEASE_SCRIPT),
            )
        }
        self._next_upkeep = 0.0
        self._stored: dict[str, int] = {}  # windows stored per stream since the last ack
        self._stop = threading.Event()
        # Leases are renewed by a thread too, so a long forward pass does not lose them; it
        # stops renewing if the loop has not come round for `stall_s` (a hung consumer).
        self._lock = threading.Lock()
        self._lost: set[str] = set()
        self._tick = time.monotonic()
        self.stall_s = max(10 * lease_s, 120.0)

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, idle_exit_s: float | None = None) -> None:
        """Consume until `stop` is set (or nothing arrived for `idle_exit_s` seconds).

        Redis or the store being unreachable is waited out with backoff and jitter; after a
        Redis error the consumer lets go of its streams and takes them again, so nothing it
        had read is left pending unseen. Any other error propagates: the process dies, and
        the entries it held are redelivered (and dead-lettered after `max_deliveries`).
        """
        self._stop = stop = stop or threading.Event()
        idle_since = time.monotonic()
        backoff = 0.5
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew_forever, args=(done,), name="binding-stream-lease", daemon=True
        )
        renewer.start()
        try:
            while not stop.is_set():
                self._tick = time.monotonic()
                try:
                    handled = self.step()
                    backoff = 0.5
                except _Stopped:
                    return
                except Exception as error:
                    if not is_transient(error):
                        raise
                    log.warning("stream consumer: %s; retrying in %.1f s", error, backoff)
                    self._let_go()
                    stop.wait(backoff * (0.5 + random.random()))
                    backoff = min(backoff * 2, 10.0)
                    continue
                now = time.monotonic()
                if handled:
                    idle_since = now
                elif idle_exit_s is not None and now - idle_since >= idle_exit_s:
                    return
        finally:
            done.set()
            renewer.join(timeout=5)
            self._let_go()

    def _renew_forever(self, done: threading.Event) -> None:
        while not done.wait(self.lease_ms / 3000):
            if time.monotonic() - self._tick > self.stall_s:
                continue  # the loop is stuck: let the leases lapse so others take over
            with contextlib.suppress(Exception):
                self._renew()

    def _renew(self) -> None:
        """Heartbeat, and renew every held lease; a lease someone else holds is noted lost."""
        now_ms = int(time.time() * 1000)
        self.client.zadd(CONSUMERS_KEY + self.group, {self.name: now_ms})
        with self._lock:
            streams = list(self.held)
        for stream in streams:
            renewed = self._scripts["renew"](
                keys=[stream_keys(stream).owner(self.group)], args=[self.name, self.lease_ms]
            )
            if not renewed:
                with self._lock:
                    self._lost.add(stream)

    def _let_go(self) -> None:
        """Forget every stream's state and give up its lease (best effort)."""
        with self._lock:
            held, self.held = self.held, {}
            self._lost.clear()
        self._stored.clear()
        self._next_upkeep = 0.0
        with contextlib.suppress(Exception):
            for entry in held.values():
                self._scripts["release"](keys=[entry.keys.owner(self.group)], args=[self.name])
            self.client.zrem(CONSUMERS_KEY + self.group, self.name)

    def step(self) -> int:
        """One round: keep leases, read what is new, store whole windows, acknowledge.
        Returns the number of entries handled (0: it waited up to `block_s`)."""
        if time.monotonic() >= self._next_upkeep:
            self._upkeep()
        if not self.held:
            time.sleep(min(self.block_ms / 1000, 0.5))
            return 0
        handled = 0
        windows: list[Window] = []
        for held in list(self.held.values()):
            raw = self._scripts["read"](
                keys=[held.keys.entries, held.keys.counts(self.group)],
                args=[self.group, self.name, self.read_count],
            )
            if raw:
                held.last_id = raw[-1][0]
                handled += len(raw)
                windows += self._feed(
                    held, [(entry_id, _pairs(values)) for entry_id, values in raw]
                )
        if windows:
            self._store(windows)
        self._acknowledge()
        if not handled:
            self._wait()
        return handled

    def _wait(self) -> None:
        """Block until one of the held streams has an entry after the last one seen."""
        timeout = max(1, min(self.block_ms, int((self._next_upkeep - time.monotonic()) * 1000)))
        streams = {held.keys.entries: held.last_id for held in self.held.values()}
        self.client.xread(streams, count=1, block=timeout)

    # -- leases ---------------------------------------------------------------------------

    def _upkeep(self) -> None:
        """Heartbeat, renew held leases, drop lost ones, take free streams up to our share."""
        live_key = CONSUMERS_KEY + self.group
        self._renew()
        self.client.zremrangebyscore(live_key, 0, int(time.time() * 1000) - 3 * self.lease_ms)
        with self._lock:
            lost, self._lost = self._lost, set()
            for stream in lost:
                log.warning("stream %s: lease lost; another consumer took it", stream)
                self.held.pop(stream, None)
                self._stored.pop(stream, None)
        wanted = self.streams or sorted(as_text(s) for s in self.client.smembers(REGISTRY_KEY))
        live = max(1, int(self.client.zcard(live_key)))
        share = -(-len(wanted) // live)
        for stream in wanted:
            if len(self.held) >= share:
                break
            if stream in self.held:
                continue
            keys = stream_keys(stream)
            if self.client.set(keys.owner(self.group), self.name, nx=True, px=self.lease_ms):
                self._take(keys)
        self._next_upkeep = time.monotonic() + min(self.lease_ms / 3000, 1.0)

    def _take(self, keys: StreamKeys) -> None:
        """Start reading a stream: make the group, claim what the last holder left pending."""
        import redis

        try:
            self.client.xgroup_create(keys.entries, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        modality = as_text(self.client.hget(keys.meta, "modality") or b"imu")
        held = _Held(keys, stream_windows(keys.stream, modality, hop_s=self.hop_s), b"0-0")
        with self._lock:
            self.held[keys.stream] = held
        log.info("stream %s: taken by %s", keys.stream, self.name)
        windows = self._recover(held)
        groups = {as_text(g["name"]): g for g in self.client.xinfo_groups(keys.entries)}
        last = groups.get(self.group, {}).get("last-delivered-id", b"0-0")
        held.last_id = last if isinstance(last, bytes) else str(last).encode()
        if windows:
            self._store(windows)
        self._acknowledge()

    def _recover(self, held: _Held) -> list[Window]:
        """XAUTOCLAIM every entry pending in the group (we hold the lease: their reader is
        gone), dead-letter those delivered too often, rebuild windows from the rest."""
        keys = held.keys
        cursor: Any = "0-0"
        claimed: list[tuple[Any, dict[Any, Any]]] = []
        while True:
            cursor, entries, _deleted = self._scripts["claim"](
                keys=[keys.entries, keys.counts(self.group)],
                args=[self.group, self.name, 0, cursor, 500],
            )
            claimed += [(entry_id, _pairs(values)) for entry_id, values in entries]
            if as_text(cursor) == "0-0":
                break
        if not claimed:
            return []
        deliveries = {
            as_text(row["message_id"]): int(row["times_delivered"])
            for row in self.client.xpending_range(
                keys.entries,
                self.group,
                min=claimed[0][0],
                max=claimed[-1][0],
                count=len(claimed) + 10,
                consumername=self.name,
            )
        }
        fresh = []
        for entry_id, values in claimed:
            times = deliveries.get(as_text(entry_id), 1)
            if times > self.max_deliveries:
                self._dead_letter(
                    keys,
                    as_text(entry_id),
                    values,
                    f"delivered {times} times without being acknowledged",
                    times,
                )
            else:
                fresh.append((entry_id, values))
        log.info("stream %s: claimed %d pending entries", keys.stream, len(claimed))
        return self._feed(held, fresh)

    def release_all(self) -> None:
        """Give up every lease (a clean stop): the next consumer claims what is pending."""
        self._let_go()

    # -- entries to windows to points -----------------------------------------------------

    def _feed(self, held: _Held, entries: Iterable[tuple[Any, dict[Any, Any]]]) -> list[Window]:
        windows: list[Window] = []
        for entry_id, values in entries:
            text_id = as_text(entry_id)
            try:
                entry = decode_entry(held.keys.stream, text_id, values)
                windows += held.windows.add(entry)
            except InputError as error:
                self._dead_letter(held.keys, text_id, values, error.reason, 1)
        return windows

    def _store(self, windows: list[Window]) -> None:
        """Embed and upsert (wait=True); a store that is down is retried until it is back."""
        result = embed_windows(
            self.context.encoder,
            self.context.model,
            windows,
            media=getattr(self.context, "media", None),
            tags=self.tags,
        )
        for window, reason in result.failed:
            held = self.held.get(window.stream)
            if held is not None and window.modality in FRAME_MODALITIES:
                for entry_id in window.entry_ids:
                    self._dead_letter(held.keys, entry_id, {}, reason, 1, window=window)
            else:
                log.warning("stream %s window %s: %s", window.stream, window.segment, reason)
        if not result.points:
            return
        backoff = 0.5
        while True:
            try:
                self.context.store.upsert(result.points, wait=True)
                break
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("store unavailable (%s); retrying in %.1f s", error, backoff)
                if self._stop.wait(backoff * (0.5 + random.random())):
                    raise _Stopped from error
                backoff = min(backoff * 2, 10.0)
        by_stream: dict[str, int] = {}
        for point in result.points:
            stream = point.payload["stream"]
            by_stream[stream] = by_stream.get(stream, 0) + 1
        for stream, count in by_stream.items():
            self._stored[stream] = self._stored.get(stream, 0) + count
        self.windows_stored += len(result.points)

    def _acknowledge(self) -> None:
        """XACK the entries whose windows are all stored, with the counts that go with them."""
        for stream, held in self.held.items():
            ids = held.windows.ackable()
            stored = self._stored.pop(stream, 0)
            incomplete, held.windows.incomplete = held.windows.incomplete, 0
            if not (ids or stored or incomplete):
                continue
            chunks = [ids[first : first + 1000] for first in range(0, len(ids), 1000)] or [[]]
            for number, chunk in enumerate(chunks):
                self._scripts["ack"](
                    keys=[held.keys.entries, held.keys.counts(self.group)],
                    args=[
                        self.group,
                        stored if number == 0 else 0,
                        incomplete if number == 0 else 0,
                        repr(time.time()),
                        *chunk,
                    ],
                )

    def _dead_letter(
        self,
        keys: StreamKeys,
        entry_id: str,
        values: dict[Any, Any],
        reason: str,
        deliveries: int,
        *,
        window: Window | None = None,
    ) -> None:
        """Move an entry to `binding:stream:<id>:dead` with its reason, and acknowledge it."""
        if not values:
            found = self.client.xrange(keys.entries, min=entry_id, max=entry_id)
            values = _pairs(found[0][1]) if found else {}
            if not values and window is not None and window.frame is not None:
                values = {b"x": window.frame}
        record: list[Any] = [
            "entry", entry_id, "reason", reason, "deliveries", deliveries,
            "consumer", self.name, "time", repr(time.time()),
        ]  # fmt: skip
        for key, value in values.items():
            record += [f"field:{as_text(key)}", value]
        log.warning("stream %s entry %s dead-lettered: %s", keys.stream, entry_id, reason)
        self._scripts["dead"](
            keys=[keys.entries, keys.counts(self.group), keys.dead],
            args=[self.group, entry_id, DEAD_MAXLEN, *record],
        )


def _pairs(values: Any) -> dict[Any, Any]:
    """Stream entry fields as a dict, from a Lua reply's flat list or redis-py's dict."""
    if isinstance(values, dict):
        return values
    items = list(values or [])
    return dict(zip(items[0::2], items[1::2], strict=True))
