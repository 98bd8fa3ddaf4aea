"""R4: the Celery configuration, its start-up guard, and JSON as the only content type.

These need no worker; the tests that look at raw messages use a private redis-server.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from binding.config import Settings
from binding.errors import ConfigurationError, InputError
from binding.executor import (
    MAX_QUERY_INPUT_BYTES,
    InProcessExecutor,
    QueueExecutor,
    decode_query_input,
    executor_for,
    query_input,
)
from binding.modality import Modality
from tests.distributed.conftest import RedisServer
from workers.config import (
    EMBED_FILES_TASK,
    VISIBILITY_MARGIN_S,
    celery_config,
    check_limits,
    query_time_limits,
)


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {"broker_url": "redis://127.0.0.1:1/0", "data_dir": "/nonexistent"}
    return Settings(**{**base, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hard", "visibility", "ok"),
    [(600, 900, True), (60, 91, True), (60, 90, False), (60, 60, False), (900, 900, False)],
)
def test_guard_refuses_hard_limit_plus_30s_at_or_above_visibility(
    hard: int, visibility: int, ok: bool
) -> None:
    settings = _settings(
        task_time_limit=hard, task_soft_time_limit=hard - 1, visibility_timeout=visibility
    )
    if ok:
        check_limits(settings)
        assert celery_config(settings)["broker_transport_options"]["visibility_timeout"] == (
            visibility
        )
        return
    with pytest.raises(ConfigurationError) as caught:
        celery_config(settings)
    message = str(caught.value)
    assert "BINDING_TASK_TIME_LIMIT" in message and "BINDING_VISIBILITY_TIMEOUT" in message
    assert f"at least {hard + VISIBILITY_MARGIN_S + 1}" in message


def test_guard_refuses_soft_limit_not_below_hard() -> None:
    with pytest.raises(ConfigurationError, match="SOFT_TIME_LIMIT"):
        check_limits(_settings(task_time_limit=100, task_soft_time_limit=100))


def test_config_is_json_only_and_at_least_once() -> None:
    conf = celery_config(_settings())
    assert conf["accept_content"] == ["json"] and conf["result_accept_content"] == ["json"]
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["event_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert (conf["task_time_limit"], conf["task_soft_time_limit"]) == (600, 540)
    assert conf["broker_transport_options"]["unacked_restore_throttle"] == 1
    assert "worker_max_tasks_per_child" not in conf  # never reload the model per task


def test_config_needs_a_redis_or_rabbitmq_broker() -> None:
    with pytest.raises(ConfigurationError, match="BINDING_BROKER_URL"):
        celery_config(_settings(broker_url=None))
    with pytest.raises(ConfigurationError, match="Redis URL .* or a RabbitMQ URL"):
        celery_config(_settings(broker_url="sqs://key@queue"))
    with pytest.raises(ConfigurationError, match="set BINDING_REDIS_URL"):
        celery_config(_settings(broker_url="amqp://guest@localhost//"))


def test_rabbitmq_broker_keeps_records_in_redis_and_needs_no_visibility_timeout() -> None:
    amqp = "amqp://guest:guest@localhost:5672//"
    config = celery_config(
        _settings(broker_url=amqp, redis_url="redis://localhost:6379/0", visibility_timeout=1)
    )
    assert config["broker_url"] == amqp
    assert config["result_backend"] == "redis://localhost:6379/0"
    assert "visibility_timeout" not in config["broker_transport_options"]
    assert config["broker_heartbeat"] == 20 and config["task_acks_late"]
    with pytest.raises(ConfigurationError, match="consumer_timeout"):
        celery_config(
            _settings(
                broker_url=amqp,
                redis_url="redis://localhost:6379/0",
                task_time_limit=3600,
                task_soft_time_limit=3500,
            )
        )


def test_query_limits_never_exceed_task_limits() -> None:
    assert query_time_limits(_settings()) == (30, 40)
    small = _settings(task_time_limit=8, task_soft_time_limit=6, visibility_timeout=40)
    assert query_time_limits(small) == (6, 8)


def test_worker_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app `binding worker` runs is configured from BINDING_* on first use."""
    from celery import Celery

    from workers.celery_app import _settings_config

    monkeypatch.setenv("BINDING_BROKER_URL", "redis://127.0.0.1:1/5")
    monkeypatch.setenv("BINDING_VISIBILITY_TIMEOUT", "1234")
    app = Celery("probe", set_as_current=False)
    app.add_defaults(_settings_config)
    assert app.conf.broker_url == "redis://127.0.0.1:1/5"
    assert app.conf.accept_content == ["json"]
    assert app.conf.broker_transport_options["visibility_timeout"] == 1234


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"BINDING_VISIBILITY_TIMEOUT": "600"}, [], "BINDING_VISIBILITY_TIMEOUT (600 s)"),
        ({}, ["--concurrency", "2"], "BINDING_QDRANT_URL"),
        ({}, ["--queues", "embed,gpu"], "unknown queue(s) gpu"),
        ({}, ["--pool", "gevent"], "unknown pool"),
        ({"BINDING_BROKER_URL": ""}, [], "needs BINDING_BROKER_URL"),
    ],
)
def test_binding_worker_refuses_to_start(
    env: dict[str, str],
    args: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`binding worker` exits with status 1 and says why, before any worker starts."""
    from workers.cli import worker_app

    monkeypatch.chdir(tmp_path)
    for name in ("BINDING_QDRANT_URL", "BINDING_TASK_TIME_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BINDING_BROKER_URL", "redis://127.0.0.1:1/0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(worker_app, args)
    assert result.exit_code == 1, result.output
    assert expected in result.output


def test_executor_follows_the_broker_setting(tmp_path: Path) -> None:
    from binding.api import Engine

    local = Settings(broker_url=None, data_dir=tmp_path)
    assert isinstance(executor_for(Engine(local)), InProcessExecutor)
    queued = executor_for(Engine(_settings()))
    assert isinstance(queued, QueueExecutor)
    queued.close()


def test_query_inputs_travel_as_json(tmp_path: Path) -> None:
    image = tmp_path / "q.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    term = query_input(Modality.IMAGE, image)
    assert json.loads(json.dumps(term)) == term
    assert decode_query_input(term) == (Modality.IMAGE, image.read_bytes())
    assert decode_query_input(query_input(Modality.TEXT, "a dog")) == (Modality.TEXT, "a dog")
    with pytest.raises(InputError, match="too large"):
        query_input(Modality.AUDIO, b"\0" * (MAX_QUERY_INPUT_BYTES + 1))
    with pytest.raises(InputError, match="no such file"):
        query_input(Modality.AUDIO, tmp_path / "missing.wav")


@pytest.mark.integration
def test_sent_tasks_are_json_with_ids_only(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the client puts in the `embed` queue: JSON, media-store ids and names, no bytes."""
    from binding.api import Engine
    from tests.distributed.celery_harness import make_images

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        broker_url=redis_server.url,
        data_dir=tmp_path / "data",
        model="imagebind_tiny",
        seed=0,
        task_files=2,
    )
    make_images(tmp_path / "files", 5)
    executor = QueueExecutor(Engine(settings))
    try:
        job = executor.submit([tmp_path / "files"])
        assert executor.jobs.status(job).pending == 5  # no worker: all waiting
        raw = redis_server.client().lrange("embed", 0, -1)
    finally:
        executor.close()
    assert len(raw) == 3  # 5 files, 2 per task
    for text in raw:
        envelope = json.loads(text)
        assert envelope["content-type"] == "application/json"
        assert envelope["headers"]["task"] == EMBED_FILES_TASK
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        job_id, files = args
        assert job_id == job and kwargs == {}
        for f in files:
            # ids and names only; `caption` is the text of a sidecar file (none here)
            assert set(f) == {"index", "sha256", "name", "source", "modality", "tags", "caption"}
            assert f["modality"] == "image" and len(f["sha256"]) == 64 and f["caption"] is None
