"""R15: the stream producer rides out a Redis restart (issue 10 item 4, docs/reliability.md).

`binding stream publish --realtime` runs as a real process against a private redis-server
(append-only file on, fsync always) that the test kills and keeps down for 6 s in the middle
of the run. Every reading arrives, in order, exactly once: the entries' `n` run 0..N-1 without
gap or repeat, and the samples read back equal the recording. A second test fills the
producer's bounded buffer during an outage: the oldest entries are dropped, counted and
reported, the newest are sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from binding.streams import StreamProducer, stream_keys
from binding.streams.wire import Entry, as_text, decode_entry
from tests.distributed.celery_harness import REPO, wait_for
from tests.distributed.conftest import RedisServer, kill_group

pytestmark = [pytest.mark.integration]

RATE = 400.0
PER_ENTRY = 40  # samples per entry: 10 entries a second in real time
DOWN_S = 6.0


def _entries(server: RedisServer, stream: str) -> list[Entry]:
    """The stream's entries, decoded (a client of raw bytes: samples are binary)."""
    client = redis.Redis.from_url(server.url)
    try:
        rows = client.xrange(stream_keys(stream).entries)
    finally:
        client.close()
    return [decode_entry(stream, as_text(i), fields) for i, fields in rows]


@pytest.mark.timeout(120)
def test_r15_publish_survives_a_redis_restart(redis_server_aof: RedisServer, tmp_path: Path):
    server = redis_server_aof
    seconds = 14.0
    readings = np.random.default_rng(0).normal(size=(int(seconds * RATE), 6)).astype(np.float32)
    recording = tmp_path / "walk.npy"
    np.save(recording, readings)
    argv = [sys.executable, "-m", "binding.cli", "stream", "publish", str(recording)]
    argv += ["--rate", str(RATE), "--realtime", "--redis", server.url, "--json"]
    argv += ["--samples-per-entry", str(PER_ENTRY)]
    publisher = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        key = stream_keys("walk").entries
        wait_for(lambda: server.client().xlen(key) >= 20, 60, "entries before the outage")
        server.stop()  # SIGKILL: a crash
        time.sleep(DOWN_S)
        server.start()
        back = time.monotonic()
        before = server.client().xlen(key)
        wait_for(lambda: server.client().xlen(key) > before, 30, "entries after the outage")
        resumed_s = time.monotonic() - back
        out, err = publisher.communicate(timeout=60)
    finally:
        kill_group(publisher)
    assert publisher.returncode == 0, err.decode(errors="replace")
    report = json.loads(out)
    expected = len(readings) // PER_ENTRY + 1  # data entries and the end of the run
    assert (report["entries"], report["dropped"]) == (expected, 0), report
    assert report["reconnects"] >= 1 and report["readings"] == len(readings)
    entries = _entries(server, "walk")
    assert [e.seq for e in entries] == list(range(expected)), "a gap or a repeat in n"
    data = [e for e in entries if e.kind == "imu"]
    assert [e.index for e in data] == list(range(0, len(readings), PER_ENTRY))
    got = np.concatenate([e.samples for e in data])
    np.testing.assert_array_equal(got, readings)
    assert entries[-1].kind == "end" and entries[-1].index == len(readings)
    print(
        f"\nR15 Redis down {DOWN_S:.0f} s under `stream publish --realtime`: "
        f"{expected} entries, lost 0, repeated 0; entries flowed again {resumed_s:.1f} s after "
        f"Redis was back"
    )


@pytest.mark.timeout(60)
def test_a_full_buffer_drops_the_oldest_entries_and_counts_them(redis_server: RedisServer):
    server = redis_server
    readings = np.random.default_rng(1).normal(size=(30 * PER_ENTRY, 6)).astype(np.float32)
    producer = StreamProducer(
        server.url,
        "drops",
        rate=RATE,
        samples_per_entry=PER_ENTRY,
        batch=1,
        buffer_bytes=8 * 1100,  # about 8 entries of 40 samples
        end_timeout=30,
    )
    server.stop()
    producer.send(readings)  # 30 entries while Redis is down
    assert producer.dropped > 0
    server.start()  # no AOF: an empty Redis, the producer registers the stream again
    report = producer.end()
    entries = _entries(server, "drops")
    assert report.dropped == producer.dropped and report.reconnects == 1
    assert len(entries) == report.entries == 30 + 1 - report.dropped
    data = [e for e in entries if e.kind == "imu"]
    first = report.dropped * PER_ENTRY  # the oldest went, the newest stayed
    assert [e.index for e in data] == list(range(first, len(readings), PER_ENTRY))
    np.testing.assert_array_equal(np.concatenate([e.samples for e in data]), readings[first:])
    assert as_text(server.client().hget(stream_keys("drops").meta, "modality")) == "imu"
    print(
        f"\nfull producer buffer (8 entries) while Redis was down: 30 entries sent, "
        f"{report.dropped} oldest dropped and reported, {len(data)} newest delivered"
    )
