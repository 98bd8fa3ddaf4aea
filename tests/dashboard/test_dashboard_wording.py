"""What the pages say and how they show it (issue 13, item 21): no command-line flags,
tables whose long cells are read whole, plurals and units, whole-number ticks, filters
batched in a form."""

from __future__ import annotations

import json

import pytest

from tests.dashboard.helpers import assert_clean, open_page

pytestmark = pytest.mark.usefixtures("dashboard_env")


def test_status_counts_chart_has_whole_number_ticks_and_checks_are_whole():
    at = open_page("status")
    (chart,) = [c for c in at.get("vega_lite_chart")]
    spec = json.loads(chart.proto.spec)
    axis = spec["encoding"]["x"]["axis"]
    assert axis["tickMinStep"] == 1 and axis["format"] == "d"
    # the checks are a static table (cells wrap), not a grid that cuts the details off
    tables = at.get("table")
    assert tables, "the checks are not a table"
    assert not [d for d in at.dataframe if "detail" in getattr(d.value, "columns", [])]


def test_ingest_speaks_of_one_file_and_bytes(empty_env):
    at = open_page("ingest")
    at.file_uploader(key="ingest_files_0").set_value(
        # 33 bytes that are no media format and no text (not UTF-8)
        [("tiny.bin", b"\x00\xff\xfe\x81" * 8 + b"\x00", "application/octet-stream")]
    ).run()
    assert_clean(at)
    assert any("**1 file ready.**" in m.value for m in at.markdown)
    assert any(b.label == "Ingest 1 file" for b in at.button)
    next(b for b in at.button if b.label == "Ingest 1 file").click().run()
    assert not at.exception
    (row,) = at.session_state["ingest_report"][0]
    assert row["outcome"] == "rejected" and "--" not in row["reason"], row
    assert any(c.value.startswith("1 file in") for c in at.caption)
    assert at.get("table"), "the outcomes are not a table"


@pytest.mark.parametrize(("page", "submit"), [("compose", "Apply filters"), ("map", "Draw")])
def test_filters_are_batched_in_a_form(page: str, submit: str):
    at = open_page(page)
    assert at.get("form"), "no form on the page"
    assert any(b.label == submit for b in at.button)


def test_search_upload_of_unknown_kind_speaks_the_page_s_language():
    import io

    import numpy as np

    at = open_page("search")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((8, 8), dtype=np.float32) + 1)
    at.file_uploader(key="search_file").upload("frame.npy", buffer.getvalue()).run()
    assert_clean(at)
    notes = [c.value for c in at.caption if "depth or thermal" in c.value]
    assert notes and not any("--" in n for n in notes), notes


def test_the_streams_empty_state_names_no_flags(empty_env):
    at = open_page("streams")
    text = " ".join(m.value for m in at.markdown if "No streams yet" in m.value)
    assert text and "--" not in text, text
