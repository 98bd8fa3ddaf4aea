"""The dashboard's pieces that need no page: launch options, projections, colour maps,
upload handling and the term rows' round trip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _flatten(table: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def test_launch_options_match_the_config_file():
    from dashboard.launch import OPTIONS, command

    config = _flatten(tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text()))
    assert config == OPTIONS
    assert config["server.enableXsrfProtection"] is True and config["server.enableCORS"] is True
    argv = command(host="127.0.0.1", port=8600)
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("streamlit_app.py")
    assert "--server.maxUploadSize=200" in argv and "--server.port=8600" in argv
    assert "--server.address=127.0.0.1" in argv


def test_pca_matches_an_exact_svd():
    from dashboard.components.projection import pca_2d

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 32)) @ np.diag(np.linspace(3, 0.1, 32))
    got = pca_2d(x)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    want = centred @ vt[:2].T
    for k in range(2):  # equal up to the sign of each component
        assert (
            min(np.abs(got[:, k] - want[:, k]).max(), np.abs(got[:, k] + want[:, k]).max()) < 1e-6
        )
    assert pca_2d(x[:2]).shape == (2, 2)


def test_colour_maps_and_scale_bar():
    from dashboard.components import colormaps

    table = colormaps.lookup_table("viridis")
    assert table.shape == (256, 3) and tuple(table[0]) == (0x44, 0x01, 0x54)
    assert tuple(table[-1]) == (0xFD, 0xE7, 0x25)
    values = np.array([[0.0, 1.0], [np.nan, 0.5]], dtype=np.float32)
    rgb = colormaps.apply(values, "inferno", 0.0, 1.0)
    assert rgb.shape == (2, 2, 3) and tuple(rgb[1, 0]) == (0, 0, 0)
    low, high = colormaps.robust_range(np.full((4, 4), 7.0))
    assert high > low
    bar = colormaps.scale_bar_html("viridis", 500.0, 8000.0, unit="mm")
    assert "linear-gradient" in bar and "500 mm" in bar and "8,000 mm" in bar


def test_query_files_are_only_uploads_and_get_generated_names():
    from binding.query import QueryError, parse_query
    from dashboard.components.session import Upload, bind_uploads, materialised

    upload = Upload.of("../../evil name.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    assert "/" in upload.name  # the label is kept as a label...
    query = parse_query(f'image:"{upload.name}" - text:"x"')
    with materialised({upload.name: upload}) as paths:
        path = Path(paths[upload.name])
        assert path.name == f"{upload.sha256}.png"  # ...and never becomes a path
        assert path.read_bytes() == upload.data
        bound = bind_uploads(query, paths)
        assert bound.terms[0].input.path == str(path)
    assert not path.exists()
    with pytest.raises(QueryError, match="upload it"):
        bind_uploads(parse_query("image:/etc/passwd"), {})


def test_rows_round_trip_through_the_written_form():
    from binding.query import Query, format_query, parse_query
    from dashboard.components import terms

    state: dict = {}
    written = '0.7*image:beach.png + id:8a0f9a4e-8a57-5b8b-9b3e-1b6f1f1d2c3a - 0.5*text:"people"'
    rows = terms.rows_from_query(state, parse_query(written))
    assert [r.kind for r in rows] == ["file", "stored", "text"]
    assert [r.sign for r in rows] == ["+", "+", "\u2212"]
    uploads = {"beach.png": object()}
    built = [terms.row_term(terms.read_widgets(state, r), "sum", uploads)[0] for r in rows]
    assert format_query(Query(tuple(built))) == written
    # recommend takes examples: every weight becomes 1 with its sign
    built = [terms.row_term(r, "recommend", uploads)[0] for r in rows]
    assert [t.weight for t in built] == [1.0, 1.0, -1.0]
    # a file row without its upload says what it needs
    term, problem = terms.row_term(rows[0], "sum", {})
    assert term is None and "upload" in problem


def test_browsing_the_pages_never_imports_torch(tmp_path):
    """Only a search loads the encoder: a dashboard that reads a server (distributed mode)
    never needs torch, so showing pages must not import it."""
    import os
    import subprocess
    import sys

    from tests.dashboard.helpers import APP, ISOLATE, tiny_env

    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "for page in ('search', 'compose', 'ingest', 'streams', 'map'):\n"
        f"    at = AppTest.from_file({str(APP)!r}, default_timeout=60)\n"
        "    at.switch_page(f'app_pages/{page}.py')\n"
        "    at.run()\n"
        "    assert not at.exception, [e.value for e in at.exception]\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    env.update(tiny_env(tmp_path / "data", tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _style_of(html_text: str, cls: str) -> dict[str, float]:
    """The percentages in the inline style of the first element with class `cls`."""
    import re

    tag = re.search(rf'class="{cls}[^"]*" style="([^"]*)"', html_text)
    assert tag, html_text
    return {k: float(v) for k, v in re.findall(r"(left|width):([-0-9.]+)%", tag.group(1))}


def test_score_bars_show_what_the_score_means():
    """Issue 13, item 20: a cosine of -0.07 drew a half-full bar (-1..1 mapped to 0..100 %)
    and every rrf bar was full."""
    from dashboard.components.results import score_html

    slight = _style_of(score_html(-0.07, mode="sum"), "bd-score-fill")
    assert slight["width"] == pytest.approx(3.5) and slight["left"] == pytest.approx(46.5)
    strong = _style_of(score_html(0.8, mode="sum"), "bd-score-fill")
    assert strong["width"] == pytest.approx(40.0) and strong["left"] == pytest.approx(50.0)
    assert "cosine" in score_html(0.8, mode="recommend")
    half = _style_of(score_html(0.0125, mode="rrf", best=0.025), "bd-score-fill")
    assert half["width"] == pytest.approx(50.0)
    assert _style_of(score_html(0.025, mode="rrf", best=0.025), "bd-score-fill")["width"] == 100


def test_sizes_and_counts_read_as_people_write_them():
    """Issue 13, item 21: "0.0 kB" for 33 bytes, MB beside GB, "1 files"."""
    from dashboard.components.style import format_bytes, plural

    assert format_bytes(33) == "33 B"
    assert format_bytes(1_500) == "1.5 kB"
    assert format_bytes(200_000_000) == "200 MB"
    assert format_bytes(1_073_741_824) == "1.07 GB"
    assert plural(1, "file") == "1 file" and plural(0, "file") == "0 files"
    assert plural(2_000, "match", "matches") == "2,000 matches"


def test_library_hints_for_the_command_line_are_not_shown_in_pages():
    from binding.errors import InputError
    from dashboard.components.session import ui_reason

    for message in (
        "unrecognised content (not a known media format); give its modality (--modality; "
        "modality= in Python), or put the file under a folder named after its modality",
        "a plain text file is not a media file (texts are embedded from strings: embed "
        "--modality text with the text itself)",
        "no Redis URL: set BINDING_BROKER_URL (e.g. redis://localhost:6379/0) or pass --redis",
    ):
        shown = ui_reason(InputError("x.bin", message))
        assert "--" not in shown and shown, shown


def _windows(count: int, start: float = 1_700_000_000.0, length: float = 5.0):
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [f"w{i}" for i in range(count)],
            "t0": [start + i * length for i in range(count)],
            "t1": [start + (i + 1) * length for i in range(count)],
            "name": [f"wrist {i * length:g}-{(i + 1) * length:g}" for i in range(count)],
        }
    )


def test_the_best_windows_highlight_is_never_every_window():
    """Issue 13, item 22: with 3 windows the "3 best" highlight covered every bar."""
    from dashboard.components.streamplot import highlight_count, timeline_chart

    assert highlight_count(3, 3) == 1 and highlight_count(3, 5) == 1
    assert highlight_count(30, 5) == 5 and highlight_count(9, 5) == 3
    assert highlight_count(0, 3) == 0
    frame = _windows(3)
    scores = {"w0": 0.2, "w1": 0.5, "w2": 0.1}
    ranked = sorted(scores, key=scores.get, reverse=True)
    chart = timeline_chart(frame, scores, ranked[: highlight_count(len(scores), 3)])
    rows = chart.to_dict()["datasets"]
    (data,) = rows.values()
    assert [r["match"] for r in data].count("match") == 1


def test_the_live_signal_is_drawn_over_its_windows_with_the_matches_marked():
    from dashboard.components.streamplot import signal_charts, window_spans

    frame = _windows(4)  # 20 s of windows
    rate, start = 50.0, 1_700_000_000.0 + 2.5
    times = start + np.arange(int(15 * rate)) / rate  # the tail holds 15 s of them
    samples = np.random.default_rng(0).standard_normal((len(times), 6)).astype(np.float32)
    spans = window_spans(frame, float(times[0]), float(times[-1]), top=["w1"])
    assert list(spans["id"]) == ["w0", "w1", "w2", "w3"]
    assert list(spans["kind"]) == ["window", "match", "window", "window"]
    assert spans["from"].iloc[0].timestamp() == pytest.approx(times[0])  # clipped to the tail
    charts = signal_charts(times, samples, frame, top=["w1"])
    assert len(charts) == 2  # accelerometer, gyroscope
    for chart in charts:
        spec = chart.to_dict()
        marks = [layer["mark"]["type"] for layer in spec["layer"]]
        assert marks == ["rect", "line"]
    assert signal_charts(np.zeros(0), np.zeros((0, 6)), frame) == []


def test_a_window_preview_comes_from_the_recent_samples_while_they_hold_it():
    from dashboard.components.streamplot import window_samples

    times = 100.0 + np.arange(500) / 50.0  # 10 s at 50 Hz
    samples = np.arange(500 * 6, dtype=np.float32).reshape(500, 6)
    window = window_samples(times, samples, 102.0, 107.0)
    assert window is not None and window.shape == (6, 250)
    np.testing.assert_array_equal(window[:, 0], samples[100])
    assert window_samples(times, samples, 200.0, 205.0) is None  # trimmed from the tail
    assert window_samples(np.zeros(0), np.zeros((0, 6)), 0.0, 5.0) is None
