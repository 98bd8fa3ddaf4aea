"""Every page of the dashboard, run headless with `AppTest` over the tiny model.

Each test drives a page as a person would (type, upload, click) and checks what it rendered:
result cards, explanation bars, the outcome table, charts, no exception and no error box.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.dashboard.helpers import STREAM, assert_clean, card_titles, open_page

pytestmark = pytest.mark.usefixtures("dashboard_env")


def png_bytes(
    color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 48)
) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 16_000, hz: float = 330.0) -> bytes:
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(
        buffer, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate, format="WAV"
    )
    return buffer.getvalue()


def _hit_ids(at) -> list[str]:
    """The point ids of the cards, from their buttons' keys (`<page>_action0_<rank>_<id>`)."""
    return [b.key.rsplit("_", 1)[1] for b in at.button if b.key and "_action0_" in b.key]


def header(at) -> str:
    return next(m.value for m in at.markdown if "results** for" in m.value)


# --- the frame every page shares -------------------------------------------------------------


def test_random_weights_banner_and_sidebar():
    at = open_page()
    warning = " ".join(w.value for w in at.warning)
    assert "Random weights" in warning and "imagebind_tiny" in warning
    points = next(m for m in at.sidebar.metric if m.label == "Points")
    assert int(points.value.replace(",", "")) > 20


# --- search -------------------------------------------------------------------------------------


def test_search_by_text_shows_a_card_per_hit():
    at = open_page("search")
    at.text_input(key="search_text").set_value("a red circle").run()
    assert_clean(at)
    at.selectbox(key="search_limit").set_value(8).run()  # the Enter key already searched
    titles = card_titles(at)
    assert len(titles) == 8
    assert 'results** for `text:"a red circle"' in header(at)
    more = [b for b in at.button if b.label == "More like this"]
    assert len(more) == 8


def test_search_filters_modalities():
    at = open_page("search")
    at.button_group(key="search_modalities").set_value(["image"])
    at.text_input(key="search_text").set_value("sunset").run()
    assert_clean(at)
    cards = [m.value for m in at.markdown if 'class="bd-meta"' in m.value and "bd-chip" in m.value]
    assert cards and all(">Image<" in c for c in cards[: len(card_titles(at))])
    assert len(card_titles(at)) == 6  # the sample dataset has six pictures


def test_search_by_file_and_more_like_this():
    at = open_page("search")
    at.file_uploader(key="search_file").upload("query.png", png_bytes(), "image/png").run()
    assert_clean(at)
    assert at.selectbox(key="search_file_modality").value == "image"
    next(b for b in at.button if b.label == "Search").click().run()
    assert_clean(at)
    assert "image:query.png" in header(at)
    assert len(card_titles(at)) > 0

    first = _hit_ids(at)[0]
    next(b for b in at.button if b.label == "More like this").click().run()
    assert_clean(at)
    assert "more like" in header(at)
    assert card_titles(at) and first not in _hit_ids(at)  # an item is not its own neighbour
    back = next(b for b in at.button if b.label == "Back")
    back.click().run()
    assert_clean(at)
    assert "image:query.png" in header(at)


def test_search_file_of_unknown_kind_asks_for_a_modality():
    at = open_page("search")
    raw = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, raw)
    at.file_uploader(key="search_file").upload("frame.npy", buffer.getvalue()).run()
    assert_clean(at)
    assert at.selectbox(key="search_file_modality").value is None
    assert any("depth or thermal" in c.value for c in at.caption)
    at.selectbox(key="search_file_modality").set_value("thermal")
    next(b for b in at.button if b.label == "Search").click().run()
    assert_clean(at)
    assert "thermal:frame.npy" in header(at)


# --- compose ---------------------------------------------------------------------------------------


def _rows(at) -> list[int]:
    return [r.uid for r in at.session_state["compose_rows"]]


def test_compose_with_a_negative_term_explains_each_hit():
    at = open_page("compose")
    (first,) = _rows(at)
    at.text_input(key=f"compose_text_{first}").set_value("a beach").run()
    next(b for b in at.button if b.label == "Text term").click().run()
    second = _rows(at)[1]
    at.button_group(key=f"compose_sign_{second}").set_value("\u2212")
    at.slider(key=f"compose_weight_{second}").set_value(0.5)
    at.text_input(key=f"compose_text_{second}").set_value("people").run()
    assert_clean(at)
    assert at.text_area(key="compose_expr").value == 'text:"a beach" - 0.5*text:"people"'
    next(b for b in at.button if b.label == "Search").click().run()
    assert_clean(at)
    titles = card_titles(at)
    assert len(titles) == 10
    bars = [m.value for m in at.markdown if 'class="bd-bars"' in m.value]
    assert len(bars) == len(titles)
    assert all(b.count('class="bd-bar-row"') == 2 for b in bars)
    assert "#dc2626" in bars[0]  # the negative term's bar is red


