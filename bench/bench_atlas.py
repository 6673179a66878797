"""The image atlas at scale: ``vizkit atlas`` on ``synthetic:N`` (its layout, tiles and the
store's added bytes; the tile cost per image ÷ the bare cost of decoding and resizing the
same thumbnails), the layout choice past ``--fit`` (fit a sample and place the rest, against
fitting all, on the same features), and with ``--browser`` the view in headless Chromium
against ``streamlit run``: first frame, frame times while panning (requestAnimationFrame
deltas), a lasso, and the server's memory.

Usage: python bench/bench_atlas.py [--images 1000000] [--fit 100000] [--browser] [--folder F]
Everything is written under a scratch folder; figures are ratios measured in this run.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import scratch

ROOT = Path(__file__).resolve().parents[1]


def build(store_path: Path, n: int, fit: int) -> dict:
    """The atlas job's phases on synthetic:n, each timed."""
    from vizkit.jobs import atlas as job
    from vizkit.jobs.ingest import ensure_dataset
    from vizkit.jobs.layouts import project_model, stored_features
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    store = Store(store_path)
    ds = get_registry().open_dataset(f"synthetic:{n}")
    model = load_model("vizkit_small_cnn", "random", input_size=32)
    out = {}
    t = time.perf_counter()
    ensure_dataset(store, ds, progress=False)
    stored_features(store, ds, model, "embedding", progress=False)
    out["features and thumbnails"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = project_model(store, ds, model, "embedding", "umap", fit=fit, progress=False)
    out["layout, clusters, predictions"] = time.perf_counter() - t
    before = _bytes(store_path.parent)
    t = time.perf_counter()
    clusters = store.per_image("clusters", rows["clusters"]["result_key"])["cluster"]
    row = job.build_atlas(store, rows["projection"], rows["coords"], ds.labels,
                          clusters.to_numpy(), progress=True)
    out["atlas (pyramid, tiles, points)"] = time.perf_counter() - t
    out["added bytes"] = _bytes(store_path.parent) - before
    out["row"] = row
    out["levels"] = __import__("json").loads(row["params"])["levels"]
    # the bare cost: decode and resize every image's stored thumbnail once
    from vizkit.jobs.atlas_tiles import small_thumbnail

    key = rows["projection"]["dataset_key"]
    t = time.perf_counter()
    for lo in range(0, n, 20_000):
        for png in store.thumbnails(key, list(range(lo, min(n, lo + 20_000)))).values():
            small_thumbnail(png, job.CELL_PX - 2)
    out["bare decode+resize"] = time.perf_counter() - t
    return out


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def layout_choice(fit: int = 20_000) -> None:
    """Fitting a sample and placing the rest against fitting all, on the demo's 70,000
    embeddings when a demo store is there (else random clustered ones): time, and how many
    of each point's 10 nearest neighbours (features, cosine) stay among its 10 nearest on
    the map (5,000 points asked)."""
    from bench_layouts import demo_features
    from sklearn.neighbors import NearestNeighbors

    from vizkit.compute.projection import project, project_sampled

    x = demo_features()
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    asked = np.random.default_rng(0).choice(len(x), 5000, replace=False)
    near = NearestNeighbors(n_neighbors=11).fit(x).kneighbors(x[asked],
                                                              return_distance=False)[:, 1:]
    project(x[:2000], "umap", 0)  # compiled before timing

    def kept(coords):
        m = NearestNeighbors(n_neighbors=11).fit(coords).kneighbors(
            coords[asked], return_distance=False)[:, 1:]
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near, m)])

    for name, fn in (("fit all", lambda: project(x, "umap", 0)),
                     (f"fit {fit:,}, place the rest", lambda: project_sampled(x, "umap", 0,
                                                                              fit))):
        t = time.perf_counter()
        coords = fn()
        print(f"  {name}: {time.perf_counter() - t:.1f} s, 10-NN kept {kept(coords):.3f}")


MARKS = (("first frame", "ready"), ("first images", "tiles"), ("all points", "complete"))
VIEWPORT = {"width": 1400, "height": 1000}


def _visit(page, url: str) -> list[float]:
    """Open the projection page's atlas; the seconds from navigation to each of MARKS."""
    page.goto(f"{url}/projection?draw=atlas")
    for _, mark in MARKS:
        page.wait_for_selector(f"[data-vk-atlas-{mark}-ms]", state="attached", timeout=600_000)
    seen = [float(page.locator(".vk-atlas").get_attribute(f"data-vk-atlas-{m}-ms")) / 1000
            for _, m in MARKS]
    page.close()
    time.sleep(6)  # the closed page's renderer stops drawing
    return seen


