"""The Streams page plots a stream's live signal, read from its capped Redis stream, with
the windows shaded and the matches marked (issue 13, item 22). A private redis-server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.dashboard.helpers import STREAM, assert_clean, open_page


@pytest.fixture
def live_env(empty_env: Path, monkeypatch: pytest.MonkeyPatch, media_folder, tiny_encoder):
    """An empty collection with the stream `wrist` in it, and the stream's recent samples in
    a private Redis named by BINDING_BROKER_URL."""
    from binding.api import Engine
    from binding.config import Settings
    from binding.streams import publish_readings
    from tests.dashboard.helpers import add_stream
    from tests.distributed.conftest import REDIS_SERVER, RedisServer

    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    start = time.time() - 60
    settings = Settings(_env_file=None)
    with Engine(settings, encoder=tiny_encoder) as engine:
        add_stream(engine, STREAM, media_folder, start=start)
    server = RedisServer(empty_env / "redis")
    server.start()
    try:
        readings = np.random.default_rng(0).standard_normal((12 * 50, 6)).astype(np.float32)
        publish_readings(server.url, STREAM, readings, rate=50.0, start_time=start)
        monkeypatch.setenv("BINDING_BROKER_URL", server.url)
        yield server
    finally:
        server.stop()


def test_streams_page_plots_the_live_signal(live_env) -> None:
    at = open_page("streams")
    assert_clean(at)
    assert any(h.value == "Live signal" for h in at.subheader)
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    layered = [c for c in charts if "layer" in c]
    assert len(layered) == 2  # accelerometer, gyroscope: each the signal over the windows
    assert any("capped" in c.value for c in at.caption)
