"""The first run's model (issue 12.4, 13.1): the default when its weights can be had, else
one line saying so and how to get them, and a model that runs offline. Checked on disk,
with a private HTTP server on loopback for "downloadable", and through the CLI."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.demo import make_world_demo, world_demo_queries
from binding.firstrun import FALLBACK_MODEL, LAST_RESORT_MODEL, choose_model, weights_available
from binding.models.registry import get_spec, list_models


@pytest.fixture
def first_run(tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A newcomer's settings: no model or seed named, offline, an empty cache."""
    monkeypatch.delenv("BINDING_MODEL")
    monkeypatch.delenv("BINDING_SEED")
    return Settings()


def _expected_fallback() -> str:
    if FALLBACK_MODEL in {s.name for s in list_models()}:
        usable, _ = weights_available(get_spec(FALLBACK_MODEL), Settings())
        if usable:
            return FALLBACK_MODEL
    return LAST_RESORT_MODEL


def test_offline_without_weights_falls_back_in_one_line(first_run: Settings) -> None:
    choice = choose_model(first_run)
    assert choice.fallback and choice.model == _expected_fallback()
    assert choice.seed == (0 if choice.model == LAST_RESORT_MODEL else None)
    assert "\n" not in choice.reason and "imagebind_huge" in choice.reason
    for hint in ("BINDING_OFFLINE", "binding download", "BINDING_CHECKPOINT="):
        assert hint in choice.reason


def test_a_named_model_is_used_as_asked(
    first_run: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINDING_MODEL", "imagebind_huge")
    choice = choose_model(Settings())
    assert choice.model == "imagebind_huge" and not choice.fallback
    assert "BINDING_MODEL" in choice.reason
    assert choose_model(first_run, "imagebind_tiny").model == "imagebind_tiny"


def test_cached_weights_keep_the_default(first_run: Settings) -> None:
    spec = get_spec("imagebind_huge")
    assert spec.filename is not None and spec.size_bytes is not None
    cached = first_run.cache_dir / "checkpoints" / spec.filename
    cached.parent.mkdir(parents=True)
    with cached.open("wb") as f:  # a sparse file of the right size: nothing is read
        f.truncate(spec.size_bytes)
    choice = choose_model(first_run)
    assert choice.model == "imagebind_huge" and not choice.fallback
    assert "cached" in choice.reason


class _Head(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:  # noqa: N802 - the http.server protocol
        self.send_response(200 if self.path.endswith("/imagebind_huge.pth") else 404)
        self.send_header("Content-Length", "4803584173")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def weights_host() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Head)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/imagebind_huge.pth"
    server.shutdown()
    server.server_close()


def test_downloadable_weights_keep_the_default_and_unreachable_ones_do_not(
    first_run: Settings, weights_host: str
) -> None:
    online = first_run.model_copy(update={"offline": False, "checkpoint": weights_host})
    choice = choose_model(online)
    assert choice.model == "imagebind_huge" and "download" in choice.reason
    gone = weights_host.replace("/imagebind_huge.pth", "/missing.pth")
    choice = choose_model(online.model_copy(update={"checkpoint": gone}))
    assert choice.fallback and "answers HTTP 404" in choice.reason
    dead = "http://127.0.0.1:9/imagebind_huge.pth"  # nothing listens on the discard port
    choice = choose_model(online.model_copy(update={"checkpoint": dead}))
    assert choice.fallback and "cannot be reached" in choice.reason


def test_world_sample_is_named_by_content_and_deterministic(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    first = make_world_demo(tmp_path / "a", n=6)
    make_world_demo(tmp_path / "b", n=6)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")  # the same bytes
    assert sorted(first.files) == ["audio", "depth", "image", "imu", "thermal", "video"]
    assert all(len(paths) == 6 for paths in first.files.values())
    assert not list((tmp_path / "a").glob("*.csv")) and not (tmp_path / "a" / ".writing").exists()
    name = first.files["image"][0].name  # "00-red-circle.png": what it shows
    colour, shape = name[3:-4].split("-")
    assert colour in {"red", "green", "blue", "yellow", "white", "black"}
    assert shape in {"circle", "square", "triangle"}
    for title, query in world_demo_queries(first):
        assert "expect" in title
        for path in query.split('"')[1::2]:
            assert not path.startswith("/") or Path(path).is_file(), query


def test_first_run_then_tiny_then_first_run_again(first_run: Settings) -> None:
    """Issue 13's acceptance, offline and without weights: all exit 0, nothing stored twice."""
    runner = CliRunner()
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith(f"model: {_expected_fallback()}")
    assert "binding download" in first.stderr.splitlines()[0]
    assert "these searches ran on" in first.stderr
    tiny = runner.invoke(
        app, ["demo"], env={"BINDING_MODEL": "imagebind_tiny", "BINDING_SEED": "0"}
    )
    assert tiny.exit_code == 0, tiny.output
    assert "(set by BINDING_MODEL)" in tiny.stderr
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    assert " 0 embedded (0 points)" in again.stderr and " 0 rejected" in again.stderr
