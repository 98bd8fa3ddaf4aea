"""The dashboard's Evaluate page, run headless with AppTest over the tiny model: a server-side
folder and an uploaded zip are evaluated; metrics, the per-class chart, the confusion matrix
and the saved runs side by side are shown, with no error."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard extra is not installed")

from tests.dashboard.helpers import assert_clean, open_page  # noqa: E402
from tests.eval.conftest import png_bytes, write_png  # noqa: E402

pytestmark = pytest.mark.usefixtures("tiny_settings")


def test_evaluate_a_server_folder_then_compare_runs(tmp_path: Path):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(3):
            write_png(tmp_path / "pets" / name / f"{i}.png", seed=10 * c + i)
    at = open_page("evaluate")
    assert any("No runs yet" in c.value for c in at.caption)
    at.text_input(key="eval_folder").set_value(str(tmp_path / "pets")).run()
    at.button(key="eval_run").click().run()
    assert_clean(at)
    labels = {m.label: m.value for m in at.metric}
    assert {"Top-1", "Top-5", "Chance (top-1)", "Items"} <= set(labels)
    assert labels["Items"] == "6" and labels["Chance (top-1)"] == "50.0%"
    assert len(at.get("vega_lite_chart")) == 1  # the per-class chart
    assert len(at.get("image")) == 1  # the confusion matrix
    at.text_area(key="eval_templates").set_value("a drawing of a {}.\na sketch of a {}.").run()
    at.button(key="eval_run").click().run()
    assert_clean(at)
    assert len(at.multiselect[0].value) == 2
    table = at.dataframe[0].value
    assert "top1" in set(table.iloc[:, 0]) and "difference" in table.columns
    assert len(list((tmp_path / "data" / "evals").glob("classify-*.json"))) >= 1


def test_evaluate_an_uploaded_zip(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for c, name in enumerate(["red", "green", "blue"]):
            for i in range(2):
                archive.writestr(f"colours/{name}/{i}.png", png_bytes(5 * c + i))
    at = open_page("evaluate")
    at.radio(key="eval_where").set_value("Upload a zip").run()
    at.file_uploader(key="eval_zip").upload(
        "colours.zip", buffer.getvalue(), "application/zip"
    ).run()
    at.button(key="eval_run").click().run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Items"] == "6"


def test_a_corrupt_file_is_left_out_and_named(tmp_path: Path):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(2):
            write_png(tmp_path / "pets" / name / f"{i}.png", seed=10 * c + i)
    (tmp_path / "pets" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    at = open_page("evaluate")
    at.text_input(key="eval_folder").set_value(str(tmp_path / "pets")).run()
    at.button(key="eval_run").click().run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Items"] == "4"
    warning = " ".join(w.value for w in at.warning)
    assert "1 file could not be embedded" in warning and "broken.png" in warning
