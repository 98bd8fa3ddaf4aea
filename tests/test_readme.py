"""README.md's configuration table is the one `binding.config` generates from `Settings`."""

from __future__ import annotations

from pathlib import Path

import pytest

from binding.config import TABLE_END, TABLE_START, Settings, markdown_table, with_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_matches_the_settings_class() -> None:
    text = README.read_text(encoding="utf-8")
    assert text == with_table(text), (
        "README.md's configuration table is out of date: "
        "run `python -m binding.config --readme README.md`"
    )
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    for name in Settings.model_fields:  # every setting, the ones the issue found missing too
        assert f"`BINDING_{name.upper()}`" in table
    assert "`BINDING_INGEST_WORKERS`" in table and "`BINDING_COLLECTION`" in table


def test_with_table_replaces_only_between_the_markers() -> None:
    text = f"# title\n\n{TABLE_START}\n| old | table |\n{TABLE_END}\n\nafter\n"
    updated = with_table(text)
    assert updated.startswith(f"# title\n\n{TABLE_START}\n{markdown_table()}{TABLE_END}")
    assert updated.endswith("\n\nafter\n") and with_table(updated) == updated
    with pytest.raises(ValueError, match="markers"):
        with_table("# no markers\n")
