"""The recent samples of a stream (`read_tail`), read from a private Redis: bounded by the
stream's cap, in time order, the right values, bad entries skipped (issue 13, item 22)."""

from __future__ import annotations

import numpy as np

from binding.streams import publish_readings
from binding.streams.keys import stream_keys
from binding.streams.tail import read_tail


def test_tail_is_the_newest_samples_bounded_by_the_cap(redis_server) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    rate, start = 100.0, 1_700_000_000.0
    readings = np.random.default_rng(0).standard_normal((2_000, 6)).astype(np.float32)  # 20 s
    publish_readings(
        client, "wrist", readings, rate=rate, start_time=start, maxlen=10, approximate=False
    )
    tail = read_tail(client, "wrist", seconds=60)
    # the stream keeps its last 10 entries (9 of readings, then the run's end): 360 samples
    assert tail.samples.shape == (360, 6) and tail.skipped == 0
    np.testing.assert_array_equal(tail.samples, readings[-360:])
    np.testing.assert_allclose(tail.times, start + np.arange(2_000 - 360, 2_000) / rate)
    assert (np.diff(tail.times) > 0).all()

    short = read_tail(client, "wrist", seconds=1.0)
    assert short.times[-1] - short.times[0] <= 1.0 and len(short.times) == 101

    client.xadd(stream_keys("wrist").entries, {"v": "1", "kind": "imu", "run": "r", "i": "x"})
    assert read_tail(client, "wrist").skipped == 1
    assert read_tail(client, "nothing-here").empty
