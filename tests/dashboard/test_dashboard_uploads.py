"""What a new user hit with query files (issue 13, items 16-18): errors name the uploaded
file, the modality said for one upload does not carry over to the next, and Compose refuses
a written file term whose file is not uploaded instead of dropping it."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.dashboard.helpers import assert_clean, card_titles, open_page
from tests.dashboard.test_dashboard_pages import png_bytes

pytestmark = pytest.mark.usefixtures("dashboard_env")


def npy_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(seed).random((32, 32)).astype(np.float32))
    return buffer.getvalue()


def test_a_query_file_error_names_the_uploaded_file():
    at = open_page("search")
    broken = png_bytes()[:60]  # a PNG's signature and header, then nothing
    at.file_uploader(key="search_file").upload("holiday.png", broken, "image/png").run()
    at.selectbox(key="search_file_modality").set_value("image")
    next(b for b in at.button if b.label == "Search").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "holiday.png" in errors, errors
    assert "binding-query" not in errors and "/tmp" not in errors, errors


def test_the_modality_said_for_one_upload_does_not_carry_over():
    at = open_page("search")
    at.file_uploader(key="search_file").upload("frame.npy", npy_bytes(0)).run()
    assert at.selectbox(key="search_file_modality").value is None
    at.selectbox(key="search_file_modality").set_value("thermal").run()
    assert at.selectbox(key="search_file_modality").value == "thermal"

    at.file_uploader(key="search_file").upload("red.png", png_bytes(), "image/png").run()
    assert_clean(at)
    assert at.selectbox(key="search_file_modality").value == "image"  # what its bytes say

    at.file_uploader(key="search_file").upload("other.npy", npy_bytes(1)).run()
    assert at.selectbox(key="search_file_modality").value is None  # asked again, not "thermal"


def test_a_compose_file_row_asks_again_for_a_new_upload():
    at = open_page("compose")
    (uid,) = [r.uid for r in at.session_state["compose_rows"]]
    at.selectbox(key=f"compose_kind_{uid}").set_value("file").run()
    at.file_uploader(key=f"compose_file_{uid}").upload("red.png", png_bytes(), "image/png").run()
    assert at.selectbox(key=f"compose_modality_{uid}").value == "image"
    at.file_uploader(key=f"compose_file_{uid}").upload("frame.npy", npy_bytes(2)).run()
    assert_clean(at)
    assert at.selectbox(key=f"compose_modality_{uid}").value is None  # not "image"


def test_apply_text_refuses_a_file_term_without_its_upload():
    at = open_page("compose")
    before = [r.uid for r in at.session_state["compose_rows"]]
    at.text_area(key="compose_expr").set_value('text:"sea" + audio:waves.wav')
    next(b for b in at.button if b.label == "Apply text").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "term 2" in errors and "waves.wav" in errors and "not uploaded" in errors, errors
    assert [r.uid for r in at.session_state["compose_rows"]] == before  # rows untouched
    assert at.text_area(key="compose_expr").value == 'text:"sea" + audio:waves.wav'  # kept
    assert not card_titles(at)  # and nothing searched without the term


def test_an_uploaded_zip_is_named_as_uploaded_not_by_its_temporary_folder(empty_env):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for c, name in enumerate(["red", "blue"]):
            for i in range(2):
                archive.writestr(f"colours/{name}/{i}.png", png_bytes((200 * (1 - c), 0, 200 * c)))
    at = open_page("evaluate")
    at.radio(key="eval_where").set_value("Upload a zip").run()
    at.file_uploader(key="eval_zip").upload("colours.zip", buffer.getvalue(), "application/zip")
    at.run()
    at.button(key="eval_run").click().run()
    assert_clean(at)
    last = next(m.value for m in at.markdown if m.value.startswith("**Last run**"))
    assert "colours.zip" in last and "binding-eval" not in last, last
