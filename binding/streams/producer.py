"""The producer: appends entries to a stream (bounded, counted) from readings or recordings."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from binding.errors import InputError
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
from binding.streams.scripts import PRODUCE_SCRIPT, client_for
from binding.streams.wire import as_text, encode_end_entry, encode_frame_entry, encode_imu_entry


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StreamProducer:
    """Writes one sensor's readings to its stream, bounded to `maxlen` entries.

    IMU readings are buffered into entries of `samples_per_entry` samples; frames go one per
    entry. `end()` writes the rest and the entry that ends the run (which lets the consumer
    embed the last, partial window). Writes are pipelined `batch` entries at a time; with
    `realtime`, each entry is sent when its last reading is due (`rate` per second).
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
    ) -> None:
        self.client = client_for(redis_or_url)
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
        self._script = self.client.register_script(PRODUCE_SCRIPT)
        self._pipe = self.client.pipeline(transaction=False)
        self._queued = 0
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
        args: list[Any] = [self.maxlen, "~" if self.approximate else "="]
        for key, value in fields.items():
            args += [key, value]
        self._script(keys=[self.keys.entries, self.keys.meta], args=args, client=self._pipe)
        self._queued += 1
        if self.realtime or self._queued >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Send what is queued (whole entries only; a partial entry waits for `end`)."""
        if not self._queued:
            return
        results = self._pipe.execute()
        self._queued = 0
        for seq, _ in results:
            self._first = int(seq) if self._first is None else self._first
            self._last = int(seq)
        self._entries += len(results)

    def end(self) -> PublishReport:
        """Send the last, partial entry and the end of the run; returns what was written."""
        if not self._ended:
            if self._buffered:
                self._emit_samples(self._buffered)
            self._queue(encode_end_entry(self.run, self._index), due=self._index / self.rate)
            self.flush()
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
