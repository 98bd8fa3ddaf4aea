"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine.

Services, images pinned by version, a health check everywhere, secrets only from the
environment, the shared media volume, the GPU reservation, and every service command a real
command of our CLI (run with `--help` through typer's CliRunner).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"qdrant", "redis", "worker", "streams", "dashboard"}
SECRETS = {"QDRANT_API_KEY", "REDIS_PASSWORD"}

#: `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (compose interpolation).
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _defaults(text: str) -> str:
    """`text` with `${NAME:-default}` replaced by its default."""
    return VARIABLE.sub(lambda m: m.group("arg") if m.group("op") == ":-" else m.group(0), text)


def _version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_images_are_pinned_by_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = _defaults(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.match(r"^v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$", tag), (
            f"{name}: {image!r} is not pinned to a version"
        )
        if "build" in service:  # our own image: tagged with the package version
            assert tag == _version(), f"{name}: {image} does not carry version {_version()}"
            assert service["build"]["dockerfile"] == "Dockerfile"


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name
        assert service.get("restart") == "unless-stopped", name


def test_secrets_come_from_the_environment(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = {m.group("name") for m in VARIABLE.finditer(text) if m.group("op") == ":?"}
    assert required >= SECRETS
    for m in VARIABLE.finditer(text):  # a secret never has a default value
        if m.group("name") in SECRETS:
            assert m.group("op") == ":?", f"{m.group(0)} must be required (:?)"

    def values(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for x in node.values() for v in values(x)]
        if isinstance(node, list):
            return [v for x in node for v in values(x)]
        return [str(node)]

    secret_like = re.compile(r"(PASSWORD|API_KEY|SECRET|TOKEN)", re.IGNORECASE)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_like.search(key):
                assert VARIABLE.search(str(value)), f"{name}: {key} is set literally"
        for value in values(service):
            assert "requirepass " not in value or "$$REDIS_PASSWORD" in value, name
    broker = compose["services"]["worker"]["environment"]["BINDING_BROKER_URL"]
    assert broker.startswith("redis://:${REDIS_PASSWORD:?")


def test_env_example_names_every_variable(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m.group("name") for m in VARIABLE.finditer(text)}
    example = (ROOT / ".env.example").read_text()
    listed = dict(
        line.split("=", 1)
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert used <= set(listed), f"missing from .env.example: {sorted(used - set(listed))}"
    for secret in SECRETS:
        assert listed[secret] == "", f".env.example must not carry a value for {secret}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored


def test_redis_and_qdrant_keep_their_data(compose: dict[str, Any]) -> None:
    redis, qdrant = compose["services"]["redis"], compose["services"]["qdrant"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--requirepass" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"].startswith("${QDRANT_API_KEY:?")
    assert any(v.endswith(":/qdrant/storage") for v in qdrant["volumes"])
    for service in compose["services"].values():
        assert "ports" not in service or service is compose["services"]["dashboard"]


def test_workers_share_the_media_volume_and_reserve_a_gpu(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("worker", "streams", "dashboard"):
        assert "binding-data:/data" in services[name]["volumes"], name
        assert services[name]["environment"]["BINDING_DATA_DIR"] == "/data"
        assert services[name]["environment"]["BINDING_QDRANT_URL"] == "http://qdrant:6333"
    assert "binding-data" in compose["volumes"]
    for name in ("worker", "streams"):
        (device,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert device["count"] == 1
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed name prevents --scale worker=N"
    command = worker["command"]
    assert command[command.index("--concurrency") + 1] == "1"  # one process per GPU


def test_service_commands_exist_in_our_cli(compose: dict[str, Any]) -> None:
    """`binding <command> --help` works, and names every option the service passes."""
    from binding.cli import app

    runner = CliRunner()
    checked = 0
    for name, service in compose["services"].items():
        command = service.get("command")
        if not (isinstance(command, list) and command and command[0] == "binding"):
            continue
        path: list[str] = []
        options = []
        for i, word in enumerate(command[1:]):
            if word.startswith("--"):
                options.append(word)
            elif not (i > 0 and command[i].startswith("--")):  # not an option's value
                path.append(word)
        assert path, f"{name}: no command in {command}"
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (
            f"{name}: `binding {' '.join(path)} --help` failed:\n{result.output}"
        )
        for option in options:
            assert option in result.output, f"{name}: `binding {' '.join(path)}` has no {option}"
        checked += 1
    assert checked == 3  # worker, streams, dashboard


def test_health_check_module_exists() -> None:
    from workers.health import main

    assert main(["neither"]) == 2


def test_dockerfile_is_pinned_and_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.search(r":\d+\.\d+\.\d+-slim", base.group(1)), "base image not pinned"
    assert re.search(r"^ARG TORCH_VERSION=\d+\.\d+\.\d+$", text, re.MULTILINE)
    assert re.search(r"^USER (?!root)\S+$", text, re.MULTILINE)
    assert "distributed" in text and "COPY workers" in text
