"""Draw every page of the app in headless Chromium into docs/screens/ (one PNG per page, the
whole page height), against a store: the screens of the README and a way to look at what a
change did. Needs Debian's chromium (scripts/test.sh installs it) and playwright.

    python scripts/screenshots.py [--store data/vizkit.duckdb] [--out docs/screens] [PAGE ...]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
# each page's main interaction, drawn as a screen of its own: (shot, page, widget key, text)
INTERACTIONS = [
    ("projection-points", "projection", "proj_draw", "points"),
    ("evolution-atlas", "evolution", "evo_draw", "atlas"),
    ("compare-disagree", "compare", "cmp_disagree", "Where A and B disagree"),
    ("similarity-channels", "similarity", "simmap_stored_channels", "Why similar, by channel"),
]
IDLE = ('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
        '[data-test-script-state="notRunning"]')


def serve(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, VIZKIT_STORE=str(store)), stdin=subprocess.DEVNULL,
        stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not start:\n" + log.read_text())


def settle(page, timeout_ms: int = 180_000) -> None:
    """Wait until the app's script has finished and nothing is loading."""
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_function("document.querySelectorAll('[data-testid=stStatusWidget],"
                           "[data-testid=stSkeleton]').length === 0", timeout=timeout_ms)


def atlas_drawn(page, timeout_ms: int = 120_000) -> None:
    """Where the page shows an atlas, wait for its points and its first tiles."""
    if not page.locator(".vk-atlas").count():
        return
    page.wait_for_selector('[data-vk-atlas-ready="1"]', timeout=timeout_ms)
    page.wait_for_function("e => Number(e.dataset.vkAtlasLevelTiles) > 0",
                           arg=page.locator(".vk-atlas").element_handle(), timeout=timeout_ms)
    page.wait_for_timeout(1000)


def shoot(page, path: Path, width: int = 1400) -> int:
    """A PNG of the whole page (Streamlit scrolls inside stMain); returns its height."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": width, "height": max(600, min(int(height), 12_000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1000})
    from PIL import Image  # 256 colours: a screen of a page reads the same at a third the size

    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return int(height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(ROOT / "data" / "vizkit.duckdb"))
    p.add_argument("--out", default=str(ROOT / "docs" / "screens"))
    p.add_argument("pages", nargs="*", help="url paths (default: every page)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from vizkit.registry import get_registry

    names = args.pages or [v.name for v in get_registry().visualizers()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    proc, url = serve(Path(args.store), out / "streamlit.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for i, name in enumerate(names):
                t = time.perf_counter()
                page.goto(f"{url}/{'' if i == 0 and name == 'home' else name}")
                settle(page)
                atlas_drawn(page)
                height = shoot(page, out / f"{name}.png")
                print(f"{name}: {time.perf_counter() - t:.1f} s, {height} px")
                for shot, where, key, text in INTERACTIONS:
                    if where != name:
                        continue
                    t = time.perf_counter()
                    page.locator(f".st-key-{key}").get_by_text(text, exact=False).first.click()
                    settle(page)
                    atlas_drawn(page)
                    height = shoot(page, out / f"{shot}.png")
                    print(f"{shot}: {time.perf_counter() - t:.1f} s, {height} px")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    (out / "streamlit.log").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
