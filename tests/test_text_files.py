"""Text files ingest as text points (issue 13.11): UTF-8, cut into passages that fit the
text tower, each a point with its character offsets, the whole document one more point."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from binding.api import Engine
from binding.cli import app
from binding.demo import DemoData
from binding.preprocess.text import PASSAGE_TOKENS, default_tokenizer, split_passages

LONG = (
    "The lighthouse keeper wrote every night about the weather and the ships. " * 12
    + "\n\nA second paragraph: the storm came from the west and lasted three days.\n"
)


def test_passages_fit_the_context_and_cover_the_words() -> None:
    spans = split_passages(LONG)
    assert len(spans) >= 3
    tokenizer = default_tokenizer()
    for start, end in spans:
        assert len(tokenizer.encode(LONG[start:end])) <= PASSAGE_TOKENS
    assert LONG[spans[-1][0] : spans[-1][1]].startswith("A second paragraph")  # not across it
    covered = " ".join(LONG[a:b] for a, b in spans).split()
    assert covered == LONG.split()  # every word, once, in order
    assert split_passages("  \n\n ") == []


def test_text_files_ingest_as_passages_and_a_whole(tiny_engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "log.md").write_text(LONG, encoding="utf-8")
    (tmp_path / "short.txt").write_text("a note about the harbour\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    report = tiny_engine.ingest([tmp_path])
    outcomes = {Path(o.source).name: o for o in report.files}
    assert outcomes["short.txt"].status == "embedded" and outcomes["short.txt"].modality == "text"
    assert outcomes["latin1.txt"].status == "rejected"
    assert "UTF-8" in (outcomes["latin1.txt"].reason or "")
    spans = split_passages(LONG)
    points = [p.payload for p in tiny_engine.scroll() if p.payload["name"] == "log.md"]
    assert len(points) == len(spans) + 1  # a point per passage and the whole document
    whole = [p for p in points if p["start"] is None]
    assert len(whole) == 1 and whole[0]["passages"] == len(spans)
    offsets = sorted((p["start"], p["end"]) for p in points if p["start"] is not None)
    assert offsets == [(float(a), float(b)) for a, b in spans]
    hits = tiny_engine.search('text:"the storm came from the west" @ 50 | modality=text').hits
    assert {h.payload["name"] for h in hits} == {"log.md", "short.txt"}


@pytest.mark.usefixtures("tiny_settings")
def test_embed_reads_a_text_file(tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "note.txt").write_text("a dog barking\n", encoding="utf-8")
    runner = CliRunner()
    from_file = runner.invoke(app, ["embed", "note.txt", "-o", "file.npy"])
    assert from_file.exit_code == 0, from_file.output
    given = runner.invoke(app, ["embed", "--modality", "text", "a dog barking\n", "-o", "t.npy"])
    assert given.exit_code == 0, given.output
    np.testing.assert_allclose(np.load("file.npy"), np.load("t.npy"), atol=1e-6)


def test_sidecar_captions_are_stored_with_their_media(
    tiny_engine: Engine, media_folder: DemoData, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    beach = media_folder.root / "images" / "beach.png"
    (folder / "0001.png").write_bytes(beach.read_bytes())
    (folder / "0001.txt").write_text("a sandy beach under a blue sky\n", encoding="utf-8")
    (folder / "notes.txt").write_text("packing list: towel, hat\n", encoding="utf-8")
    report = tiny_engine.ingest([folder])
    assert sorted(Path(o.source).name for o in report.files) == ["0001.png", "notes.txt"]
    payloads = {p.payload["name"]: p.payload for p in tiny_engine.scroll()}
    assert payloads["0001.png"]["caption"] == "a sandy beach under a blue sky"
    assert payloads["notes.txt"]["modality"] == "text" and "caption" not in payloads["notes.txt"]


def test_no_captions_makes_sidecars_documents(
    tiny_engine: Engine, media_folder: DemoData, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    tone = media_folder.root / "audio" / "tone_440hz.wav"
    (folder / "tone.wav").write_bytes(tone.read_bytes())
    (folder / "tone.txt").write_text("a pure 440 Hz tone\n", encoding="utf-8")
    report = tiny_engine.ingest([folder], captions=False)
    kinds = {Path(o.source).name: o.modality for o in report.files}
    assert kinds == {"tone.wav": "audio", "tone.txt": "text"}
    assert all("caption" not in p.payload for p in tiny_engine.scroll())
