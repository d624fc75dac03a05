"""The demo report in a real browser: headless Chromium driven by Playwright.

``xai-lab demo`` runs in fast mode (600 training images, one epoch, two explained images) with
whatever data it finds (the shared real data through ``XAI_LAB_DATA_DIR``, else the built-in
phantoms: no network is needed), then the written ``report.html`` is opened from disk. The
browser may load nothing but the file itself and ``data:`` URIs: every other request is
aborted and recorded, and the test fails if there was any. It checks that the page raises no
error, that every map (main rows and the collapsed full grid) has a colour bar and a loaded
image, that the plotly figures render, and that the image rows do not wrap. Screenshots (the
first screen at 1366 x 768, and the full page with the grid opened) go to
``<tmp>/screenshots`` and ``test-output/e2e/``.

Needs Debian's ``chromium`` and ``pip install playwright``; never ``playwright install``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 60_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)",
                allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """``xai-lab demo`` in fast mode, offline: the path of the report it wrote."""
    base = tmp_path_factory.mktemp("e2e-report")
    out = base / "out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", XAI_LAB_FAST="1",
               XAI_LAB_OFFLINE="1", XAI_LAB_CACHE_DIR=str(base / "cache"), PYTHONUNBUFFERED="1",
               MPLCONFIGDIR=str(base / "mpl"))
    cmd = [sys.executable, "-m", "xai_lab.cli", "demo", "--out", str(out), "--images", "2",
           "--epochs", "1"]
    result = subprocess.run(cmd, env=env, cwd=base, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"xai-lab demo failed:\n{result.stdout}\n{result.stderr}"
    path = out / "report.html"
    assert path.is_file(), f"no report in {sorted(os.listdir(out))}"
    return path


def test_the_html_is_self_contained(report):
    """No element of the page's own markup points outside the file (plotly.js, inlined in a
    <script>, carries links of its own, e.g. its logo's; the browser test checks requests)."""
    import re

    text = re.sub(r"<script\b[^>]*>.*?</script>", "", report.read_text(encoding="utf-8"), flags=re.S)
    assert "<img" in text and "xai-colorbar" in text
    for attribute in ("src=", "href="):
        for quote in ('"', "'"):
            for scheme in ("http:", "https:", "//"):
                assert f"{attribute}{quote}{scheme}" not in text, f"{attribute}{quote}{scheme} in the report"


def test_report_in_a_browser(report, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page_errors: list[str] = []
    blocked: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    home = tmp_path / "browser"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            env={**os.environ, "XDG_CONFIG_HOME": str(home / "config"),
                 "XDG_CACHE_HOME": str(home / "cache"), "HOME": str(home)},
        )
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.route("**/*", route)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(report.as_uri(), wait_until="load")
            expect(page.locator(".banner")).to_contain_text("Not a medical device")
            expect(page.locator("table").first).to_contain_text("Sensitivity")
            expect(page.locator("table").first).to_contain_text("Specificity")
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.screenshot(path=str(shots / "report-1366x768.png"))

            plots = page.locator(".js-plotly-plot")
            assert plots.count() >= 2
            for i in range(plots.count()):
                box = plots.nth(i).bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 200, box

            page.locator("details > summary").first.click()
            maps = page.locator("figure.xai-map")
            n_maps = maps.count()
            assert n_maps >= 2 * 4, f"only {n_maps} maps"  # two images x the main methods at least
            for i in range(n_maps):
                tile = maps.nth(i)
                assert tile.locator("svg.xai-colorbar").count() == 1, f"map {i} has no colour bar"
                image = tile.locator("img.xai-map-image")
                natural = image.evaluate("el => [el.complete, el.naturalWidth, el.naturalHeight]")
                assert natural[0] and natural[1] > 0 and natural[2] > 0, (i, natural)
                bar = tile.locator("svg.xai-colorbar").bounding_box()
                assert bar is not None and bar["width"] > 50 and bar["height"] > 10, (i, bar)
                if "xai-blank-map" in (tile.get_attribute("class") or ""):
                    assert tile.locator(".xai-blank").inner_text().strip(), f"blank map {i} says nothing"

            rows = page.locator(".xai-row")
            for i in range(rows.count()):
                tops = rows.nth(i).evaluate(
                    "el => Array.from(el.children).map(c => Math.round(c.getBoundingClientRect().top))")
                assert len(set(tops)) == 1, f"row {i} wraps: tops {tops}"
            page.screenshot(path=str(shots / "report-full.png"), full_page=True)
        finally:
            browser.close()

    keep = REPO / "test-output" / "e2e"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy2(shot, keep / shot.name)
    assert page_errors == [], page_errors
    assert blocked == [], f"the report tried to load: {blocked}"
