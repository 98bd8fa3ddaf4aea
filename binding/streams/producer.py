"""The producer: appends entries to a stream (bounded, counted) from readings or recordings.

It rides out a Redis restart: entries wait in a bounded in-memory buffer while Redis is
unreachable and are sent, in order and once each, when it answers again (reconnecting with
backoff). When the buffer is full the *oldest* waiting entries are dropped (a sensor's newest
readings matter most); `PublishReport.dropped` counts them. See docs/streams.md.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binding.errors import BindingError, InputError
from binding.modality import Modality, parse_modality
from binding.streams.keys import (
    DEFAULT_MAXLEN,
    FRAME_MODALITIES,
    REGISTRY_KEY,
    SAMPLES_PER_ENTRY,
    STREAM_MODALITIES,
    WIRE_VERSION,
    stream_id_for,
    stream_keys,
)
from binding.streams.replay import frame_format, read_recording
from binding.streams.scripts import PRODUCE_SCRIPT, connect
from binding.streams.wire import as_text, encode_end_entry, encode_frame_entry, encode_imu_entry
from binding.transient import is_transient

log = logging.getLogger(__name__)

#: Bytes of entries a producer keeps while Redis is unreachable (64 MiB: about 60,000 IMU
#: entries of 40 samples, 100 minutes at 400 Hz); beyond it the oldest are dropped.
BUFFER_BYTES = 64 * 1024 * 1024

#: How long `end()` keeps trying to send what is buffered before it gives up (seconds).
END_TIMEOUT_S = 120.0

#: Reconnection backoff: first wait and cap (seconds), doubling in between.
RECONNECT_FIRST_S = 0.1
RECONNECT_CAP_S = 2.0

#: Prefix of the key holding the last index a producer wrote (one per producer, 1 day).
WRITER_KEY = "binding:stream-writer:"
WRITER_TTL_S = 24 * 3600


@dataclass(frozen=True)
class PublishReport:
    """What a producer wrote: entries (end marker included), readings, and the time it took."""

    stream: str
    run: str
    entries: int
    readings: int
    seconds: float
    first_seq: int | None
    last_seq: int | None
    dropped: int = 0  # entries dropped from a full buffer while Redis was unreachable
    reconnects: int = 0  # times Redis answered again after being unreachable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StreamProducer:
    """Writes one sensor's readings to its stream, bounded to `maxlen` entries.

    IMU readings are buffered into entries of `samples_per_entry` samples; frames go one per
    entry. `end()` writes the rest and the entry that ends the run (which lets the consumer
    embed the last, partial window). Writes are pipelined `batch` entries at a time; with
    `realtime`, each entry is sent when its last reading is due (`rate` per second).

    While Redis is unreachable, entries wait in memory (at most `buffer_bytes`; when full,
    the oldest are dropped and counted) and are sent once Redis answers, retried with
    backoff; each entry is written once even when a reply was lost. `end()` tries for
    `end_timeout` seconds, then raises `BindingError` saying how many entries were not sent.
    """

    def __init__(
        self,
        redis_or_url: Any,
        stream: str,
        modality: Modality | str = Modality.IMU,
        *,
        rate: float,
        run: str | None = None,
        maxlen: int | None = None,
        approximate: bool = True,
        samples_per_entry: int = SAMPLES_PER_ENTRY,
        start_time: float | None = None,
        realtime: bool = False,
        batch: int = 100,
        buffer_bytes: int = BUFFER_BYTES,
        end_timeout: float = END_TIMEOUT_S,
    ) -> None:
        if isinstance(redis_or_url, str) or redis_or_url is None:
            # Short timeouts: a dead connection is noticed and buffered for, never waited on.
            self.client = connect(redis_or_url, socket_connect_timeout=2, socket_timeout=10)
        else:
            self.client = redis_or_url
        self.keys = stream_keys(stream)
        self.modality = parse_modality(str(modality))
        if self.modality not in STREAM_MODALITIES:
            raise InputError(
                f"stream {stream}", f"streams carry imu, thermal or depth, not {self.modality}"
            )
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, got {rate}")
        self.rate = float(rate)
        self.run = run or os.urandom(8).hex()
        self.maxlen = DEFAULT_MAXLEN[self.modality] if maxlen is None else int(maxlen)
        if self.maxlen < 1:
            raise ValueError(f"maxlen must be at least 1 entry, got {maxlen}")
        self.approximate = approximate
        self.samples_per_entry = max(1, int(samples_per_entry))
        self.start_time = time.time() if start_time is None else float(start_time)
        self.realtime = realtime
        self.batch = max(1, int(batch))
        self.buffer_bytes = max(1, int(buffer_bytes))
        self.end_timeout = float(end_timeout)
        self._script = self.client.register_script(PRODUCE_SCRIPT)
        self._writer = f"{WRITER_KEY}{self.keys.stream}:{os.urandom(8).hex()}"
        # Entries not written yet: (script arguments, size in bytes), oldest first.
        self._pending: deque[tuple[list[Any], int]] = deque()
        self._pending_bytes = 0
        self.dropped = 0
        self.reconnects = 0
        self._down_since: float | None = None  # monotonic time Redis stopped answering
        self._retry_at = 0.0
        self._backoff = RECONNECT_FIRST_S
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._index = 0  # next sample (frame) index of the run
        self._entries = 0
        self._first: int | None = None
        self._last: int | None = None
        self._wall0 = time.monotonic()
        self._ended = False
        self._register()

    def _register(self) -> None:
        meta = self.keys.meta
        self.client.sadd(REGISTRY_KEY, self.keys.stream)
        self.client.hsetnx(meta, "modality", self.modality.value)
        found = as_text(self.client.hget(meta, "modality"))
        if found != self.modality.value:
            raise InputError(f"stream {self.keys.stream}", f"carries {found}, not {self.modality}")
        self.client.hset(
            meta, mapping={"v": WIRE_VERSION, "rate": repr(self.rate), "maxlen": self.maxlen}
        )

    def send(self, readings: np.ndarray) -> None:
        """Queue IMU readings, (T, 6): one row per sample, acc x y z then gyro x y z."""
        rows = np.asarray(readings, dtype=np.float32)
        if self.modality is not Modality.IMU or rows.ndim != 2 or rows.shape[1] != 6:
            raise ValueError(f"send() takes IMU readings of shape (T, 6), got {rows.shape}")
        if not np.isfinite(rows).all():
            raise InputError(f"stream {self.keys.stream}", "NaN or infinity in the readings")
        self._buffer.append(rows)
        self._buffered += rows.shape[0]
        while self._buffered >= self.samples_per_entry:
            self._emit_samples(self.samples_per_entry)

    def send_frame(self, frame: bytes, fmt: str | None = None) -> None:
        """Queue one encoded frame (PNG, TIFF, JPEG or `.npy` bytes)."""
        if self.modality not in FRAME_MODALITIES:
            raise ValueError("send_frame() is for thermal and depth streams")
        fields = encode_frame_entry(
            self.modality,
            self.run,
            self._index,
            self.start_time + self._index / self.rate,
            self.rate,
            frame,
            fmt or frame_format(frame),
        )
        self._index += 1
        self._queue(fields, due=(self._index - 1) / self.rate)

    def _emit_samples(self, count: int) -> None:
        rows = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        chunk, rest = rows[:count], rows[count:]
        self._buffer = [rest] if rest.shape[0] else []
        self._buffered = rest.shape[0]
        fields = encode_imu_entry(
            self.run, self._index, self.start_time + self._index / self.rate, self.rate, chunk
        )
        self._index += chunk.shape[0]
        self._queue(fields, due=self._index / self.rate)

    def _queue(self, fields: dict[str, str | bytes], *, due: float) -> None:
        if self.realtime:
            wait = self._wall0 + due - time.monotonic()
            if wait > 0:
                self.flush()
                time.sleep(wait)
        args: list[Any] = [
            self.maxlen,
            "~" if self.approximate else "=",
            int(fields["i"]),
            WRITER_TTL_S,
        ]
        size = 0
        for key, value in fields.items():
            args += [key, value]
            size += len(key) + len(value)
        self._pending.append((args, size))
        self._pending_bytes += size
        while self._pending_bytes > self.buffer_bytes and len(self._pending) > 1:
            _, old = self._pending.popleft()  # the oldest entry goes: the policy when full
            self._pending_bytes -= old
            self.dropped += 1
        if self.realtime or len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> bool:
        """Send the entries waiting (whole entries only; a partial entry waits for `end`).

        True when nothing is left waiting. While Redis is unreachable this returns False
        at once (the entries stay buffered) until the next reconnection attempt is due.
        """
        if not self._pending:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            if self._down_since is not None:
                self._register()  # Redis is back (a restart without AOF forgets the meta)
            pipe = self.client.pipeline(transaction=False)
            for args, _ in self._pending:
                self._script(
                    keys=[self.keys.entries, self.keys.meta, self._writer], args=args, client=pipe
                )
            results = pipe.execute()
        except Exception as error:
            if not is_transient(error):
                raise
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
                log.warning("stream %s: Redis unreachable (%s); buffering", self.keys.stream, error)
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, RECONNECT_CAP_S)
            return False
        if self._down_since is not None:
            self.reconnects += 1
            log.warning(
                "stream %s: Redis answers again after %.1f s; %d entries sent",
                self.keys.stream,
                time.monotonic() - self._down_since,
                len(results),
            )
            self._down_since = None
        self._backoff = RECONNECT_FIRST_S
        self._pending.clear()
        self._pending_bytes = 0
        for seq, _ in results:
            if int(seq) >= 0:  # -1: written before, its reply lost
                self._first = int(seq) if self._first is None else self._first
                self._last = int(seq)
        self._entries += len(results)
        return True

    def end(self) -> PublishReport:
        """Send the last, partial entry and the end of the run; returns what was written.

        Waits up to `end_timeout` seconds for Redis when it is unreachable; then raises
        `BindingError` with the number of entries not sent.
        """
        if not self._ended:
            if self._buffered:
                self._emit_samples(self._buffered)
            self._queue(encode_end_entry(self.run, self._index), due=self._index / self.rate)
            deadline = time.monotonic() + self.end_timeout
            while not self.flush():
                if time.monotonic() > deadline:
                    raise BindingError(
                        f"stream {self.keys.stream}: Redis unreachable for {self.end_timeout:.0f}"
                        f" s; {len(self._pending)} entries not sent ({self.dropped} dropped "
                        "earlier from the full buffer)"
                    )
                time.sleep(max(0.01, self._retry_at - time.monotonic()))
            self._ended = True
        return self.report()

    def report(self) -> PublishReport:
        """What has been sent so far."""
        return PublishReport(
            self.keys.stream,
            self.run,
            self._entries,
            self._index - self._buffered,
            round(time.monotonic() - self._wall0, 6),
            self._first,
            self._last,
            self.dropped,
            self.reconnects,
        )


def publish_readings(
    redis_or_url: Any,
    stream: str,
    readings: np.ndarray,
    *,
    rate: float,
    run: str | None = None,
    maxlen: int | None = None,
    approximate: bool = True,
    samples_per_entry: int = SAMPLES_PER_ENTRY,
    start_time: float | None = None,
    realtime: bool = False,
    end: bool = True,
) -> PublishReport:
    """Publish IMU readings, (T, 6) at `rate` Hz, to `stream`; with `end`, close the run."""
    producer = StreamProducer(
        redis_or_url,
        stream,
        Modality.IMU,
        rate=rate,
        run=run,
        maxlen=maxlen,
        approximate=approximate,
        samples_per_entry=samples_per_entry,
        start_time=start_time,
        realtime=realtime,
    )
    producer.send(readings)
    if end:
        return producer.end()
    producer.flush()
    return PublishReport(
        stream,
        producer.run,
        producer._entries,
        producer._index - producer._buffered,
        0.0,
        producer._first,
        producer._last,
        producer.dropped,
        producer.reconnects,
    )


def publish_recording(
    redis_or_url: Any,
    sources: Sequence[Path | str],
    *,
    stream: str | None = None,
    modality: Modality | str = Modality.IMU,
    rate: float | None = None,
    realtime: bool = False,
    maxlen: int | None = None,
    samples_per_entry: int = SAMPLES_PER_ENTRY,
    start_time: float | None = None,
) -> PublishReport:
    """Replay a recording (see `read_recording`) into a stream: the simulator for demos and
    tests. The stream id defaults to the file's stem; the run id is the recording's hash, so
    its windows get the same point ids as `ingest_recording` of the same file."""
    recording = read_recording(sources, modality=modality, rate=rate)
    producer = StreamProducer(
        redis_or_url,
        stream or stream_id_for(sources[0]),
        recording.modality,
        rate=recording.rate,
        run=recording.run,
        maxlen=maxlen,
        samples_per_entry=samples_per_entry,
        start_time=start_time,
        realtime=realtime,
    )
    if recording.readings is not None:
        step = producer.samples_per_entry * producer.batch
        for first in range(0, recording.readings.shape[0], step):
            producer.send(recording.readings[first : first + step])
    else:
        for frame, fmt in recording.frames:
            producer.send_frame(frame, fmt)
    return producer.end()
