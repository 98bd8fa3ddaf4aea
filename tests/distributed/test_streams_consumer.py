"""The stream consumer in this process against a private redis-server, with the tiny model.

What is checked: windows stored once with the ids embedded mode gives, the books
(`produced == processed + dropped + dead`) exact when Redis trims unread and pending
entries, dead letters for entries delivered too often and for frames that do not decode,
and the lag the status reports. The crash tests with real processes are in
`test_streams_faults.py`.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from binding.api import Engine
from binding.config import Settings
from binding.streams import (
    READ_SCRIPT,
    StreamProducer,
    WindowGrid,
    dead_letters,
    ingest_recording,
    publish_readings,
    publish_recording,
    read_recording,
    stream_keys,
    stream_status,
    window_identity,
)
from workers.streams import StreamConsumer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RATE = 400.0


def readings(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(0, 0.5, size=(count, 6)).astype(np.float32)
    rows[:, 2] += 9.81
    return rows


def consume(url: str, engine: Engine, **options) -> StreamConsumer:
    consumer = StreamConsumer(url, engine, lease_s=2.0, block_s=0.2, **options)
    consumer.run(idle_exit_s=1.0)
    return consumer


def raw_client(server):  # type: ignore[no-untyped-def]
    """A client that returns bytes (entries carry packed samples)."""
    import redis

    return redis.Redis.from_url(server.url)


def ghost_read(server, stream: str, count: int) -> list:
    """Read entries as a consumer named `ghost` would, then 'crash' (never acknowledge)."""
    client = raw_client(server)
    keys = stream_keys(stream)
    client.xgroup_create(keys.entries, "binding", id="0", mkstream=True)
    script = client.register_script(READ_SCRIPT)
    return script(keys=[keys.entries, keys.counts("binding")], args=["binding", "ghost", count])


def test_a_published_recording_is_stored_once_with_the_ids_embedded_mode_gives(
    redis_server, tiny_engine: Engine, tiny_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "walk.npy"
    np.save(path, readings(9200).T)  # 23 s at 400 Hz, (6, T)
    report = publish_recording(redis_server.url, [path], stream="walk", start_time=1000.0)
    assert (report.entries, report.readings) == (231, 9200)  # 230 entries of 40 + the end

    consume(redis_server.url, tiny_engine, tags=["lab"])
    (status,) = stream_status(redis_server.url)
    assert (status.produced, status.processed, status.dropped, status.dead) == (231, 231, 0, 0)
    assert (status.pending, status.lag_entries, status.windows) == (0, 0, 5)
    assert status.balanced and status.owner is None

    stored = {p.id: p for p in tiny_engine.store.scroll(with_vectors=True)}
    run = read_recording([path]).run
    spans = WindowGrid.for_imu(RATE).spans(9200)
    assert spans[-1] == (8000, 9200)  # the 3 s tail, zero-padded
    for start, end in spans:
        payload = next(p.payload for p in stored.values() if p.payload["first_sample"] == start)
        assert payload["stream"] == "walk" and payload["source"] == "stream:walk"
        assert (payload["start"], payload["end"]) == (start / RATE, end / RATE)
        assert payload["time"] == pytest.approx(1000.0 + start / RATE)
        assert payload["sha256"] == window_identity("walk", "imu", run, start, end)
        assert payload["tags"] == ["lab"] and payload["modality"] == "imu"

    other = Settings(**{**tiny_settings.model_dump(), "data_dir": tmp_path / "embedded"})
    with Engine(other, encoder=tiny_engine.encoder) as embedded:
        alone = ingest_recording(embedded, [path], stream="walk")
        assert sorted(alone.ids) == sorted(stored)
        for point in embedded.store.retrieve(alone.ids):
            np.testing.assert_allclose(point.vector, stored[point.id].vector, atol=1e-5)


def test_entries_trimmed_before_anyone_read_them_are_counted_as_dropped(
    redis_server, tiny_engine: Engine
) -> None:
    report = publish_readings(
        redis_server.url, "fast", readings(40_000), rate=RATE, maxlen=100, approximate=False
    )
    assert report.entries == 1001
    assert raw_client(redis_server).xlen(stream_keys("fast").entries) == 100

    consume(redis_server.url, tiny_engine)
    (status,) = stream_status(redis_server.url)
    assert (status.produced, status.processed, status.dropped) == (1001, 100, 901)
    assert status.balanced and status.lag_entries == 0
    # the first entry it got starts at sample 36,040: windows before 38,000 are not attempted
    assert (status.windows, status.windows_incomplete) == (1, 0)
    (point,) = tiny_engine.store.scroll()
    assert (point.payload["first_sample"], point.payload["samples"]) == (38_000, 2000)


def test_pending_entries_trimmed_before_they_were_claimed_are_counted_as_dropped(
    redis_server, tiny_engine: Engine
) -> None:
    producer = StreamProducer(redis_server.url, "wrist", rate=RATE, run="r1")
    producer.send(readings(8000))  # 200 entries
    producer.flush()
    assert len(ghost_read(redis_server, "wrist", 50)[0:]) == 50  # the ghost dies holding 50
    raw_client(redis_server).xtrim(stream_keys("wrist").entries, maxlen=170, approximate=False)
    producer.end()  # 30 pending entries trimmed; 20 pending and 150 unread remain, + end

    consume(redis_server.url, tiny_engine)
    (status,) = stream_status(redis_server.url)
    assert (status.produced, status.processed, status.dropped, status.dead) == (201, 171, 30, 0)
    assert status.balanced and status.pending == 0
    assert status.windows == 3 and status.windows_incomplete == 0  # [2000, 8000): whole


def test_an_entry_delivered_too_often_is_dead_lettered_with_its_reason(
    redis_server, tiny_engine: Engine
) -> None:
    publish_readings(redis_server.url, "knee", readings(4000), rate=RATE, run="r1")
    read = ghost_read(redis_server, "knee", 10)
    ids = [entry_id.decode() for entry_id, _ in read]
    client = raw_client(redis_server)
    # three deliveries so far, each ending in a crash: the next claim is the fourth
    client.xclaim(stream_keys("knee").entries, "binding", "ghost", 0, ids, retrycount=3)

    consume(redis_server.url, tiny_engine)
    (status,) = stream_status(redis_server.url)
    assert (status.produced, status.processed, status.dead, status.dropped) == (101, 91, 10, 0)
    assert status.balanced and status.dead_letters == 10
    # the first entry left starts at sample 400, inside window [0, 2000): as after a crash,
    # the consumer starts at the next window, [2000, 4000)
    assert (status.windows, status.windows_incomplete) == (1, 0)
    letters = dead_letters(redis_server.url, "knee")
    assert sorted(letter["entry"] for letter in letters) == sorted(ids)
    assert {letter["reason"] for letter in letters} == {
        "delivered 4 times without being acknowledged"
    }
    # the dead letter keeps the entry, to replay it by hand
    raw = client.xrange(stream_keys("knee").dead, count=1)[0][1]
    assert raw[b"field:kind"] == b"imu" and int(raw[b"field:c"]) == 40


def _png(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_thermal_frames_are_one_point_each_and_a_corrupt_frame_is_dead_lettered(
    redis_server, tiny_engine: Engine
) -> None:
    rng = np.random.default_rng(3)
    frames = [_png(rng.integers(0, 255, size=(48, 64))) for _ in range(3)]
    producer = StreamProducer(redis_server.url, "cam", "thermal", rate=2.0, start_time=50.0)
    producer.send_frame(frames[0])
    producer.send_frame(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "png")  # truncated PNG
    producer.send_frame(frames[1])
    producer.send_frame(frames[2])
    producer.end()

    consume(redis_server.url, tiny_engine)
    (status,) = stream_status(redis_server.url)
    assert (status.produced, status.processed, status.dead, status.windows) == (5, 4, 1, 3)
    assert status.balanced
    (letter,) = dead_letters(redis_server.url, "cam")
    assert letter["reason"]  # the decoder's own words
    points = sorted(tiny_engine.store.scroll(), key=lambda p: p.payload["first_sample"])
    assert [p.payload["first_sample"] for p in points] == [0, 2, 3]
    assert [p.payload["time"] for p in points] == [50.0, 51.0, 51.5]
    for point in points:
        assert point.payload["modality"] == "thermal" and point.payload["media"]
        assert tiny_engine.media.find(point.payload["sha256"]) is not None  # previewable


def test_status_shows_the_lag_in_entries_and_seconds(redis_server, tiny_engine: Engine) -> None:
    publish_readings(redis_server.url, "hip", readings(2000), rate=RATE)
    time.sleep(0.3)
    (before,) = stream_status(redis_server.url)
    assert before.lag_entries == before.undelivered == before.produced == 51
    assert before.lag_seconds >= 0.3 and before.balanced

    consume(redis_server.url, tiny_engine)
    (after,) = stream_status(redis_server.url)
    assert (after.lag_entries, after.lag_seconds, after.processed) == (0, 0.0, 51)
