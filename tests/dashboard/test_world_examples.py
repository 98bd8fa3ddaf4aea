"""binding_mini's worked examples (the dashboard's Compose page offers them over the world
sample `binding demo` writes for that model) find what their titles promise, on the real
model and the embedded store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard extra is not installed")

from binding.api import Engine  # noqa: E402
from binding.config import Settings  # noqa: E402
from binding.demo import make_world_demo  # noqa: E402
from dashboard.components.examples import (  # noqa: E402
    _FOLDERS,
    EXAMPLES,
    WORLD_EXAMPLES,
    examples_for,
)


def label(name: str) -> str:  # "07-red-circle.png" -> "red circle"
    return " ".join(Path(name).stem.split("-")[1:])


def test_binding_mini_examples_find_what_they_promise(tmp_path: Path) -> None:
    assert examples_for("binding_mini") == WORLD_EXAMPLES
    assert examples_for("imagebind_huge") == EXAMPLES
    data = make_world_demo(tmp_path / "world")
    settings = Settings(model="binding_mini", data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    folders = [data.root / m for m in ("image", "audio", "depth", "thermal")]
    with Engine(settings) as engine:
        report = engine.ingest([str(f) for f in folders])
        assert not report.rejected
        ids = {
            p.relative_to(data.root).as_posix(): str(
                engine.point_id(_FOLDERS[p.parent.name], hashlib.sha256(p.read_bytes()).hexdigest())
            )
            for f in folders
            for p in f.iterdir()
        }
        found = {
            e.title: [label(str(h.payload["name"])) for h in engine.search(e.written(ids)).hits]
            for e in WORLD_EXAMPLES
        }
    red_circle_minus_red_plus_blue, sound, depth, heat, fused = found.values()
    assert red_circle_minus_red_plus_blue[0].startswith("blue")
    assert "blue circle" in red_circle_minus_red_plus_blue[:3]
    assert sound[0] == "yellow circle"
    assert depth[0] == "yellow triangle"
    assert heat[0] == "red triangle"
    assert fused[0] == "white square"


def test_binding_mini_banner_says_what_it_knows(
    empty_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dashboard.helpers import open_page

    monkeypatch.setenv("BINDING_MODEL", "binding_mini")
    monkeypatch.delenv("BINDING_SEED")
    at = open_page()
    banner = " ".join(i.value for i in at.info)
    assert "synthetic world" in banner and "never seen real photos" in banner
    assert not any("Random weights" in w.value for w in at.warning)
