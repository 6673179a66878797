"""The embedded default, measured in one run: `vizkit demo` from an empty store (wall time,
Recall@1 of the final embedding on the whole 10,000-image test split), the reduced
`vizkit demo --quick` a hosted app builds on its first start, and the app serving the
demo store: its peak RSS (VmHWM of the server) after a real browser visits every page that
needs no model, and after an upload search (which loads the model).

Goals (issue 12): demo < 4 min on 2 cores with Recall@1 >= 0.88; peak RSS < 400 MB
browsing the precomputed pages, < 1 GB with an upload search.
Usage: python bench/bench_demo.py [--skip-quick] [--store FILE (reuse a demo store)]
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import time
from pathlib import Path

from bench_click import ARGS, serve
from bench_hostile import vm_hwm_mb
from timing import scratch

ROOT = Path(__file__).resolve().parents[1]
MODEL_PAGES = {"explorer", "compare"}


def run_demo(folder: Path, quick: bool) -> tuple[Path, float, float]:
    store = folder / "vizkit.duckdb"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(store), "demo",
                          "--quiet", *(["--quick"] if quick else [])],
                         capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - t0
    recall = float(re.search(r"cosine\): ([0-9.]+)", out).group(1))
    return store, seconds, recall


def idle(page) -> None:
    page.wait_for_timeout(250)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=180_000)


def browse(url: str, pid: int) -> tuple[float, float]:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from vizkit.app.pages import PAGES

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name, *_ in PAGES:
            if name not in MODEL_PAGES:
                page.goto(f"{url}/{name}")
                idle(page)
                page.wait_for_timeout(500)
        browsing = vm_hwm_mb(pid)
        page.goto(f"{url}/search")
        idle(page)
        page.get_by_text("Upload an image").click()
        idle(page)
        buf = io.BytesIO()
        Image.new("L", (28, 28), 200).save(buf, "PNG")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            {"name": "q.png", "mimeType": "image/png", "buffer": buf.getvalue()})
        idle(page)
        page.get_by_role("button", name="Search this").first.wait_for(timeout=180_000)
        browser.close()
    return browsing, vm_hwm_mb(pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-quick", action="store_true")
    ap.add_argument("--store", type=Path, help="a demo store to serve (skips the full demo)")
    args = ap.parse_args()
    with scratch() as tmp:
        tmp = Path(tmp)
        if args.store:
            store = args.store
        else:
            (tmp / "full").mkdir()
            store, seconds, recall = run_demo(tmp / "full", quick=False)
            print(f"vizkit demo: {seconds:.0f} s from an empty store; Recall@1 on the whole "
                  f"test split {recall:.4f}")
        if not args.skip_quick:
            (tmp / "quick").mkdir()
            _, seconds, recall = run_demo(tmp / "quick", quick=True)
            print(f"vizkit demo --quick: {seconds:.0f} s; Recall@1 {recall:.4f}")
        proc, url = serve(store, tmp / "streamlit.log")
        try:
            browsing, upload = browse(url, proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)
        print(f"app peak RSS: {browsing:.0f} MB browsing every page that needs no model; "
              f"{upload:.0f} MB after an upload search")


if __name__ == "__main__":
    main()