def _first_frames(b, url: str, later: int = 5) -> None:
    """The page's clock, from navigation, until the atlas's first frame (a sample of the
    points where there are many), its first images and all its points: on the first visit
    to a fresh server, on ``later`` visits after it by new visitors (each a new browser
    context: nothing cached), and on ``later`` visits of a returning visitor (one context:
    Streamlit's scripts, which it serves as immutable, come from the browser's cache)."""
    first = np.array(_visit(b.new_page(viewport=VIEWPORT), url))
    new = np.array([_visit(b.new_page(viewport=VIEWPORT), url) for _ in range(later)])
    context = b.new_context(viewport=VIEWPORT)
    _visit(context.new_page(), url)  # fills the cache
    returning = np.array([_visit(context.new_page(), url) for _ in range(later)])
    context.close()
    for k, (name, _) in enumerate(MARKS):
        print(f"  {name}: first visit {first[k]:.2f} s; new visitors median "
              f"{np.median(new[:, k]):.2f} s [{new[:, k].min():.2f}-{new[:, k].max():.2f}]; "
              f"a returning visitor median {np.median(returning[:, k]):.2f} s "
              f"[{returning[:, k].min():.2f}-{returning[:, k].max():.2f}] (the page's clock "
              "from navigation)")


def browser(store_path: Path, log: Path) -> None:
    """First frame, pan frame times, a lasso and the server's memory, in headless Chromium."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from playwright.sync_api import sync_playwright
    from screenshots import serve, settle

    proc, url = serve(store_path, log)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            _first_frames(b, url)
            page = b.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/projection?draw=atlas")
            page.wait_for_selector('[data-vk-atlas-complete="1"]', timeout=600_000)
            settle(page)
            box = page.locator(".vk-atlas-stage").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.evaluate("""() => { window.vkFrames = []; let last = performance.now();
                const tick = (now) => { window.vkFrames.push(now - last); last = now;
                  if (window.vkFrames.length < 100000) requestAnimationFrame(tick); };
                requestAnimationFrame(tick); }""")
            page.mouse.move(cx, cy)
            page.mouse.down()
            for k in range(60):
                page.mouse.move(cx + 3 * k, cy + k)
            page.mouse.up()
            for _ in range(6):
                page.mouse.wheel(0, -200)
                page.wait_for_timeout(50)
            frames = np.array(page.evaluate("() => window.vkFrames.slice(1)"))
            print(f"  pan/zoom frames: {len(frames)}, p50 {np.median(frames):.0f} ms, "
                  f"p95 {np.percentile(frames, 95):.0f} ms (this machine's software GL)")
            page.locator(".vk-atlas-reset").click()
            settle(page)  # the tiles of the reset view loaded: the lasso alone is timed
            page.locator(".vk-atlas-lasso").click()
            page.mouse.move(cx - 150, cy - 120)
            page.mouse.down()
            for x, y in ((cx + 150, cy - 120), (cx + 150, cy + 120), (cx - 150, cy + 120),
                         (cx - 150, cy - 120)):
                page.mouse.move(x, y, steps=10)
            t = time.perf_counter()
            page.mouse.up()
            page.wait_for_selector("[data-vk-atlas-lassoed]", timeout=120_000)
            state = page.locator(".vk-atlas").evaluate("e => ({...e.dataset})")
            print(f"  lasso: {int(state['vkAtlasLassoed']):,} points selected "
                  f"{float(state['vkAtlasLassoMs']):.0f} ms after the pointer went up (the "
                  "page's clock)")
            page.get_by_role("heading", name=re.compile(r"selected$")).first.wait_for(
                timeout=120_000)
            print(f"  its images listed below the map {time.perf_counter() - t:.2f} s after "
                  "the pointer went up")
            b.close()
        rss = int([line for line in open(f"/proc/{proc.pid}/status")
                   if line.startswith("VmRSS")][0].split()[1]) // 1024
        print(f"  server RSS while serving the atlas: {rss} MB")
    finally:
        proc.terminate()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--fit", type=int, default=100_000)
    p.add_argument("--browser", action="store_true")
    p.add_argument("--skip-layout-choice", action="store_true")
    p.add_argument("--folder", type=Path, help="keep the store in this folder (a second run "
                   "with the same folder measures the browser again without rebuilding)")
    args = p.parse_args()
    if args.folder:
        args.folder.mkdir(parents=True, exist_ok=True)
        run(args, args.folder)
        return
    with scratch("vizkit-atlas-") as tmp:
        run(args, Path(tmp))


def run(args, folder: Path) -> None:
    store_path = folder / "vizkit.duckdb"
    print(f"synthetic:{args.images:,} (store in {folder}), {os.cpu_count()} cores")
    built = folder / "built"
    if built.exists():
        print("  the store in this folder is already built:", built.read_text().strip())
    else:
        _report(args, build(store_path, args.images, args.fit))
        built.write_text(f"synthetic:{args.images} fit {args.fit}\n")
    if not args.skip_layout_choice:
        print(f"layout past --fit, {len(__import__('bench_layouts').demo_features()):,} "
              "embeddings:")
        layout_choice()
    if args.browser:
        print("browser:")
        browser(store_path, folder / "streamlit.log")
    subprocess.run(["du", "-sh", str(folder)])


def _report(args, out: dict) -> None:
    for name in ("features and thumbnails", "layout, clusters, predictions",
                 "atlas (pyramid, tiles, points)", "bare decode+resize"):
        print(f"  {name}: {out[name]:.1f} s")
    print(f"  levels: {out['levels']}; the store grew by {out['added bytes'] / 2**20:.0f} MB "
          f"({out['added bytes'] / args.images:.0f} bytes per image)")
    print(f"  atlas per image ÷ bare decode+resize per image: "
          f"{out['atlas (pyramid, tiles, points)'] / out['bare decode+resize']:.2f}")


if __name__ == "__main__":
    main()
