"""The app in a real headless Chromium against `streamlit run` (no outbound requests)."""
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(digits_store, tmp_path):
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w")
    env = dict(os.environ, VIZKIT_STORE=str(digits_store))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _settle(page):
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
                           '[data-test-script-state="notRunning"]', timeout=60_000)
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_search_click_and_upload_in_a_real_browser(app_url, tmp_path):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import expect, sync_playwright

    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def route(r):
            if r.request.url.startswith(app_url) or r.request.url.startswith(
                    app_url.replace("http", "ws")):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(app_url + "/search")
        _settle(page)
        expect(page.get_by_text("Semantic search").first).to_be_visible()
        buttons = page.get_by_role("button", name="Search this")
        expect(buttons).to_have_count(50, timeout=60_000)
        images = page.locator('[data-testid="stImage"] img')
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stImage] img')]"
            ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
        assert images.count() >= 51
        before = page.get_by_label("Image number").input_value()
        buttons.nth(2).click()
        _settle(page)
        after = page.get_by_label("Image number").input_value()
        assert after != before
        expect(page.get_by_role("button", name="Search this")).to_have_count(50)
        if os.environ.get("VIZKIT_SCREENSHOT"):
            page.screenshot(path=os.environ["VIZKIT_SCREENSHOT"])
        page.get_by_text("Upload an image").click()
        _settle(page)
        upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        upload.set_input_files({"name": "notes.png", "mimeType": "image/png",
                                "buffer": b"this is not an image"})
        _settle(page)
        expect(page.get_by_text("not a readable image")).to_be_visible()
        buf = io.BytesIO()
        Image.new("L", (8, 8), 180).save(buf, format="PNG")
        upload.set_input_files({"name": "digit.png", "mimeType": "image/png",
                                "buffer": buf.getvalue()})
        _settle(page)
        expect(page.get_by_role("button", name="Search this")).to_have_count(50)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.goto(app_url + "/")
        _settle(page)
        expect(page.get_by_text("Plugins")).to_be_visible()
        browser.close()
    assert blocked == []
