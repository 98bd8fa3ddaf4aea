"""No address a user can type shows a traceback: every page opened with malformed query
parameters renders without an exception or an error box (item 14 of issue 13)."""

from __future__ import annotations

import uuid

import pytest

from tests.dashboard.helpers import APP, RUN_TIMEOUT, assert_clean

pytestmark = pytest.mark.usefixtures("dashboard_env")

PAGES = ("search", "compose", "map", "evaluate", "ingest", "streams", "status")
#: What people paste or mistype after the page's address.
MALFORMED = (
    {"point": "not-a-real-id"},
    {"point": ""},
    {"point": ["3f6c", "also-not-an-id"]},
    {"point": "x" * 5000, "limit": "-1", "mode": "\u0000", "page": "../../etc/passwd"},
)


def _open(page: str, params: dict) -> object:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(params)
    at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_survives_a_malformed_address(page: str) -> None:
    for params in MALFORMED:
        at = _open(page, params)
        assert_clean(at)


def test_map_with_a_point_that_is_no_id_says_so_and_shows_the_map() -> None:
    at = _open("map", {"point": "not-a-real-id"})
    assert_clean(at)
    assert any("not a point id" in w.value for w in at.warning)
    assert any(c.value.endswith("points · PCA") for c in at.caption)  # the whole map


def test_map_with_an_id_that_is_not_stored() -> None:
    at = _open("map", {"point": str(uuid.uuid4())})
    assert_clean(at)
    assert any("gone from the collection" in c.value for c in at.caption)
