"""The clinician explorer in a real browser: headless Chromium driven by Playwright.

A model is trained on the real PneumoniaMNIST with ``xai-lab train`` (fast mode), the explorer
is started with ``xai-lab explorer``, and a real chest X-ray from the shared data is uploaded,
then a corrupt file, then another X-ray. The browser may only reach the local server: every
other request is aborted. Screenshots go to ``<tmp>/screenshots`` and ``test-output/e2e/``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and ``pip install playwright``;
never ``playwright install`` (it downloads a browser).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.needs_data]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
METHODS = ("gradcam", "shap", "deep_taylor")
TIMEOUT_MS = 90_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)",
                allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)


def _die_with_parent() -> None:  # runs in the child before exec
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the explorer exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.3)
    raise TimeoutError(f"the explorer did not listen on port {port} within {timeout:.0f} s")


def _isolated_env(base: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "TMPDIR",
                 "XAI_LAB_CACHE_DIR", "MPLCONFIGDIR"):
        path = base / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", XAI_LAB_DATA_DIR=str(data_dir),
               XAI_LAB_OFFLINE="1", XAI_LAB_FAST="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory, real_data_dir) -> Path:
    """A models folder holding one model written by ``xai-lab train`` on real PneumoniaMNIST.

    Fast mode (``XAI_LAB_FAST=1``: 600 training images) and one epoch keep it short.
    """
    base = tmp_path_factory.mktemp("e2e-train")
    models = base / "models"
    out = models / "pneumoniamnist-cnn"
    cmd = [sys.executable, "-m", "xai_lab.cli", "train", "--dataset", "pneumoniamnist",
           "--out", str(out), "--epochs", "1"]
    result = subprocess.run(cmd, env=_isolated_env(base / "env", real_data_dir), cwd=base,
                            capture_output=True, text=True, timeout=300,
                            preexec_fn=_die_with_parent)
    assert result.returncode == 0, f"xai-lab train failed:\n{result.stdout}\n{result.stderr}"
    for name in ("model.keras", "metrics.json"):
        assert (out / name).is_file(), f"xai-lab train wrote no {name}: {sorted(os.listdir(out))}"
    return models


@pytest.fixture(scope="module")
def explorer_url(tmp_path_factory, trained_models, real_data_dir):
    """``xai-lab explorer`` running on a free localhost port; stopped (with its kernels) after."""
    base = tmp_path_factory.mktemp("e2e-explorer")
    port = _free_port()
    log = (base / "explorer.log").open("w")
    cmd = [sys.executable, "-m", "xai_lab.cli", "explorer", "--models", str(trained_models),
           "--port", str(port), "--no-browser"]
    proc = subprocess.Popen(cmd, env=_isolated_env(base / "env", real_data_dir), cwd=base,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        _wait_for_port(port, proc)
        # the command prints the URL with this session's token, as Jupyter servers do
        printed = re.search(rf"http://127\.0\.0\.1:{port}/\?token=[0-9a-f]+",
                            (base / "explorer.log").read_text(errors="replace"))
        assert printed, "the explorer did not print its URL with a token"
        yield printed.group(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        text = (base / "explorer.log").read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in text, f"the explorer did not print its URL:\n{text}"


def _xrays(real_data_dir: Path) -> list[Path]:
    files = sorted((real_data_dir / "chest_xray" / "train" / "PNEUMONIA").glob("*.jpeg"))
    if len(files) < 2:
        pytest.skip(f"no chest X-rays in {real_data_dir / 'chest_xray/train/PNEUMONIA'}")
    return files


def _upload(page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("button.xai-upload").click()
    chooser.value.set_files(str(path))


def _assert_results(page) -> None:
    expect(page.locator(".xai-results")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".xai-prediction")).to_contain_text("Prediction:", timeout=TIMEOUT_MS)
    expect(page.locator(".xai-prediction")).to_contain_text("pneumonia")
    expect(page.locator(".xai-error")).to_be_hidden()
    for method in METHODS:
        image = page.locator(f"img.xai-map-{method}")
        expect(image).to_be_visible()
        box = image.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, (method, box)
        natural = image.evaluate("el => [el.complete, el.naturalWidth, el.naturalHeight]")
        assert natural[0] and natural[1] > 0 and natural[2] > 0, (method, natural)


def test_requests_need_the_token_and_a_local_host_name(explorer_url):
    """The same guards as a Jupyter server: a token, and a Host allow-list (DNS rebinding).

    None of these requests gets as far as starting a kernel.
    """
    base = explorer_url.split("?", 1)[0]
    opener = urllib.request.build_opener(_NoRedirect)

    def status(url: str, host: str | None = None) -> int:
        request = urllib.request.Request(url)
        if host:
            request.add_header("Host", host)
        try:
            return opener.open(request, timeout=30).status
        except urllib.error.HTTPError as exc:
            return exc.code

    port = urlparse(base).port
    assert status(base) == 302  # to the login page: no token
    assert status(base + "?token=0123") == 302  # a wrong token
    assert status(explorer_url, host=f"rebinding.example:{port}") == 403
    assert status(base, host=f"rebinding.example:{port}") == 403


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # report the 302 instead of following it
        return None


def test_upload_predict_explain_error_and_recover(explorer_url, real_data_dir, tmp_path):
    xrays = _xrays(real_data_dir)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    corrupt = tmp_path / "corrupt-xray.jpeg"
    corrupt.write_bytes(xrays[0].read_bytes()[:700])  # a truncated JPEG
    page_errors: list[str] = []
    blocked: list[str] = []

    def route(r) -> None:
        host = urlparse(r.request.url).hostname
        if host in ("127.0.0.1", "localhost") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    browser_home = tmp_path / "browser"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            env={**os.environ, "XDG_CONFIG_HOME": str(browser_home / "config"),
                 "XDG_CACHE_HOME": str(browser_home / "cache"), "HOME": str(browser_home)},
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            page.route("**/*", route)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(explorer_url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)

            expect(page.locator(".xai-banner")).to_contain_text(
                "not a medical device", timeout=TIMEOUT_MS)
            expect(page.locator(".xai-model select")).to_contain_text("pneumoniamnist")
            expect(page.locator("button.xai-upload")).to_be_enabled(timeout=TIMEOUT_MS)
            page.screenshot(path=str(shots / "01-start.png"), full_page=True)

            _upload(page, xrays[0])
            _assert_results(page)
            expect(page.locator(".xai-prediction")).to_contain_text(xrays[0].name)
            href = page.locator("a.xai-download-link").get_attribute("href")
            assert href and href.startswith("data:text/html;base64,")
            readout = page.locator(".xai-opacity .widget-readout")
            before = readout.inner_text()
            page.locator(".xai-opacity .noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            expect(readout).not_to_have_text(before)
            page.screenshot(path=str(shots / "02-prediction.png"), full_page=True)

            _upload(page, corrupt)
            expect(page.locator(".xai-error")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator(".xai-error")).to_contain_text("truncated or corrupt")
            expect(page.locator(".xai-error")).to_contain_text(corrupt.name)
            expect(page.locator(".xai-results")).to_be_hidden()
            page.screenshot(path=str(shots / "03-corrupt.png"), full_page=True)

            big = tmp_path / "huge-scan.png"  # over the explorer's 20 MiB upload limit
            big.write_bytes(xrays[0].read_bytes() + os.urandom(21 * 2**20))
            _upload(page, big)
            expect(page.locator(".xai-error")).to_contain_text("huge-scan.png", timeout=TIMEOUT_MS)
            expect(page.locator(".xai-error")).to_contain_text("too large")
            page.screenshot(path=str(shots / "04-too-large.png"), full_page=True)

            _upload(page, xrays[1])
            _assert_results(page)
            expect(page.locator(".xai-prediction")).to_contain_text(xrays[1].name)
            page.screenshot(path=str(shots / "05-recovered.png"), full_page=True)
        finally:
            browser.close()

    keep = REPO / "test-output" / "e2e"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy2(shot, keep / shot.name)
    assert page_errors == [], page_errors
    print("requests blocked (not to the local server):", blocked)
