"""`binding search` with stored points as terms: the points are not their own results, in
every mode, unless the query says `examples=keep` (issue 13, item 19)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from binding.cli import app
from binding.config import Settings
from binding.demo import DemoData


@pytest.mark.parametrize("mode", ["sum", "rrf", "recommend"])
def test_search_by_ids_leaves_the_examples_out_unless_kept(
    tiny_settings: Settings, media_folder: DemoData, mode: str
) -> None:
    runner = CliRunner()
    stored = runner.invoke(app, ["ingest", str(media_folder.root / "images"), "--json"])
    assert stored.exit_code == 0, stored.output
    ids = [p for f in json.loads(stored.stdout)["files"] for p in f["ids"]]
    like, unlike = ids[0], ids[1]
    query = f"id:{like} - id:{unlike} @ 6 | mode={mode}"

    found = runner.invoke(app, ["search", query, "--json"])
    assert found.exit_code == 0, found.output
    hits = [h["id"] for h in json.loads(found.stdout)["hits"]]
    assert hits and like not in hits and unlike not in hits

    kept = runner.invoke(app, ["search", query + " examples=keep", "--json"])
    assert kept.exit_code == 0, kept.output
    assert like in [h["id"] for h in json.loads(kept.stdout)["hits"]]
