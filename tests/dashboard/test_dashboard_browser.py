"""The dashboard in a real browser: `streamlit run` on a free port, driven through Playwright
with Debian's Chromium (never `playwright install`: its download does not work here).

It searches by text and by an uploaded file, runs a composite query with a negative term,
ingests files with a bad one among them, searches inside a stream, and saves a screenshot
of every page under `artifacts/screenshots/` (or `$BINDING_SCREENSHOTS`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.dashboard.helpers import ISOLATE, STREAM, add_stream, tiny_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("BINDING_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
#: Milliseconds to wait for a page to show what a step expects.
WAIT_MS = 90_000
#: What the browser asked for while the tests ran (every page must work with no network).
NETWORK: dict[str, list[str]] = {"requests": [], "failed": [], "bad": []}
#: Local 404s that Streamlit's own client causes on purpose: on a page's address it probes
#: `<page>/_stcore/...` to find the server's base path before trying the root.
PROBES = ("/_stcore/health", "/_stcore/host-config")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def browser_data(
    tmp_path_factory: pytest.TempPathFactory, media_folder: Any, tiny_encoder: Any
) -> Path:
    """Its own data folder (the store folder is locked to one process: the server's)."""
    from binding.api import Engine
    from binding.config import Settings

    root = tmp_path_factory.mktemp("browser")
    settings = Settings(
        model="imagebind_tiny", seed=0, device="cpu", data_dir=root / "data",
        cache_dir=root / "cache", offline=True, _env_file=None,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Engine(settings, encoder=tiny_encoder) as engine:
            engine.ingest([str(media_folder.root)], tags=["demo"])
            add_stream(engine, STREAM, media_folder, start=time.time() - 600)
    return root


@pytest.fixture(scope="module")
def server(browser_data: Path) -> Iterator[str]:
    """The dashboard served by `streamlit run`, headless, on a free loopback port."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    env.update(tiny_env(browser_data / "data", browser_data / "cache"))
    log = open(browser_data / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    from dashboard.launch import command

    # the command `binding dashboard` runs, with its hardened options
    argv = command(host="127.0.0.1", port=port)
    process = subprocess.Popen(
        argv, env=env, cwd=browser_data, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if process.poll() is not None:
                pytest.fail(
                    f"streamlit exited: {(browser_data / 'streamlit.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        else:
            pytest.fail("streamlit did not start listening within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(WAIT_MS)
        tab.on("request", lambda request: NETWORK["requests"].append(request.url))
        tab.on(
            "requestfailed",
            lambda request: NETWORK["failed"].append(f"{request.url}: {request.failure}"),
        )
        tab.on(
            "response",
            lambda reply: (
                NETWORK["bad"].append(f"{reply.status} {reply.url}")
                if reply.status >= 400
                else None
            ),
        )
        yield tab
        browser.close()


def settle(tab: Any, seconds: float = 0.5) -> None:
    """Wait until the app has finished running its script, and charts have drawn."""
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS
    )
    time.sleep(seconds)


def cards(tab: Any, at_least: int = 1) -> int:
    """How many result cards the page shows, once it shows at least `at_least`."""
    tab.wait_for_function(
        f"() => document.querySelectorAll('.bd-title').length >= {at_least}", timeout=WAIT_MS
    )
    settle(tab)
    return int(tab.locator(".bd-title").count())


def shoot(tab: Any, name: str) -> Path:
    """A screenshot of the whole page (Streamlit scrolls inside its main block)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = tab.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll("
        "'[data-testid=stMain], [data-testid=stMainBlockContainer]')).map(e => e.scrollHeight), 800)"
    )
    tab.set_viewport_size({"width": 1400, "height": min(int(height) + 80, 7000)})
    time.sleep(0.5)
    path = SHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    tab.set_viewport_size({"width": 1400, "height": 1000})
    return path


def goto(tab: Any, server: str, page: str = "") -> None:
    tab.goto(f"{server}/{page}")
    tab.wait_for_selector("h1")
    settle(tab)


def png_file(folder: Path, name: str, color: tuple[int, int, int]) -> Path:
    from PIL import Image

    path = folder / name
    Image.new("RGB", (96, 64), color).save(path)
    return path


def test_dashboard_in_a_browser(page: Any, server: str, tmp_path: Path, media_folder: Any) -> None:
    from binding.points import point_id

    tab = page

    # search by text
    goto(tab, server)
    tab.get_by_label("Describe what you are looking for").fill("a red circle")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("text=results for")
    assert cards(tab, 24) == 24
    settle(tab, 2)
    shoot(tab, "search")

    # search by an uploaded file
    picture = png_file(tmp_path, "query.png", (220, 40, 40))
    tab.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(picture))
    settle(tab)
    tab.get_by_role("button", name="Search", exact=True).click()
    tab.wait_for_selector("code:has-text('image:query.png')")
    assert cards(tab, 24) == 24
    settle(tab, 2)
    shoot(tab, "search-file")

    # a composite query with a negative term, typed in the written form
    goto(tab, server, "compose")
    expression = tab.get_by_label(
        "The query as the CLI writes it; edit it and apply to change the terms above."
    )
    expression.fill('text:"a beach" - 0.5*text:"people" @ 6')
    tab.get_by_role("button", name="Apply text").click()
    tab.wait_for_selector("text=6 results")
    assert cards(tab, 6) == 6
    assert tab.locator(".bd-bars").count() == 6
    assert tab.locator(".bd-bar-row").count() == 2 * 6
    # a worked example, for the picture
    tab.get_by_text("Worked examples").click()
    tab.get_by_role("button", name="Load").nth(1).click()
    tab.wait_for_selector("text=results for")
    settle(tab, 2)
    shoot(tab, "compose")

    # ingest: two good files and a bad one
    goto(tab, server, "ingest")
    sound = tmp_path / "tone.wav"
    import soundfile

    t = np.arange(16_000) / 16_000
    soundfile.write(sound, (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), 16_000)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"not a picture" * 10)
    green = png_file(tmp_path, "green.png", (30, 160, 60))
    tab.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        [str(green), str(sound), str(bad)]
    )
    tab.wait_for_selector("text=3 files ready")
    settle(tab)
    tab.get_by_role("button", name="Ingest 3 files").click()
    tab.wait_for_selector("text=Last ingest")
    settle(tab, 2)
    metrics = tab.locator('[data-testid="stMain"] [data-testid="stMetricValue"]').all_inner_texts()
    assert metrics[:3] == ["2", "0", "1"], metrics  # embedded, duplicates, rejected
    shoot(tab, "ingest")

    # a search inside a stream
    goto(tab, server, "streams")
    tab.get_by_label("Describe a moment").fill("someone walking")
    tab.keyboard.press("Enter")
    assert cards(tab, 3) == 3
    settle(tab, 2)
    shoot(tab, "streams")

    # the map, opened on a picture (as a click on it does), and the status page
    beach = next(p for p in media_folder.files["image"] if p.name == "beach.png")
    digest = hashlib.sha256(beach.read_bytes()).hexdigest()
    goto(tab, server, f"map?point={point_id('imagebind_tiny', 'image', digest)}")
    tab.wait_for_selector("text=Nearest neighbours")
    assert cards(tab, 8) == 8
    settle(tab, 2)
    shoot(tab, "map")
    goto(tab, server, "status")
    tab.wait_for_selector("text=Embedded mode")
    settle(tab, 2)
    shoot(tab, "status")

    for name in ("search", "search-file", "compose", "ingest", "streams", "map", "status"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def npy_file(folder: Path, name: str, seed: int) -> Path:
    path = folder / name
    np.save(path, np.random.default_rng(seed).random((32, 32)).astype(np.float32))
    return path


def chosen(select: Any) -> str:
    """What a selectbox shows: its text and the value of its input (where 1.67 puts it)."""
    inputs = select.locator("input")
    values = [inputs.nth(i).input_value() for i in range(inputs.count())]
    return " ".join([select.inner_text(), *values])


def shows(select: Any, check: Any, seconds: float = 30) -> str:
    """What `select` shows once `check(text)` holds (the rerun after an upload takes a
    moment to start); the last text seen when it never does. While the rerun redraws the
    select it shows only its label: that is not an answer yet, whatever `check` says."""
    label = select.locator("label").first.inner_text().strip()
    deadline = time.monotonic() + seconds
    text = chosen(select)
    while (text.strip() == label or not check(text)) and time.monotonic() < deadline:
        time.sleep(0.3)
        text = chosen(select)
    return text


def no_traceback(tab: Any) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.inner_text("body")[:2000]


def test_what_a_new_user_hit(page: Any, server: str, tmp_path: Path) -> None:
    """Issue 13, items 14, 16, 17, 18 and 23, as a person meets them in the browser."""
    tab = page

    # 14: addresses with a bad ?point= (or other junk) show no traceback on any page
    for name in ("", "compose", "map", "ingest", "streams", "status"):
        goto(tab, server, f"{name}?point=not-a-real-id&limit=-1")
        settle(tab, 1)
        no_traceback(tab)
    goto(tab, server, "map?point=not-a-real-id")
    tab.wait_for_selector("text=not a point id")
    no_traceback(tab)
    shoot(tab, "map-bad-address")

    # 17: the modality said for one upload is not carried to the next
    goto(tab, server)
    dropzone = tab.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    dropzone.set_input_files(str(npy_file(tmp_path, "frame.npy", 0)))
    settle(tab)
    chooser = tab.locator('[data-testid="stSelectbox"]').filter(has_text="The file is")
    chooser.click()
    tab.get_by_role("option", name="Thermal").click()
    settle(tab)
    assert "Thermal" in chosen(chooser), chosen(chooser)
    dropzone.set_input_files(str(png_file(tmp_path, "red.png", (220, 40, 40))))
    settle(tab)
    shown = shows(chooser, lambda text: "Thermal" not in text)
    assert "Image" in shown and "Thermal" not in shown, shown
    dropzone.set_input_files(str(npy_file(tmp_path, "other.npy", 1)))
    settle(tab)
    shown = shows(chooser, lambda text: "Image" not in text)
    assert "Thermal" not in shown and "Image" not in shown, shown  # asked again

    # 16: a query file that cannot be read is named as uploaded, not by a temporary path
    broken = tmp_path / "holiday.png"
    broken.write_bytes((tmp_path / "red.png").read_bytes()[:60])
    dropzone.set_input_files(str(broken))
    settle(tab)
    assert "Image" in shows(chooser, lambda text: "Image" in text)  # its bytes say PNG
    settle(tab)
    tab.get_by_role("button", name="Search", exact=True).click()
    try:
        tab.wait_for_selector("text=The search failed", timeout=60_000)
    finally:
        shoot(tab, "search-bad-file")
    alert = tab.locator('[data-testid="stAlert"]').filter(has_text="The search failed")
    message = alert.inner_text()
    assert "holiday.png" in message and "binding-query" not in message, message
    no_traceback(tab)

    # 18: Apply text refuses a file term whose file is not uploaded, and says which
    goto(tab, server, "compose")
    expression = tab.get_by_label(
        "The query as the CLI writes it; edit it and apply to change the terms above."
    )
    expression.fill('text:"sea" + audio:waves.wav')
    tab.get_by_role("button", name="Apply text").click()
    tab.wait_for_selector("text=not uploaded")
    refusal = tab.locator('[data-testid="stAlert"]').filter(has_text="not uploaded").inner_text()
    assert "term 2" in refusal and "waves.wav" in refusal, refusal
    assert tab.locator(".bd-title").count() == 0  # nothing searched without the term
    shoot(tab, "compose-refusal")

    # 23: every request stayed on this machine, and none failed
    outside = [u for u in NETWORK["requests"] if not u.startswith((server, "data:", "blob:"))]
    assert not outside, outside
    # (a player's media request cut short by leaving the page is aborted, not failed)
    failed = [f for f in NETWORK["failed"] if not f.endswith("net::ERR_ABORTED")]
    assert not failed, failed
    unexpected = [b for b in NETWORK["bad"] if not b.endswith(PROBES)]
    assert not unexpected, unexpected