def test_compose_written_form_round_trip_and_syntax_error():
    at = open_page("compose")
    at.text_area(key="compose_expr").set_value('text:"sea" - 0.5*text:"people" @ 5 | mode=rrf')
    next(b for b in at.button if b.label == "Apply text").click().run()
    assert_clean(at)
    assert len(_rows(at)) == 2
    assert at.session_state["compose_mode"] == "rrf"
    assert at.text_area(key="compose_expr").value == 'text:"sea" - 0.5*text:"people" @ 5 | mode=rrf'
    assert len(card_titles(at)) == 5  # applying a query runs it

    at.text_area(key="compose_expr").set_value('text:"sea" + * text:"x"')
    next(b for b in at.button if b.label == "Apply text").click().run()
    assert not at.exception
    assert at.error and "column" in at.error[0].value
    assert len(_rows(at)) == 2  # the rows are untouched by a query that does not parse


def test_compose_refuses_a_file_named_but_not_uploaded():
    at = open_page("compose")
    at.text_area(key="compose_expr").set_value("image:/etc/passwd")
    next(b for b in at.button if b.label == "Apply text").click().run()
    assert not at.exception
    assert any("not uploaded" in e.value and "/etc/passwd" in e.value for e in at.error)
    assert not card_titles(at)


def test_compose_worked_example_loads_and_runs():
    at = open_page("compose")
    loads = [b for b in at.button if b.label == "Load"]
    assert len(loads) == 5
    loads[3].click().run()  # like walking, unlike standing still (recommend)
    assert_clean(at)
    assert at.session_state["compose_mode"] == "recommend"
    titles = card_titles(at)
    assert titles
    metas = [m.value for m in at.markdown if 'class="bd-meta"' in m.value and "bd-chip" in m.value]
    assert all(">IMU<" in m for m in metas[-len(titles) :])


def test_compose_recommend_leaves_its_examples_out_unless_kept():
    """Issue 13, item 19: recommend returned its positive example at rank 1 and its
    negative example too."""
    at = open_page("compose")
    loads = [b for b in at.button if b.label == "Load"]
    loads[3].click().run()  # like walking, unlike standing still (recommend)
    assert_clean(at)
    query = at.session_state["compose_result"][1].query
    examples = {str(t.input.id) for t in query.terms}
    assert len(examples) == 2
    assert not examples & set(_hit_ids(at))

    at.checkbox(key="compose_keep_examples").check()
    next(b for b in at.button if b.label == "Apply filters").click().run()
    assert_clean(at)
    assert "examples=keep" in at.text_area(key="compose_expr").value
    assert examples & set(_hit_ids(at))


def test_compose_file_term_from_upload():
    at = open_page("compose")
    (first,) = _rows(at)
    at.selectbox(key=f"compose_kind_{first}").set_value("file").run()
    at.file_uploader(key=f"compose_file_{first}").upload("waves.wav", wav_bytes()).run()
    assert_clean(at)
    assert at.selectbox(key=f"compose_modality_{first}").value == "audio"
    assert at.text_area(key="compose_expr").value == "audio:waves.wav"
    next(b for b in at.button if b.label == "Search").click().run()
    assert_clean(at)
    assert len(card_titles(at)) == 10


# --- ingest ----------------------------------------------------------------------------------------


