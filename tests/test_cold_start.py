"""A deployment's first start, as on Streamlit Community Cloud: a copy of the repository's
tracked files with no data/, `streamlit run streamlit_app.py`, no store. The app says what
it is doing, builds the reduced demo in the background, and a real browser (which may talk
only to the app) waits for it and then visits every page without an exception. A bundle
URL, when set, is fetched instead; a URL that is not a bundle falls back to the demo."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vizkit.app.pages import PAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.slow


def _clean_clone(target: Path) -> Path:
    """The repository's tracked files (what a deployment checks out): no store."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        if os.environ.get("CI"):  # CI runs on a checkout: this must not pass silently there
            pytest.fail("the cold-start test needs the git checkout (git ls-files)")
        pytest.skip("needs the git checkout (an unpacked source archive has no file list)")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    assert not list((target / "data").glob("*.duckdb"))  # data/ holds only its README
    return target


def _serve(clone: Path, env_extra: dict, log: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIZKIT_")}
    env.update(env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=clone, env=env, stdin=subprocess.DEVNULL, stdout=open(log, "w"),
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("streamlit did not start:\n" + log.read_text())
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)


IDLE = ('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
        '[data-test-script-state="notRunning"]')


def _idle(page) -> None:
    """Wait for the page's script run to end. Called once the page's heading is drawn: the
    script drew it, so the run has started (no fixed wait for it to begin)."""
    from playwright.sync_api import expect

    page.wait_for_selector(IDLE, timeout=180_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _browse(url: str, first_text: str | None, wait_s: float) -> list[str]:
    """Open the app, see ``first_text`` (what it says it is doing), wait until the banner
    is gone, then visit every page; return the requests made outside the app."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed (scripts/test.sh installs it; CI fails here)")
    from playwright.sync_api import expect, sync_playwright

    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def route(r):
            if r.request.url.startswith((url, url.replace("http", "ws"))):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()
        page.route("**/*", route)
        page.goto(url + "/")
        if first_text:
            expect(page.get_by_text(first_text).first).to_be_visible(timeout=60_000)
        banner = page.locator('[data-testid="stProgress"]')
        expect(banner).to_have_count(0, timeout=wait_s * 1000)
        expect(page.get_by_text("Building the store failed")).to_have_count(0)
        for visualizer in PAGES:
            page.goto(f"{url}/{visualizer.name}")
            heading = "vizkit" if visualizer.name == "home" else visualizer.title
            expect(page.get_by_role("heading", name=heading).first).to_be_visible(
                timeout=120_000)
            _idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, visualizer.name
        browser.close()
    return blocked


def test_a_clean_clone_builds_the_demo_on_its_first_start(tmp_path):
    from conftest import require_fashion_mnist

    require_fashion_mnist()
    clone = _clean_clone(tmp_path / "clone")
    proc, url = _serve(clone, {"VIZKIT_BUNDLE_CACHE": str(tmp_path / "cache")},
                       tmp_path / "streamlit.log")
    try:
        blocked = _browse(url, "First start: building the demo", wait_s=1200)
    finally:
        proc.terminate()
        proc.wait(20)
    assert blocked == []
    assert (clone / "data" / "vizkit.duckdb").is_file()
    status = (clone / "data" / ".jobs" / "cold-start-demo.json").read_text()
    assert '"state": "done"' in status, status
    from conftest import BUILT_BY_TESTS

    BUILT_BY_TESTS["fashion70k"] = clone / "data" / "vizkit.duckdb"  # test_browser's 70k store


def test_a_bundle_url_is_fetched_on_the_first_start(tmp_path, digits_store):
    clone = _clean_clone(tmp_path / "clone")
    bundle = tmp_path / "shipped.vizkit"
    subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(digits_store),
                    "bundle", "--out", str(bundle), "--no-checkpoints", "--quiet"], check=True)
    proc, url = _serve(clone, {"VIZKIT_BUNDLE_URL": bundle.as_uri(),
                               "VIZKIT_BUNDLE_CACHE": str(tmp_path / "cache")},
                       tmp_path / "streamlit.log")
    try:
        blocked = _browse(url, None, wait_s=300)  # a local file: fetched at once
    finally:
        proc.terminate()
        proc.wait(20)
    assert blocked == []
    assert (clone / "data" / "fetched.vizkit").is_file()
    assert not (clone / "data" / "vizkit.duckdb").exists()  # served from the bundle
