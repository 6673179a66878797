"""How fast the app answers a click, in a real browser (headless Chromium against
``streamlit run``), measured in one run.

On a store of the 70,000 Fashion-MNIST images (features of the demo's small CNN, random
weights, made in a temporary folder unless --store is given):
1. first page load: navigation to the search grid drawn with its thumbnails (fresh browser
   context each time), p50 over --loads;
2. "Search this": a click on a result to the new query's grid drawn, p50/p95 over --clicks;
3. "Random image": the button to the new grid drawn, p50/p95;
4. the server's peak RSS (VmHWM) after all of it.
Goals (issue 16): click p95 < 300 ms at 70k; first load < 3 s.
Usage: python bench/bench_click.py [--store FILE] [--clicks 20]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import scratch, store_in

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import ARGS, serve  # noqa: E402  (one way to serve the app for a browser)


def build_store(folder: Path) -> Path:
    store = store_in(folder)
    subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(store), "precompute",
                    "--dataset", "fashion-mnist", "--model", "vizkit_small_cnn", "--weights",
                    "random", "--layers", "embedding", "--metrics", "cosine", "--k", "50",
                    "--quiet"], check=True)
    return store


def grid_shows(page, query: str | None = None, timeout: float = 60_000) -> None:
    """Wait until the grid shows ``query``'s results, every thumbnail decoded."""
    root = page.locator(".vk-root")
    if query is None:
        root.wait_for(timeout=timeout)
    else:
        page.locator(f'.vk-root[data-query="{query}"]').wait_for(timeout=timeout)
    page.locator(".vk-cell img").last.wait_for(timeout=timeout)


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store")
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--loads", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with scratch() as tmp:
        store = Path(args.store) if args.store else build_store(Path(tmp))
        server, url = serve(store, Path(tmp) / "streamlit.log")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                loads = []
                for _ in range(args.loads + 1):  # the first warms the server's caches
                    page = browser.new_context(viewport={"width": 1400, "height": 1000}
                                               ).new_page()
                    t = time.perf_counter()
                    page.goto(url + "/search")
                    grid_shows(page)
                    loads.append(time.perf_counter() - t)
                    page.context.close()
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(url + "/search")
                grid_shows(page)
                clicks = []
                cells = page.locator(".vk-cell")
                for i in range(args.clicks + 2):
                    target = cells.nth(2 + i % 5).get_attribute("data-idx")
                    t = time.perf_counter()
                    cells.nth(2 + i % 5).click()
                    grid_shows(page, target)
                    clicks.append(time.perf_counter() - t)
                randoms = []
                for _ in range(args.clicks // 2 + 2):
                    before = page.locator(".vk-root").get_attribute("data-query")
                    t = time.perf_counter()
                    page.get_by_role("button", name="Random image").click()
                    page.locator(f'.vk-root:not([data-query="{before}"])').wait_for()
                    page.locator(".vk-cell img").last.wait_for()
                    randoms.append(time.perf_counter() - t)
                browser.close()
        finally:
            status = Path(f"/proc/{server.pid}/status").read_text()
            hwm = next(ln.split(":")[1].strip() for ln in status.splitlines()
                       if ln.startswith("VmHWM"))
            server.terminate()
            server.wait(10)
    clicks, randoms = clicks[2:], randoms[2:]  # warm-up clicks left out
    print(f"store {store.name}: first page load p50 {statistics.median(loads[1:]):.2f} s "
          f"(cold server {loads[0]:.2f} s)")
    print(f"'Search this' -> new grid: p50 {statistics.median(clicks) * 1000:.0f} ms, "
          f"p95 {p(clicks, 0.95) * 1000:.0f} ms over {len(clicks)} clicks")
    print(f"'Random image' -> new grid: p50 {statistics.median(randoms) * 1000:.0f} ms, "
          f"p95 {p(randoms, 0.95) * 1000:.0f} ms over {len(randoms)} clicks")
    print(f"server peak RSS: {hwm}")


if __name__ == "__main__":
    main()
