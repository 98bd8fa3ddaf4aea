"""`binding stream ingest|publish|status`, run in-process with typer's CliRunner.

The commands come from `binding.cli_streams` (what `binding/cli.py` mounts as `stream`).
`stream ingest` needs no Redis: it windows a recording as a consumer would and stores the
windows in the embedded store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binding.api import Engine
from binding.cli import app
from binding.config import Settings
from binding.store.base import Filter


def write_csv(path: Path, seconds: float, rate: float = 400.0) -> Path:
    """An IMU CSV with a time column in seconds (what a phone logger writes)."""
    rng = np.random.default_rng(1)
    count = int(seconds * rate)
    lines = ["time_s,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"]
    for i in range(count):
        values = rng.normal(0, 0.3, 6) + np.array([0, 0, 9.81, 0, 0, 0])
        lines.append(f"{i / rate:.6f}," + ",".join(f"{v:.5f}" for v in values))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.timeout(120)
def test_stream_ingest_windows_a_recording_without_redis(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "desk walk.csv", 12.0)
    runner = CliRunner()
    result = runner.invoke(app, ["stream", "ingest", str(path), "--tag", "lab", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stream"] == "desk_walk"  # from the file name, made a safe id
    assert (report["windows"], report["incomplete"], report["rejected"]) == (3, 0, [])
    assert "random weights" in result.stderr

    again = runner.invoke(app, ["stream", "ingest", str(path), "--json"])
    assert json.loads(again.stdout)["ids"] == report["ids"]  # same recording, same points
    with Engine(tiny_settings) as engine:
        points = sorted(
            engine.store.scroll(filter=Filter(stream="desk_walk")), key=lambda p: p.payload["start"]
        )
        assert [(p.payload["start"], p.payload["end"]) for p in points] == [
            (0.0, 5.0), (5.0, 10.0), (10.0, 12.0),
        ]  # fmt: skip
        assert engine.store.count() == 3


def test_stream_ingest_names_a_bad_file(tiny_settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n1,2,3,4,5,oops\n")
    result = CliRunner().invoke(app, ["stream", "ingest", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and "'oops' is not a number" in result.stderr


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_stream_publish_then_status(tiny_settings: Settings, redis_server, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "wrist.csv", 6.0)
    runner = CliRunner()
    url = ["--redis", redis_server.url]
    published = runner.invoke(
        app, ["stream", "publish", str(path), "--stream", "wrist", "--maxlen", "20", *url, "--json"]
    )
    assert published.exit_code == 0, published.output
    report = json.loads(published.stdout)
    assert (report["stream"], report["entries"], report["readings"]) == ("wrist", 61, 2400)

    status = runner.invoke(app, ["stream", "status", *url, "--json"])
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)
    assert (row["stream"], row["modality"], row["produced"], row["maxlen"]) == (
        "wrist",
        "imu",
        61,
        20,
    )
    assert row["length"] <= 20 + 100 and row["lag_entries"] == 61 and row["balanced"]
    table = runner.invoke(app, ["stream", "status", *url])
    assert "wrist" in table.stdout

    bad = runner.invoke(app, ["stream", "publish", str(path), "--stream", "a:dead", *url])
    assert bad.exit_code == 1 and "stream id" in bad.stderr


def test_commands_that_need_redis_say_how_to_give_it(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "x.csv", 1.0)
    for argv in (["stream", "publish", str(path)], ["stream", "status"], ["worker", "streams"]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 1, argv
        assert "BINDING_BROKER_URL" in result.stderr
