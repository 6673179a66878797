"""Each page in a real browser (headless Chromium against `streamlit run`) on a store, as
issue 22 measures them: the first draw in a new session and a warm redraw (a reload), p50
and p95 over --rounds, and the page's height in pixels; and the "images" drawing of the
projection page. Run it on the demo store, once per checkout to compare (--root).

    python bench/bench_pages.py --store data/vizkit.duckdb [--root OTHER_CHECKOUT]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "scripts"))

from screenshots import ARGS, CHROMIUM, settle  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(HERE / "data" / "vizkit.duckdb"))
    p.add_argument("--root", default=str(HERE), help="the checkout whose app is served")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("pages", nargs="*")
    args = p.parse_args()
    import screenshots
    from playwright.sync_api import sync_playwright

    screenshots.ROOT = Path(args.root)
    sys.path.insert(0, args.root)
    from vizkit.registry import get_registry

    names = args.pages or [v.name for v in get_registry().visualizers()]
    proc, url = screenshots.serve(Path(args.store), Path("/tmp/bench-pages.log"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            tallest = 0
            for name in names:
                first, warm, height = [], [], 0
                for _ in range(args.rounds):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    t = time.perf_counter()
                    page.goto(f"{url}/{'' if name == 'home' else name}")
                    settle(page)
                    first.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    page.reload()
                    settle(page)
                    warm.append(time.perf_counter() - t)
                    height = page.evaluate(
                        "document.querySelector('[data-testid=stMain]').scrollHeight")
                    context.close()
                tallest = max(tallest, height)
                print(f"{name:>12}: first {statistics.median(first):5.2f} s "
                      f"(p95 {p95(first):5.2f}), warm {statistics.median(warm):5.2f} s "
                      f"(p95 {p95(warm):5.2f}), {height:,} px", flush=True)
            print(f"tallest page: {tallest:,} px")
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/projection")
            settle(page)
            t = time.perf_counter()
            page.locator(".st-key-proj_draw").get_by_text("images", exact=True).click()
            settle(page, timeout_ms=600_000)
            page.wait_for_selector(".st-key-proj_chart .layer-above image", timeout=600_000)
            print(f"projection 'images' drawing: {time.perf_counter() - t:.2f} s")
            browser.close()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