def test_ingest_mixed_files_with_a_bad_one(empty_env):
    at = open_page("ingest")
    depth = io.BytesIO()
    np.save(depth, np.linspace(0.5, 4.0, 64 * 48, dtype=np.float32).reshape(48, 64))
    uploader = at.file_uploader(key="ingest_files_0")
    uploader.set_value(
        [
            ("red.png", png_bytes(), "image/png"),
            ("tone.wav", wav_bytes(), "audio/wav"),
            ("broken.jpg", b"\xff\xd8\xff\xe0 this is not a jpeg at all" * 4, "image/jpeg"),
            ("room.npy", depth.getvalue(), "application/octet-stream"),
        ]
    ).run()
    assert_clean(at)
    assert any("4 files ready" in m.value for m in at.markdown)
    next(b for b in at.button if b.label.startswith("Ingest 4 files")).click().run()
    assert not at.exception
    report = at.session_state["ingest_report"][0]
    outcomes = {row["file"]: row for row in report}
    assert outcomes["red.png"]["outcome"] == "embedded"
    assert outcomes["tone.wav"]["outcome"] == "embedded"
    assert outcomes["broken.jpg"]["outcome"] == "rejected" and outcomes["broken.jpg"]["reason"]
    assert outcomes["room.npy"]["outcome"] == "rejected"  # ambiguous without an override
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Embedded"] == "2" and metrics["Rejected"] == "2"

    # the same files again, the depth map with an override: duplicates, and the depth map in
    at.file_uploader(key="ingest_files_1").set_value(
        [("red.png", png_bytes(), "image/png"), ("room.npy", depth.getvalue(), "application/x-npy")]
    ).run()
    at.selectbox(key="ingest_modality").set_value("depth").run()
    next(b for b in at.button if b.label.startswith("Ingest 2 files")).click().run()
    assert_clean(at)
    outcomes = {row["file"]: row for row in at.session_state["ingest_report"][0]}
    assert outcomes["red.png"]["outcome"] == "duplicate"
    assert outcomes["room.npy"]["outcome"] == "embedded"
    assert outcomes["room.npy"]["modality"] == "depth"


def test_ingest_names_are_labels_not_paths(empty_env):
    at = open_page("ingest")
    at.file_uploader(key="ingest_files_0").set_value(
        [("../../escape.png", png_bytes((1, 2, 3)), "image/png")]
    ).run()
    next(b for b in at.button if b.label.startswith("Ingest 1 file")).click().run()
    assert_clean(at)
    (row,) = at.session_state["ingest_report"][0]
    assert row["outcome"] == "embedded"
    assert (
        not (empty_env / "escape.png").exists() and not (empty_env.parent / "escape.png").exists()
    )
    stored = list((empty_env / "data" / "media").rglob("*.png"))
    assert len(stored) == 1 and len(stored[0].stem) == 64  # named by its sha256


# --- streams, map, status ----------------------------------------------------------------------------


def test_streams_lists_the_stream_and_searches_inside_it():
    at = open_page("streams")
    overview = at.dataframe[0].value
    assert list(overview["stream"]) == [STREAM]
    assert int(overview["windows"].iloc[0]) == 3  # 12 s of walking: 5 s windows, and a tail
    assert any("windows as they arrived" in c.value for c in at.caption)  # no samples kept
    at.text_input(key="streams_query").set_value("someone walking").run()
    assert_clean(at)
    matches = at.dataframe[1].value
    assert len(matches) == 3
    assert (np.diff(matches["score"].to_numpy()) <= 1e-9).all()  # best first
    assert len(card_titles(at)) == 3


def test_streams_empty_state(empty_env):
    at = open_page("streams")
    assert any("No streams yet" in m.value for m in at.markdown)


def test_map_projects_and_shows_a_clicked_point():
    at = open_page("map")
    assert any(c.value.endswith("points · PCA") for c in at.caption)
    # pick a point as a click on the chart does
    ids = _map_ids(at)
    at.session_state["map_selected"] = ids[0]
    at.run()
    assert_clean(at)
    assert any(b.label == "Search with it" for b in at.button)
    assert len(card_titles(at)) == 8  # nearest neighbours
    next(b for b in at.button if b.label == "Search with it").click().run()
    assert_clean(at)
    assert "more like" in header(at)


def _map_ids(at) -> list[str]:
    from dashboard.components import session

    engine = session.engine()  # the app's own, shared through the resource cache
    return [str(p.id) for p in engine.store.scroll(batch=50)][:5]


def test_status_shows_model_counts_and_checks():
    at = open_page("status")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mode"] == "embedded"
    assert int(metrics["Modalities"]) == 6
    assert any("Embedded mode" in i.value for i in at.info)
    assert any("random weights" in w.value for w in at.warning)  # the doctor's model check


def test_status_loads_the_sample_dataset_into_an_empty_collection(empty_env):
    at = open_page("search")
    assert any("The collection is empty" in m.value for m in at.markdown)
    at = open_page("status")
    next(b for b in at.button if b.label == "Load the sample dataset").click().run()
    assert_clean(at)
    report = at.session_state["status_sample_report"]
    assert report["embedded"] >= 18 and report["rejected"] == 0, report
    points = next(m for m in at.metric if m.label == "Points")
    assert int(points.value.replace(",", "")) >= 26
    at = open_page("streams")  # and a replayed stream to look at
    assert "demo-walk" in list(at.dataframe[0].value["stream"])
